// Package store is nb's store on disk: a root directory (default /var/lib/nebulon) holding
// images/, containers/ and volumes/, and one metadata.json per container. Every file is written
// to a temp file, synced and renamed, so a crash leaves the old version or the new one, never
// half of one.
//
// # Locks
//
// There are three kinds of flock, always taken in this order, so no two nb commands deadlock:
//
//  1. ROOT/.lock, the store lock (Store.Lock), always exclusive. Whoever makes, changes or
//     removes a container's directory or metadata holds it for the whole change: nb create
//     from its first mkdir to its metadata.json (overlay mount included), nb rm from the
//     runtime's delete to the last file removed, every status update, every listing that
//     reconciles (nb ps), and nb image rm around its in-use check and the removal, so that no
//     container can be made from an image while it is being removed.
//  2. ROOT/images/.lock, the image store lock (internal/image): shared for readers (Get,
//     List), exclusive for the renames that add, tag or remove an image. It is taken while the
//     store lock is held (create, image rm) or alone (import, load, ls, inspect), never the
//     other way round: no code holding the image store lock asks for the store lock.
//  3. Per-object locks, never waited for while 1 or 2 is wanted by their holder: a
//     container's recorder.lock (HoldRecorder, held by whoever waits for its process) and
//     the runtime's own state directory locks (libnebulon).
//
// # Crashes
//
// Because a container's directory is only made or removed under the store lock, a directory
// under containers/ without metadata.json, seen by a holder of the store lock, is the leftover
// of an nb killed mid-create or mid-rm (HalfMade lists them). nb removes them, unmounting their
// overlay and deleting any runtime container of that id first, the next time it lists or
// creates containers. nb rm removes metadata.json first, so a container never shows half
// removed. Image imports leave at most a work dir under images/tmp, which the image store
// prunes (see internal/image).
package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
)

// DefaultRoot is where nb keeps its store unless --root or NEBULON_ROOT say otherwise.
const DefaultRoot = "/var/lib/nebulon"

// Dirs are the store's subdirectories.
var Dirs = []string{"images", "containers", "volumes"}

// ErrNotInitialised means the root has no store; the error says how to make one.
var ErrNotInitialised = errors.New("no nb store")

// Store is an initialised store.
type Store struct {
	Root string
}

// Init creates the store at root, or checks the one there: running it again changes nothing.
func Init(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range Dirs {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("init store %s: %w", abs, err)
		}
	}
	return &Store{Root: abs}, nil
}

// Open opens the store at root, which `nb init` must have made.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, d := range Dirs {
		if fi, err := os.Stat(filepath.Join(abs, d)); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w at %s: run `nb init` (or `nb --root %s init`) first", ErrNotInitialised, abs, abs)
		}
	}
	return &Store{Root: abs}, nil
}

// Lock takes the store's writer lock (flock on ROOT/.lock) until the returned func is called.
func (s *Store) Lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.Root, ".lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock store: %w", os.NewSyscallError("flock", err))
	}
	return func() { f.Close() }, nil
}

// Container statuses, as `nb ps` shows them.
const (
	Created = "created"
	Running = "running"
	Paused  = "paused"
	Exited  = "exited"
)

// Container is a container's metadata.json.
type Container struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Image    string    `json:"image"`    // the image reference given, or the --rootfs path
	ImageID  string    `json:"image_id"` // empty for --rootfs
	Command  []string  `json:"command"`
	Created  time.Time `json:"created"`
	Status   string    `json:"status"`
	Pid      int       `json:"pid,omitempty"`
	ExitCode int       `json:"exit_code"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	// Volumes are the named volumes it mounts: `nb volume rm` refuses them while it exists.
	Volumes []string `json:"volumes,omitempty"`
	// Network is the network it is attached to when it runs (bridge, or one made with nb
	// network create): `nb network rm` refuses it while the container exists.
	Network string `json:"network,omitempty"`
	// IPAddress is its address on Network while it is attached.
	IPAddress string `json:"ip_address,omitempty"`
	// RestartCount is how many times its restart policy restarted it since nb run.
	RestartCount int `json:"restart_count"`
	// ManuallyStopped is set by nb stop: the restart policy does not restart it.
	ManuallyStopped bool `json:"manually_stopped,omitempty"`
	// Config is what the container was created with (flags, resolved), for inspect.
	Config json.RawMessage `json:"config,omitempty"`
}

// VolumeUsers lists the containers that mount volume name.
func (s *Store) VolumeUsers(name string) ([]string, error) {
	all, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, c := range all {
		for _, v := range c.Volumes {
			if v == name {
				ids = append(ids, c.ID)
				break
			}
		}
	}
	return ids, nil
}

// NewID returns a fresh container id: "nb-" and 8 hex digits.
func NewID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return "nb-" + hex.EncodeToString(b)
}

// ContainerDir is the container's directory: metadata.json, its bundle, its logs.
func (s *Store) ContainerDir(id string) string { return filepath.Join(s.Root, "containers", id) }

// SaveContainer writes c's metadata.json crash-safely; the caller holds the lock.
func (s *Store) SaveContainer(c *Container) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(s.ContainerDir(c.ID), "metadata.json"), data)
}

// LoadContainer reads one container's metadata.
func (s *Store) LoadContainer(id string) (*Container, error) {
	data, err := os.ReadFile(filepath.Join(s.ContainerDir(id), "metadata.json"))
	if err != nil {
		return nil, err
	}
	c := &Container{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("container %s: metadata.json: %w", id, err)
	}
	return c, nil
}

// HalfMade lists the container directories without metadata.json: the leftovers of an nb
// killed while it created or removed a container. The caller holds the store lock, so none is
// being made or removed right now.
func (s *Store) HalfMade() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Root, "containers"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		_, err := os.Lstat(filepath.Join(s.ContainerDir(e.Name()), "metadata.json"))
		if errors.Is(err, os.ErrNotExist) {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// RemoveMetadata removes container id's metadata.json, durably: from then on the container is
// gone for every command, and its directory is a HalfMade leftover until removed. The caller
// holds the store lock.
func (s *Store) RemoveMetadata(id string) error {
	err := os.Remove(filepath.Join(s.ContainerDir(id), "metadata.json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return atomicfile.SyncDir(s.ContainerDir(id))
}

// Containers lists every container, oldest first.
func (s *Store) Containers() ([]*Container, error) {
	entries, err := os.ReadDir(filepath.Join(s.Root, "containers"))
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, e := range entries {
		c, err := s.LoadContainer(e.Name())
		if errors.Is(err, os.ErrNotExist) {
			continue // being created or removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// FindContainer resolves a container by id, name or unique id prefix.
func (s *Store) FindContainer(ref string) (*Container, error) {
	all, err := s.Containers()
	if err != nil {
		return nil, err
	}
	var byPrefix []*Container
	for _, c := range all {
		if c.ID == ref || c.Name == ref {
			return c, nil
		}
		if ref != "" && strings.HasPrefix(c.ID, ref) {
			byPrefix = append(byPrefix, c)
		}
	}
	switch len(byPrefix) {
	case 1:
		return byPrefix[0], nil
	case 0:
		return nil, fmt.Errorf("no such container: %s", ref)
	}
	return nil, fmt.Errorf("container %q is ambiguous: it prefixes %d ids", ref, len(byPrefix))
}

func writeFileAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, 0o600, true)
}

// HoldRecorder marks the caller as the one that waits for container id's process and records
// its exit (an attached nb run, or the monitor of a detached one): an flock on the container's
// recorder.lock, held until release or the caller's death, which the kernel never forgets. A
// second recorder of the same container is refused.
func (s *Store) HoldRecorder(id string) (release func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.ContainerDir(id), "recorder.lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("container %s is being run by another nb", id)
		}
		return nil, os.NewSyscallError("flock", err)
	}
	return func() { f.Close() }, nil
}

// RecorderAlive reports whether someone holds container id's recorder lock: then its exit will
// be recorded, and a process found gone is not yet a reason to call it lost.
func (s *Store) RecorderAlive(id string) bool {
	f, err := os.Open(filepath.Join(s.ContainerDir(id), "recorder.lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK)
}

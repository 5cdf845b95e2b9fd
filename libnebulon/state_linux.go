package libnebulon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/atomicfile"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/systemd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/resctrl"
)

// Files in a container's state directory, --root/<id>/; beside them the two fifos through which
// start and the init hand over (syncmsg.ExecFifo: see syncmsg's start.go).
const (
	stateFile = "state.json"
	specFile  = "config.json" // the spec as created; read only by commands that need it
	// seccompFile is linux.seccomp compiled at create, for exec: with the architectures
	// engines list, libseccomp takes about 12 ms to compile a profile, which exec probes
	// would pay every time.
	seccompFile = "seccomp.json"
)

// ErrNotExist means there is no container with that id.
var ErrNotExist = errors.New("container does not exist")

// ErrExist means a container with that id exists already.
var ErrExist = errors.New("container with given ID already exists")

// State is what the runtime keeps on disk about a container.
type State struct {
	ID            string            `json:"id"`
	Bundle        string            `json:"bundle"`
	Rootfs        string            `json:"rootfs"`
	InitPid       int               `json:"init_pid"`
	InitStartTime uint64            `json:"init_start_time"` // guards against pid reuse
	Created       time.Time         `json:"created"`
	Owner         string            `json:"owner"`
	CgroupPaths   map[string]string `json:"cgroup_paths"`
	CgroupMade    []string          `json:"cgroup_made"` // hierarchies whose cgroup create made
	// SystemdUnit is the container's unit under the systemd cgroup driver (--systemd-cgroup),
	// whose cgroups CgroupPaths are, saved once the init exists, just before systemd is asked
	// for the unit; SystemdUser says it is the user's systemd's.
	SystemdUnit *systemd.Unit `json:"systemd_unit,omitempty"`
	SystemdUser bool          `json:"systemd_user,omitempty"`
	// Creating is set until create has finished: while the create that set it (Creator, a pid
	// and its start time) lives, the container is "creating"; once it is gone, create died part
	// way and the container is stopped. Create holds no lock meanwhile: its hooks may run
	// `nebulon state` and `nebulon kill` on the container.
	Creating         bool   `json:"creating,omitempty"`
	Creator          int    `json:"creator,omitempty"`
	CreatorStartTime uint64 `json:"creator_start_time,omitempty"`
	// HostMounts: the container shares the runtime's mount namespace, and its mounts hang off a
	// bind mount of the rootfs onto itself in the host's mount table.
	HostMounts bool `json:"host_mounts,omitempty"`
	// RootfsMountID is the top mount on the rootfs before create (0: none), so that delete
	// detaches only a bind mount create stacked there, never the engine's own rootfs mount.
	RootfsMountID int               `json:"rootfs_mount_id,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	Hooks         *specs.Hooks      `json:"hooks,omitempty"` // for start and delete
	// OCIVersion is the config's ociVersion: a failing poststart hook fails start only from
	// runtime-spec 1.3 on (see Start).
	OCIVersion string `json:"oci_version,omitempty"`
	// IntelRdt is the container's resctrl group (linux.intelRdt): what delete removes.
	IntelRdt *resctrl.Group `json:"intel_rdt,omitempty"`
}

// store is the state directory of one container.
//
// Locking: state.json is always replaced whole (writeFileAtomic), so reading needs no lock:
// state, list, ps, events, kill and exec take none. The commands that change a container's
// status or limits (start, delete, pause, resume, update) hold an exclusive flock on the
// directory while they check the status and change it, never across a hook or a wait on the
// container's processes. Create holds it only while it makes the directory: from then on the
// status "creating" (State.Creator) keeps the others off. A lock is waited for at most lockWait.
type store struct {
	dir  string
	lock *os.File
	// fd is a new container's directory itself (O_PATH), which create works in through
	// /proc/self/fd (path): create runs unlocked after its first state, and a delete --force
	// meanwhile removes the directory, after which another create of the id may make a new one
	// of the same name. Through fd, the first create's writes fail (nothing can be made in a
	// removed directory) instead of landing in the second's, and its clean-up removes nothing
	// of the second's. Nil for a container loaded from disk: the commands that change one hold
	// its lock throughout.
	fd *os.File
	// final is where a new container's directory goes when publish renames it from dir, its
	// temporary name; empty once published, and for a container loaded from disk.
	final string
}

// lockWait bounds the wait for a container's lock. Nothing holds it across hooks or waits on
// the container, except checkpoint, which holds it while CRIU dumps (bounded by CRIU's silence,
// criuTimeout; with --lazy-pages until a restore has pulled every page): a command that waits
// longer fails busy, even delete --force, which cannot stop a checkpoint.
var lockWait = 30 * time.Second

// creatingMark is in the temporary name of a new container's state directory, ID:creating:RAND,
// and deletingMark in the name a removed one gets before its files go, ID:deleting:RAND. No
// container id has a ':', so no temporary name is an id, and List skips them.
const (
	creatingMark = ":creating:"
	deletingMark = ":deleting:"
)

// createStore makes and locks the state directory of a new container, under a temporary name:
// the directory named id appears only when publish renames it, with its first state in it. A
// create killed before that leaves only a temporary directory, which no command takes for a
// container and SweepOrphans removes; a directory named id without a state would make the id
// unusable, with nothing to delete.
func createStore(root, id string) (*store, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("create state root: %w%s", err, unwritableRootHint(err))
	}
	final := filepath.Join(root, id)
	if _, err := os.Lstat(final); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExist, id)
	}
	SweepOrphans(root, id)
	dir, err := os.MkdirTemp(root, id+creatingMark)
	if err != nil {
		return nil, fmt.Errorf("create state directory: %w%s", err, unwritableRootHint(err))
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	s, err := lockDir(dir, unix.LOCK_EX)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	if s.fd, err = os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
		s.unlock()
		os.Remove(dir)
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	s.final = final
	return s, nil
}

// publish gives a new container's state directory its name, the container's id, unless another
// create took it meanwhile. The lock stays held: it is on the directory, not its name.
func (s *store) publish() error {
	if s.final == "" {
		return nil
	}
	err := unix.Renameat2(unix.AT_FDCWD, s.dir, unix.AT_FDCWD, s.final, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%w: %s", ErrExist, filepath.Base(s.final))
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: s.dir, New: s.final, Err: err}
	}
	s.dir, s.final = s.final, ""
	return nil
}

// SweepOrphans removes the temporary state directories of id that commands killed half way
// left under root, those whose lock nobody holds: a create's before it published, a delete's
// before its files were all gone.
func SweepOrphans(root, id string) {
	if ValidateID(id) != nil {
		return
	}
	dirs, _ := filepath.Glob(filepath.Join(root, id+creatingMark+"*"))
	deleting, _ := filepath.Glob(filepath.Join(root, id+deletingMark+"*"))
	for _, dir := range append(dirs, deleting...) {
		f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			removeStateDir(dir)
		}
		f.Close()
	}
}

// openStore opens the state directory of an existing container and takes its lock: how is
// unix.LOCK_EX, or 0 for none. A container deleted while we waited for it is
// reported as not existing.
func openStore(root, id string, how int) (*store, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	s, err := lockDir(dir, how)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		s.unlock()
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	return s, nil
}

func lockDir(dir string, how int) (*store, error) {
	if how == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
		return &store{dir: dir}, nil
	}
	s := &store{dir: dir}
	if err := s.relock(how); err != nil {
		return nil, err
	}
	return s, nil
}

// relock takes the directory's lock (how: unix.LOCK_EX or unix.LOCK_SH), waiting at most
// lockWait.
func (s *store) relock(how int) error {
	f, err := os.OpenFile(s.path("."), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(lockWait)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			s.lock = f
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return &os.PathError{Op: "flock", Path: s.dir, Err: err}
		}
		if time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("container %s is busy: another nebulon command has held its lock (%s) for %v", filepath.Base(s.dir), s.dir, lockWait)
		}
		time.Sleep(delay)
	}
}

func (s *store) unlock() {
	if s.lock != nil {
		s.lock.Close() // closing drops the flock
		s.lock = nil
	}
}

// close releases the lock and the directory.
func (s *store) close() {
	s.unlock()
	if s.fd != nil {
		s.fd.Close()
		s.fd = nil
	}
}

func (s *store) path(name string) string {
	if s.fd != nil {
		return filepath.Join("/proc/self/fd", strconv.Itoa(int(s.fd.Fd())), name)
	}
	return filepath.Join(s.dir, name)
}

// mine says whether the directory at s.dir is still the one the store opened: a create's (its
// fd) or a locked container's (its lock). Always, for a store with neither.
func (s *store) mine() bool {
	f := s.fd
	if f == nil {
		f = s.lock
	}
	if f == nil {
		return true
	}
	var here, own unix.Stat_t
	if unix.Stat(s.dir, &here) != nil || unix.Fstat(int(f.Fd()), &own) != nil {
		return false
	}
	return here.Dev == own.Dev && here.Ino == own.Ino
}

// load reads state.json.
func (s *store) load() (*State, error) {
	data, err := proc.ReadFile(s.path(stateFile))
	if err != nil {
		return nil, fmt.Errorf("read container state: %w", err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("parse container state %s: %w", s.path(stateFile), err)
	}
	return &st, nil
}

// save writes state.json atomically: a reader sees the old or the new state, never half of one.
func (s *store) save(st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode container state: %w", err)
	}
	return writeFileAtomic(s.path(stateFile), data, 0o600)
}

// saveSpec keeps the spec the container was created from. It is a file of its own because most
// commands never need it, and decoding a whole spec costs more than all else they do.
func (s *store) saveSpec(spec *specs.Spec) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode container spec: %w", err)
	}
	return writeFileAtomic(s.path(specFile), data, 0o600)
}

// loadSpec reads the spec saved by saveSpec.
func (s *store) loadSpec() (*specs.Spec, error) {
	var spec specs.Spec
	if err := s.readSpec(&spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

// readSpec decodes the saved spec into v: a specs.Spec, or a view of part of it.
func (s *store) readSpec(v any) error {
	data, err := proc.ReadFile(s.path(specFile))
	if err != nil {
		return fmt.Errorf("read container spec: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse container spec %s: %w", s.path(specFile), err)
	}
	return nil
}

// processView is the part of a container's spec about its processes, which exec and kill read:
// the process an exec'd process starts from, the namespaces it joins (and kill checks for a pid
// namespace), linux.seccomp (for its compiled filter and the agent), the personality and memory
// policy it gets too, and the annotations (the agent's state).
//
// encoding/json builds its codecs for every type a target type reaches on the first decode in
// a process, whatever the data holds: for specs.Spec that is most of an exec's JSON cost (2.6
// ms cold on the 2-CPU VM of docs/bench, against 0.55 ms for this view), and every exec pays it
// in a new process.
type processView struct {
	Process     *specs.Process    `json:"process,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *struct {
		Namespaces   []specs.LinuxNamespace   `json:"namespaces,omitempty"`
		UIDMappings  []specs.LinuxIDMapping   `json:"uidMappings,omitempty"`
		GIDMappings  []specs.LinuxIDMapping   `json:"gidMappings,omitempty"`
		Seccomp      *specs.LinuxSeccomp      `json:"seccomp,omitempty"`
		Personality  *specs.LinuxPersonality  `json:"personality,omitempty"`
		MemoryPolicy *specs.LinuxMemoryPolicy `json:"memoryPolicy,omitempty"`
	} `json:"linux,omitempty"`
}

// loadProcessSpec reads the part of the saved spec in processView: the spec's other fields are
// left empty.
func (s *store) loadProcessSpec() (*specs.Spec, error) {
	var v processView
	if err := s.readSpec(&v); err != nil {
		return nil, err
	}
	spec := &specs.Spec{Process: v.Process, Annotations: v.Annotations, Linux: &specs.Linux{}}
	if l := v.Linux; l != nil {
		spec.Linux.Namespaces, spec.Linux.UIDMappings, spec.Linux.GIDMappings = l.Namespaces, l.UIDMappings, l.GIDMappings
		spec.Linux.Seccomp, spec.Linux.Personality, spec.Linux.MemoryPolicy = l.Seccomp, l.Personality, l.MemoryPolicy
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("container spec %s has no process", s.path(specFile))
	}
	return spec, nil
}

// remove deletes the state directory; the lock is released after it is gone, so a waiter finds
// no container. The directory first loses its name, the id, in one rename: a delete killed while
// its files go leaves an ID:deleting:RAND directory, which no command takes for the container
// and SweepOrphans removes, not a directory named id without a state, which would make the id
// unusable.
func (s *store) remove() error {
	var err error
	if s.mine() { // else it is gone already, and its name may be another container's now
		dir := s.dir
		// One rename to a name nothing holds (RENAME_NOREPLACE), so no other directory is
		// made or left for it.
		for try := 0; try < 4; try++ {
			tmp := s.dir + deletingMark + strconv.FormatUint(uint64(rand.Uint32()), 10)
			err := unix.Renameat2(unix.AT_FDCWD, s.dir, unix.AT_FDCWD, tmp, unix.RENAME_NOREPLACE)
			if err == nil {
				dir = tmp
			}
			if !errors.Is(err, unix.EEXIST) {
				break
			}
		}
		err = removeStateDir(dir)
	}
	s.unlock()
	if err != nil {
		return fmt.Errorf("remove state directory: %w", err)
	}
	return nil
}

// criuRootDir is the state directory's entry where restore bind-mounts the bundle's rootfs for
// CRIU (Restore).
const criuRootDir = "criu-root"

// removeStateDir removes a state directory. A restore killed while CRIU ran leaves its bind of
// the rootfs mounted there, and os.RemoveAll would go through it and delete the bundle's rootfs:
// it is unmounted first.
func removeStateDir(dir string) error {
	mnt := filepath.Join(dir, criuRootDir)
	if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		// Removing the directory now would remove the rootfs under the mount.
		return &os.PathError{Op: "unmount", Path: mnt, Err: err}
	}
	return os.RemoveAll(dir)
}

// writeFileAtomic writes state files whole (atomicfile), without fsync: see atomicfile.Write.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode, false)
}

// WritePidFile writes a pid file atomically, as engines read it while it is written.
func WritePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(abs, []byte(fmt.Sprint(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file %s: %w", path, err)
	}
	return nil
}

// unwritableRootHint says what a user other than root can do about a state root it may not
// write: runc's default root, /run/..., is root's, and only XDG_RUNTIME_DIR moves it.
func unwritableRootHint(err error) string {
	if os.Geteuid() == 0 || !errors.Is(err, os.ErrPermission) {
		return ""
	}
	return fmt.Sprintf(" (nebulon runs as uid %d: set XDG_RUNTIME_DIR, or give --root a directory this user can write)", os.Geteuid())
}

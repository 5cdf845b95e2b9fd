package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/network"
	"github.com/nebulon-dev/nebulon/internal/overlay"
	"github.com/nebulon-dev/nebulon/internal/rootless"
	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

// The runtime side of nb's containers: each nb container is a libnebulon container of the same
// id, whose state lives in ROOT/runtime while it runs. nb's own metadata says what happened to it.

// A rootless nb keeps it under $XDG_RUNTIME_DIR instead, which goes with a reboot as the
// processes and mounts do, as podman keeps its runtime's state there.
func runtimeRoot(s *store.Store) string {
	if rootlessRunDir != "" {
		return filepath.Join(rootlessRunDir, "runtime")
	}
	return filepath.Join(s.Root, "runtime")
}

// createOpts are libnebulon.Create's options for a container of nb's; bundle and stdio are the
// caller's. A rootless nb's containers get their cgroups as rootless podman's do: from the
// user's systemd (cgroup_manager "systemd") where rootlessSystemd says it can, else none
// (RootlessCgroups: a limit is then refused, naming its field).
func createOpts(s *store.Store, id string) libnebulon.CreateOpts {
	o := libnebulon.CreateOpts{Bundle: bundleDir(s, id), Foreground: true, RootlessCgroups: rootless.Is()}
	if rootlessSystemd() {
		o.SystemdCgroup, o.SystemdUser = true, true
	}
	return o
}

// rootlessSystemd says whether a rootless nb's containers take their cgroups from the user's
// systemd (user@UID.service, which systemd delegates a subtree to): on a cgroup v2 host booted
// with systemd, when a systemd owned by a user answers on the user's bus ($DBUS_SESSION_BUS_ADDRESS,
// else $XDG_RUNTIME_DIR/bus). The scope is then nebulon-ID.scope in the user's user.slice, and
// limits apply for the controllers the user was delegated (others are refused, naming the field).
func rootlessSystemd() bool {
	if !rootless.Is() || !libnebulon.UnifiedCgroups() || !libnebulon.SystemdBooted() {
		return false
	}
	uid, err := libnebulon.SystemdUserBusOwner()
	return err == nil && uid != 0
}

func bundleDir(s *store.Store, id string) string { return filepath.Join(s.ContainerDir(id), "bundle") }

func logPath(s *store.Store, id string) string {
	return filepath.Join(s.ContainerDir(id), "container.log")
}

// unknownExit is the exit code recorded for a container whose process ended with nobody to
// see how (its monitor was killed), as docker records it.
const unknownExit = 255

// reconcile brings c's status in line with the kernel: a running or paused container whose
// process is gone is exited, never a stale running. It saves c when it changed; the caller
// holds the store lock.
func reconcile(s *store.Store, c *store.Container) error {
	if c.Status != store.Running && c.Status != store.Paused {
		return nil
	}
	status := specs.StateStopped
	if lc, err := libnebulon.Load(runtimeRoot(s), c.ID); err == nil {
		status = lc.Status()
		lc.Close()
	} else if !errors.Is(err, libnebulon.ErrNotExist) {
		return err
	}
	switch status {
	case specs.StateRunning:
		c.Status = store.Running
	case libnebulon.StatePaused:
		c.Status = store.Paused
	default:
		// Whoever waits for it (the monitor, or an attached nb run) records the exit, soon.
		// If that one is gone too, nobody saw how it ended.
		if s.RecorderAlive(c.ID) {
			return nil
		}
		c.Status, c.ExitCode, c.Finished = store.Exited, unknownExit, time.Now().UTC()
		deleteRuntime(s, c.ID)
		// Nobody released its network either: nb rm tries again, and says why it cannot.
		if err := releaseNetwork(s, c); err != nil {
			slog.Warn("release the network of an exited container", "id", c.ID, "err", err)
		}
	}
	return s.SaveContainer(c)
}

// deleteRuntime removes the runtime's container of that id, if any: its processes, cgroups and
// state.
// A runtime command of that id killed half way may have left its state directory under a
// temporary name (libnebulon.SweepOrphans): it goes too.
func deleteRuntime(s *store.Store, id string) error {
	lc, err := libnebulon.Load(runtimeRoot(s), id)
	if errors.Is(err, libnebulon.ErrNotExist) {
		libnebulon.SweepOrphans(runtimeRoot(s), id)
		return removeStateless(s, id)
	}
	if err != nil {
		return err
	}
	defer lc.Close()
	return lc.Delete(true)
}

// removeStateless removes ROOT/runtime/ID when it holds no state: the runtime's create was
// killed between making the directory and saving the state, before it made anything else. A
// directory someone has locked (a create in that instant) is left alone.
func removeStateless(s *store.Store, id string) error {
	dir := filepath.Join(runtimeRoot(s), id)
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("runtime state of %s: %w", id, err)
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
		return nil
	}
	return os.RemoveAll(dir)
}

// lockClean takes the store lock and removes what killed nb commands left half-made
// (cleanHalfMade): what create, ps and image rm do first.
func lockClean(s *store.Store) (unlock func(), err error) {
	unlock, err = s.Lock()
	if err != nil {
		return nil, err
	}
	if err := cleanHalfMade(s); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// cleanHalfMade removes what an nb killed mid-create or mid-rm left: container directories
// without metadata, with their overlay mount and any runtime container of their id. The caller
// holds the store lock (see package store's comment for why that makes them leftovers).
func cleanHalfMade(s *store.Store) error {
	ids, err := s.HalfMade()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if libnebulon.ValidateID(id) == nil {
			if err := deleteRuntime(s, id); err != nil {
				return fmt.Errorf("clean up half-made container %s: %w", id, err)
			}
		}
		if err := overlay.Unmount(overlay.LayoutOf(s.ContainerDir(id))); err != nil {
			return fmt.Errorf("clean up half-made container %s: %w", id, err)
		}
		// An nb rm killed after it detached the network may have left the namespace's mount.
		if err := network.RemoveNamespace(netnsPath(s, id)); err != nil {
			return fmt.Errorf("clean up half-made container %s: %w", id, err)
		}
		if err := os.RemoveAll(s.ContainerDir(id)); err != nil {
			return fmt.Errorf("clean up half-made container %s: %w", id, err)
		}
		slog.Debug("removed a half-made container", "id", id)
	}
	return nil
}

// setStatus updates one container's metadata under the store lock.
func setStatus(s *store.Store, id string, update func(c *store.Container)) error {
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.LoadContainer(id)
	if err != nil {
		return err
	}
	update(c)
	return s.SaveContainer(c)
}

// findContainer resolves ref (id, name or unique id prefix) and reconciles its status.
func findContainer(s *store.Store, ref string) (*store.Container, error) {
	unlock, err := s.Lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := s.FindContainer(ref)
	if err != nil {
		return nil, err
	}
	return c, reconcile(s, c)
}

// waitExited polls c's metadata until it is exited, for up to d; it reports whether it is.
func waitExited(s *store.Store, id string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		c, err := findContainer(s, id)
		if err != nil || c.Status == store.Exited || c.Status == store.Created {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func devNull() (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	return f, nil
}

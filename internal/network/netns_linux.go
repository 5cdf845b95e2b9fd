package network

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NewNamespace makes a network namespace that outlives its processes, as ip netns add does: a
// new one bind-mounted on the file at path, with lo up. A container joins it by path, and it is
// still there to be detached (CNI DEL needs the container's interface to find its addresses)
// after the container's processes are gone, whoever killed them.
func NewNamespace(path string) (retErr error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	f.Close()
	defer func() {
		if retErr != nil {
			RemoveNamespace(path)
		}
	}()
	errc := make(chan error, 1)
	go func() {
		// unshare(2) changes only this thread's namespace. The thread goes back to the
		// original one before it is unlocked; if it cannot, it stays locked and the Go runtime
		// ends it with the goroutine. Ending it is not enough by itself: the main thread is
		// never ended (only parked), and /proc/self/ns/net is the main thread's.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		errc <- bindNewNamespace(path)
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	if err := <-errc; err != nil {
		return err
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer h.Close()
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer nl.Close()
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("network namespace %s: set lo up: %w", path, err)
	}
	return nil
}

// bindNewNamespace moves the calling thread to a new network namespace and binds it on path.
// The caller has locked the thread.
func bindNewNamespace(path string) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return os.NewSyscallError("unshare", err)
	}
	if err := unix.Mount("/proc/thread-self/ns/net", path, "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount network namespace on", Path: path, Err: err}
	}
	return nil
}

// IsNamespace reports whether path is a network namespace (a mounted nsfs file), not the empty
// file it is after a reboot.
func IsNamespace(path string) bool {
	var st unix.Statfs_t
	return path != "" && unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// RemoveNamespace unmounts and removes NewNamespace's file; the namespace goes with its last
// user. A missing file is no error.
func RemoveNamespace(path string) error {
	for IsNamespace(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			return &os.PathError{Op: "unmount network namespace", Path: path, Err: err}
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

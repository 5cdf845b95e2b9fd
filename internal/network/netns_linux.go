package network

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/userns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/rootless"
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
	if userns.RunningInUserNS() {
		return bindChildNamespace(path)
	}
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
	return setLoUp(path)
}

// bindChildNamespace binds on path the new network namespace of a child made for it, in a
// rootless user's namespace: a thread of nb's that entered it could never go back to the host's
// network namespace (setns(2) needs CAP_SYS_ADMIN over its owner, the initial user namespace),
// and the Go runtime would keep it parked if it were the main thread, whose namespace
// /proc/self/ns/net is; so the child sets lo up too (NamespaceChild), and waits to be killed.
func bindChildNamespace(path string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	// The child is killed below; should nb be killed first, Pdeathsig kills it. The kernel
	// sends that signal when the thread that started the child ends: this one, locked until
	// the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/proc/self/exe", rootless.PauseCommand, namespaceChildArg)
	cmd.Args[0] = "nb" // ps shows nb __nb_pause netns
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: unix.SIGKILL}
	cmd.ExtraFiles = []*os.File{w}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("network namespace %s: start a process in a new one: %w", path, err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(r).ReadString('\n')
	if line != "ok\n" {
		return fmt.Errorf("network namespace %s: set lo up: %s (%v)", path, strings.TrimSpace(strings.TrimPrefix(line, "error: ")), err)
	}
	src := fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount network namespace on", Path: path, Err: err}
	}
	return nil
}

// namespaceChildArg follows rootless.PauseCommand in bindChildNamespace's child.
const namespaceChildArg = "netns"

// NamespaceChild is bindChildNamespace's child, when args are its: in the new network
// namespace it was made in, it sets lo up and says so ("ok", or "error: WHY") on fd 3. It
// returns; the caller then pauses until it is killed.
func NamespaceChild(args []string) {
	if len(args) != 3 || args[2] != namespaceChildArg {
		return
	}
	report := os.NewFile(3, "report")
	defer report.Close()
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		fmt.Fprintf(report, "error: %v\n", err)
		return
	}
	fmt.Fprintln(report, "ok")
}

// setLoUp sets lo up in the network namespace bound on path.
func setLoUp(path string) error {
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

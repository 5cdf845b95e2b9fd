// Package mountfd makes mounts on file descriptors with the mount API (open_tree, move_mount,
// mount_setattr), never through a path: a detached copy of a mount gets its attributes before it
// is attached anywhere. It keeps no state and runs in whichever process calls it: the runtime
// (its own read-only binary, see parent; id-mapped mounts, which need the host's user
// namespace) and the container's init (rootfs). It needs Linux 5.12.
package mountfd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Clone makes a detached copy of the mount at f (recursive: with the mounts below it) and sets
// attrs on it while it is detached, so the copy is never visible without them. It returns the
// copy's fd.
func Clone(f *os.File, recursive bool, attrs uint64) (int, error) {
	flags, at := uint(unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH), unix.AT_EMPTY_PATH
	if recursive {
		flags |= unix.AT_RECURSIVE
		at |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(int(f.Fd()), "", flags)
	if err != nil {
		return -1, os.NewSyscallError("open_tree", err)
	}
	if err := unix.MountSetattr(tree, "", uint(at), &unix.MountAttr{Attr_set: attrs}); err != nil {
		unix.Close(tree)
		if errors.Is(err, unix.ENOSYS) {
			return -1, fmt.Errorf("mount_setattr: this kernel lacks it (Linux 5.12 or later is needed): %w", err)
		}
		return -1, os.NewSyscallError("mount_setattr", err)
	}
	return tree, nil
}

// Attach puts the detached mount tree on the file or directory target refers to.
func Attach(tree int, target *os.File) error {
	if err := unix.MoveMount(tree, "", int(target.Fd()), "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return os.NewSyscallError("move_mount", err)
	}
	return nil
}

// CloneIDMapped makes a detached copy of the mount at source (recursive: with the mounts below
// it) id-mapped through the user namespace userns (mount_setattr(2), MOUNT_ATTR_IDMAP);
// recursiveMap maps the mounts below it too. It must run where the source's filesystem was
// mounted from (the runtime, in the host's user namespace): id-mapping needs CAP_SYS_ADMIN in
// the user namespace of the filesystem. A filesystem that cannot be id-mapped gives EINVAL.
func CloneIDMapped(source *os.File, recursive, recursiveMap bool, userns *os.File) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC | unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	tree, err := unix.OpenTree(int(source.Fd()), "", flags)
	if err != nil {
		return -1, os.NewSyscallError("open_tree", err)
	}
	if err := idmap(tree, recursiveMap, userns); err != nil {
		unix.Close(tree)
		return -1, err
	}
	return tree, nil
}

func idmap(tree int, recursive bool, userns *os.File) error {
	at := uint(unix.AT_EMPTY_PATH)
	if recursive {
		at |= unix.AT_RECURSIVE
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns.Fd())}
	if err := unix.MountSetattr(tree, "", at, attr); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("mount_setattr MOUNT_ATTR_IDMAP: this filesystem cannot be id-mapped: %w", err)
		}
		return os.NewSyscallError("mount_setattr MOUNT_ATTR_IDMAP", err)
	}
	return nil
}

// NewUserns makes a user namespace with the given maps and returns an fd on it, for
// MOUNT_ATTR_IDMAP. A namespace lives only while something holds it, so a process is forked into
// it: its maps are written by the Go runtime before it execs, it is stopped by ptrace at the exec
// (PTRACE_TRACEME: it runs none of the program), the namespace is opened through /proc, and the
// process is killed and reaped. The caller's thread is locked for the trace, as
// syscall.SysProcAttr.Ptrace requires.
func NewUserns(uids, gids []syscall.SysProcIDMap) (*os.File, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"nebulon-userns"}, &syscall.ProcAttr{
		Env: []string{},
		Sys: &syscall.SysProcAttr{
			Cloneflags: unix.CLONE_NEWUSER, UidMappings: uids, GidMappings: gids,
			Ptrace: true, Pdeathsig: syscall.SIGKILL,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("make a user namespace for an id-mapped mount: %w", err)
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, unix.WALL, nil)
			if err != nil && !errors.Is(err, unix.EINTR) || err == nil && (ws.Exited() || ws.Signaled()) {
				return
			}
		}
	}()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return nil, fmt.Errorf("open the user namespace for an id-mapped mount: %w", err)
	}
	return f, nil
}

var canIDMap = sync.OnceValue(probeIDMap)

// CanIDMap reports whether this kernel id-maps mounts, for features: it id-maps a detached
// tmpfs (tmpfs can be id-mapped since Linux 6.3) through a user namespace of its own. Probed
// once per process.
func CanIDMap() bool { return canIDMap() }

func probeIDMap() bool {
	userns, err := NewUserns([]syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		[]syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}})
	if err != nil {
		return false
	}
	defer userns.Close()
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fs)
	if unix.FsconfigCreate(fs) != nil {
		return false
	}
	tree, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(tree)
	return idmap(tree, false, userns) == nil
}

// OpenBindSource opens a bind mount's source. One inside the container's root filesystem, which
// roots names (as resolved, and as the config names it), is resolved inside rootFd, race free:
// a symlink the container's image, or a process sharing a volume, put there cannot point it at
// the host (CVE-2021-30465). Any other source is the host's, opened as the config names it.
func OpenBindSource(source string, rootFd *os.File, roots ...string) (*os.File, error) {
	for _, root := range roots {
		rel, err := filepath.Rel(root, filepath.Clean(source))
		if err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return pathrs.OpenatInRoot(rootFd, rel)
		}
	}
	return os.OpenFile(source, unix.O_PATH|unix.O_CLOEXEC, 0)
}

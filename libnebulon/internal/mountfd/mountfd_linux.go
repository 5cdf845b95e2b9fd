// Package mountfd makes mounts on file descriptors with the mount API (open_tree, move_mount,
// mount_setattr), never through a path: a detached copy of a mount gets its attributes before it
// is attached anywhere. It keeps no state and runs in whichever process calls it: the runtime
// (its own read-only binary, see parent) and the container's init (rootfs). It needs Linux 5.12.
package mountfd

import (
	"errors"
	"fmt"
	"os"

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

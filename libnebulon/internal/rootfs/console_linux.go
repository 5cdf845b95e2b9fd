package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountfd"
)

// MountConsole bind-mounts the pty slave on /dev/console, made if missing. The target is opened
// without following a symlink and the mount is made on that fd, so the container's /dev cannot
// redirect it.
func MountConsole(slave *os.File) error {
	const target = "/dev/console"
	// O_PATH: a device node there (a rootfs's own /dev/console) is not opened, only named.
	f, err := os.OpenFile(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		var made *os.File
		if made, err = os.OpenFile(target, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o666); err == nil {
			made.Close()
			f, err = os.OpenFile(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: target, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%s in the container is a symlink or a directory, not a file to mount the terminal on", target)
	}
	tree, err := unix.OpenTree(int(slave.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("bind %s on %s: %w", slave.Name(), target, os.NewSyscallError("open_tree", err))
	}
	defer unix.Close(tree)
	if err := mountfd.Attach(tree, f); err != nil {
		return fmt.Errorf("bind %s on %s: %w", slave.Name(), target, err)
	}
	return nil
}

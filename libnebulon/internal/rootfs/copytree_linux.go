package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyTree copies the contents of directory src into directory dst, both open: directories,
// regular files, symlinks, fifos and device nodes, with their modes and owners. Nothing is
// followed: every entry is opened relative to its parent's fd, without following a symlink.
func copyTree(src, dst *os.File) error {
	entries, err := src.ReadDir(-1)
	if err != nil {
		return err
	}
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	for _, e := range entries {
		name := e.Name()
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "stat", Path: name, Err: err}
		}
		mode := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			err = copyDir(sfd, dfd, name, mode)
		case unix.S_IFREG:
			err = copyFile(sfd, dfd, name, mode)
		case unix.S_IFLNK:
			var target string
			if target, err = readlinkat(sfd, name); err == nil {
				err = unix.Symlinkat(target, dfd, name)
			}
		default: // fifo, socket, device
			err = unix.Mknodat(dfd, name, st.Mode, int(st.Rdev))
			if err == nil {
				err = unix.Fchmodat(dfd, name, mode, 0)
			}
		}
		if err == nil {
			err = unix.Fchownat(dfd, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return nil
}

func copyDir(sfd, dfd int, name string, mode uint32) error {
	if err := unix.Mkdirat(dfd, name, 0o700); err != nil {
		return err
	}
	s, err := openDirAt(sfd, name)
	if err != nil {
		return err
	}
	defer s.Close()
	d, err := openDirAt(dfd, name)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := copyTree(s, d); err != nil {
		return err
	}
	return unix.Fchmod(int(d.Fd()), mode)
}

func openDirAt(dirfd int, name string) (*os.File, error) {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

func copyFile(sfd, dfd int, name string, mode uint32) error {
	in, err := unix.Openat(sfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(in), name)
	defer src.Close()
	out, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(out), name)
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		return err
	}
	return unix.Fchmod(out, mode)
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size > 1<<16 {
			return "", errors.New("symlink target too long")
		}
	}
}

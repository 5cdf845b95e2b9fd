package image

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// UnsafeEntryError is a tar entry refused because writing it would reach outside the image
// root: a ".." component, an absolute path, a path through a symlink, or a hard link whose
// target is any of those. Layers come from anyone; the extraction runs as root.
type UnsafeEntryError struct {
	Entry  string // the entry's name as the tar has it
	Reason string
}

func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("tar entry %q refused: %s", e.Entry, e.Reason)
}

// splitEntryPath splits a tar entry's name (or a hard link's target) into components, dropping
// "." and empty ones ("./etc//passwd" is etc, passwd); the image root itself is no component.
// Absolute names and ".." components are refused: GNU tar strips them, which would put the
// entry where its author did not mean it to go, so nb refuses instead.
func splitEntryPath(entry, name string) ([]string, error) {
	if strings.HasPrefix(name, "/") {
		return nil, &UnsafeEntryError{Entry: entry, Reason: fmt.Sprintf("absolute path %q", name)}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return nil, &UnsafeEntryError{Entry: entry, Reason: "NUL byte in path"}
	}
	var comps []string
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return nil, &UnsafeEntryError{Entry: entry, Reason: fmt.Sprintf("%q has a \"..\" component", name)}
		}
		comps = append(comps, c)
	}
	return comps, nil
}

// openDir opens the directory comps names under root, one component at a time with
// O_NOFOLLOW, so that no symlink is ever followed: a symlink made by this layer or a lower
// one ("link -> /", "up -> ..") is refused even when it would resolve inside the root, since
// its author meant the entry to land somewhere else. With create, missing directories are
// made by mkdir (given the directory to make it in, its name and its path's components), as
// tar does for an entry whose parents the archive left out; nil makes none. The caller
// closes the returned fd.
func openDir(root int, comps []string, mkdir mkdirFunc, entry string) (int, error) {
	fd, err := unix.Openat(root, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "openat", Path: ".", Err: err}
	}
	for i, c := range comps {
		next, err := openChildDir(fd, c, comps[:i+1], mkdir)
		if err != nil {
			err = dirError(fd, c, strings.Join(comps[:i+1], "/"), entry, err)
			unix.Close(fd)
			return -1, err
		}
		unix.Close(fd)
		fd = next
	}
	return fd, nil
}

// mkdirFunc makes the missing directory name in dir, comps being its path from the root; a
// directory there already is no error, and anything else there it may leave, for the open
// to fail on.
type mkdirFunc func(dir int, name string, comps []string) error

// openChildDir opens the directory name in dir without following a symlink, making it first
// with mkdir when it is missing and mkdir is not nil.
func openChildDir(dir int, name string, comps []string, mkdir mkdirFunc) (int, error) {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dir, name, flags, 0)
	// ENOTDIR too: mkdir may replace what is there (a whiteout of the same layer).
	if (errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) && mkdir != nil {
		if err := mkdir(dir, name, comps); err != nil {
			return -1, err
		}
		fd, err = unix.Openat(dir, name, flags, 0)
	}
	return fd, err
}

// dirError explains why the component name (the path prefix sofar) in dir could not be
// opened as a directory: a symlink there is an attempt to leave the root.
func dirError(dir int, name, sofar, entry string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		var st unix.Stat_t
		if unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return &UnsafeEntryError{Entry: entry, Reason: fmt.Sprintf("path goes through symlink %q", sofar)}
		}
		return fmt.Errorf("tar entry %q: %s is not a directory", entry, sofar)
	}
	return fmt.Errorf("tar entry %q: open %s: %w", entry, sofar, err)
}

// removeAllAt removes name in dir and, for a directory, everything under it, relative to fds
// throughout: no symlink below is followed.
func removeAllAt(dir int, name string) error {
	err := unix.Unlinkat(dir, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return &os.PathError{Op: "unlinkat", Path: name, Err: err}
	}
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "openat", Path: name, Err: err}
	}
	if err := removeChildren(fd, name, nil); err != nil {
		return err
	}
	if err := unix.Unlinkat(dir, name, unix.AT_REMOVEDIR); err != nil {
		return &os.PathError{Op: "rmdir", Path: name, Err: err}
	}
	return nil
}

// removeChildren removes what the directory fd holds, except the names keep says to keep; it
// closes fd.
func removeChildren(fd int, name string, keep func(child string) bool) error {
	d := os.NewFile(uintptr(fd), name)
	defer d.Close()
	children, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, c := range children {
		if keep != nil && keep(c) {
			continue
		}
		if err := removeAllAt(fd, c); err != nil {
			return err
		}
	}
	return nil
}

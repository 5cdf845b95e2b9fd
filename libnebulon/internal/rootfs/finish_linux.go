package rootfs

import (
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountfd"
)

// Finish applies what needs the container's own root: masked and read-only paths, and a
// read-only root last of all.
//
// After pivot_root /proc is the container's, whatever its config mounted there, so nothing here
// names a file by /proc/self/fd/N: every mount is made on an fd with the mount API (open_tree,
// fsmount, move_mount, mount_setattr), and the source of a mask is checked to be what it claims.
func Finish(s *specs.Spec) error {
	for _, p := range s.Linux.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths %s: %w", p, err)
		}
	}
	if len(s.Linux.MaskedPaths) > 0 {
		m, err := newMasker(s.Linux.MountLabel)
		if err != nil {
			return fmt.Errorf("linux.maskedPaths: %w", err)
		}
		defer m.close()
		seen := map[string]bool{}
		for _, p := range s.Linux.MaskedPaths {
			if seen[p] { // a path given twice is masked once, as runc does
				continue
			}
			seen[p] = true
			if err := m.mask(p); err != nil {
				return fmt.Errorf("linux.maskedPaths %s: %w", p, err)
			}
		}
	}
	if s.Root.Readonly {
		f, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
		if err := unix.MountSetattr(int(f.Fd()), "", unix.AT_EMPTY_PATH, attr); err != nil {
			return fmt.Errorf("root.readonly: %w", os.NewSyscallError("mount_setattr /", err))
		}
	}
	return nil
}

// openIfExists opens p as an O_PATH handle; a path that does not exist is (nil, nil), as the
// spec lets masked and read-only paths name what a container may lack.
func openIfExists(p string) (*os.File, error) {
	f, err := os.OpenFile(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return f, err
}

// readonlyPath mounts a read-only copy of p (and of the mounts below it) over p: the copy is made
// read-only while still detached, so no writable moment is visible.
func readonlyPath(p string) error {
	f, err := openIfExists(p)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	tree, err := mountfd.Clone(f, true, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(tree)
	return mountfd.Attach(tree, f)
}

// openDevNull opens the container's /dev/null, checking that it is the null device: a
// container whose /dev/null is a symlink or another file would have its masked paths covered
// by that file instead, such as a writable host /proc file (CVE-2025-31133).
func openDevNull() (*os.File, error) {
	f, err := os.OpenFile("/dev/null", unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "stat", Path: "/dev/null", Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		f.Close()
		return nil, fmt.Errorf("/dev/null in the container is not the null device (mode %#o, device %d:%d): refusing to mask with it",
			st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return f, nil
}

// masker hides paths: the null device over a file, a read-only empty tmpfs over a directory.
// Every directory gets a copy of the same tmpfs, as runc 1.5 does: one superblock, however
// many directories are masked.
type masker struct {
	null       *os.File
	tmpfs      int // the tmpfs on the first masked directory, or -1 until one needs it
	mountLabel string
}

func newMasker(mountLabel string) (*masker, error) {
	null, err := openDevNull()
	if err != nil {
		return nil, err
	}
	return &masker{null: null, tmpfs: -1, mountLabel: mountLabel}, nil
}

func (m *masker) close() {
	m.null.Close()
	if m.tmpfs >= 0 {
		unix.Close(m.tmpfs)
	}
}

func (m *masker) mask(p string) error {
	f, err := openIfExists(p)
	if f == nil || err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: p, Err: err}
	}
	src := int(m.null.Fd())
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if m.tmpfs < 0 {
			return m.maskFirstDir(p, f)
		}
		src = m.tmpfs
	}
	tree, err := unix.OpenTree(src, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return os.NewSyscallError("open_tree", err)
	}
	defer unix.Close(tree)
	return mountfd.Attach(tree, f)
}

// maskFirstDir mounts the read-only tmpfs itself on the first directory to mask, and keeps that
// mount for the others to clone: a detached mount can be cloned (open_tree OPEN_TREE_CLONE) only
// by newer kernels, an attached one by every kernel with the mount API (Linux 6.1 refuses the
// detached one with EINVAL).
func (m *masker) maskFirstDir(p string, f *os.File) error {
	tmpfs, err := emptyTmpfs(m.mountLabel)
	if err != nil {
		return err
	}
	defer unix.Close(tmpfs)
	if err := mountfd.Attach(tmpfs, f); err != nil {
		return err
	}
	// p now leads to the tmpfs's root: nothing of the container runs yet to move it.
	top, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	m.tmpfs = top
	return nil
}

// emptyTmpfs makes a detached, read-only, empty tmpfs, labelled with linux.mountLabel.
func emptyTmpfs(mountLabel string) (int, error) {
	fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("fsopen tmpfs", err)
	}
	defer unix.Close(fs)
	if mountLabel != "" && selinux.GetEnabled() {
		if err := unix.FsconfigSetString(fs, "context", mountLabel); err != nil {
			return -1, fmt.Errorf("linux.mountLabel %q: %w", mountLabel, os.NewSyscallError("fsconfig", err))
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, os.NewSyscallError("fsconfig tmpfs", err)
	}
	m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, os.NewSyscallError("fsmount tmpfs", err)
	}
	return m, nil
}

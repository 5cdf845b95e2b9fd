package rootfs

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
)

// Pivot makes the rootfs the root of the mount namespace and detaches the old root. The
// pivot_root(".", ".") form stacks the old root under the new one, so no directory for it is
// needed inside the container (pivot_root(2), NOTES).
func (r *Root) Pivot() error {
	if !r.cfg.MountNS {
		return r.chroot()
	}
	if r.cfg.NoPivot {
		return r.moveRoot()
	}
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldroot)
	if err := unix.Fchdir(int(r.root.Fd())); err != nil {
		return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: r.cfg.Rootfs, Err: err}
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return &os.PathError{Op: "chdir to old root", Path: "/", Err: err}
	}
	// The old root must not propagate our unmount to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "make old root slave", Path: "/", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "unmount old root", Path: "/", Err: err}
	}
	return r.enterRoot()
}

// moveRoot is --no-pivot: move the rootfs over / and chroot into it, for roots (like an
// initramfs) that pivot_root cannot leave.
func (r *Root) moveRoot() error {
	if err := hideHostProcSys(r.cfg.Rootfs); err != nil {
		return err
	}
	if err := unix.Fchdir(int(r.root.Fd())); err != nil {
		return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return &os.PathError{Op: "move rootfs to /", Path: r.cfg.Rootfs, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: r.cfg.Rootfs, Err: err}
	}
	return r.enterRoot()
}

// chroot enters the rootfs of a container that shares the runtime's mount namespace: pivot_root
// or MS_MOVE there would change the host's own root.
func (r *Root) chroot() error {
	if err := unix.Fchdir(int(r.root.Fd())); err != nil {
		return &os.PathError{Op: "chdir", Path: r.cfg.Rootfs, Err: err}
	}
	if err := unix.Chroot("."); err != nil {
		return &os.PathError{Op: "chroot", Path: r.cfg.Rootfs, Err: err}
	}
	return r.enterRoot()
}

func (r *Root) enterRoot() error {
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	r.root.Close()
	r.root = nil
	// Applied after pivot_root: propagation is a property of the mount that is now "/".
	if p := r.cfg.Spec.Linux.RootfsPropagation; p != "" && r.cfg.MountNS {
		if err := unix.Mount("", "/", "", mountopt.Propagation[p], ""); err != nil {
			return &os.PathError{Op: "set rootfs propagation " + p, Path: "/", Err: err}
		}
	}
	return nil
}

// hideHostProcSys detaches (or, where that is refused, covers with a tmpfs) every full procfs
// and sysfs mount outside the rootfs, before --no-pivot's chroot. Without pivot_root the old root
// stays in the container's mount namespace, under the rootfs: its /proc is out of the chroot's
// reach by path, but the kernel still counts it when it decides whether a procfs or sysfs mount
// in a user namespace would reveal more than is visible (mount_too_revealing, fs/namespace.c),
// so a container could mount a fresh, unmasked procfs. runc's msMoveRoot does the same.
func hideHostProcSys(rootfs string) error {
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		inRoot := m.Mountpoint == rootfs || strings.HasPrefix(m.Mountpoint, rootfs+"/")
		return m.Root != "/" || (m.FSType != "proc" && m.FSType != "sysfs") || inRoot, false
	})
	if err != nil {
		return fmt.Errorf("--no-pivot: list mounts: %w", err)
	}
	// Deepest first: a sysfs under a procfs (or the reverse) goes before its parent.
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
	for _, m := range mounts {
		// The unmount must not reach the host: the container's mounts are slaves already
		// (Prepare), this makes sure of it for these.
		if err := unix.Mount("", m.Mountpoint, "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return &os.PathError{Op: "--no-pivot: make slave", Path: m.Mountpoint, Err: err}
		}
		err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		if err == nil || errors.Is(err, unix.ENOENT) {
			continue
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM) {
			return &os.PathError{Op: "--no-pivot: unmount", Path: m.Mountpoint, Err: err}
		}
		// Locked in a user namespace: cover it instead.
		if err := unix.Mount("tmpfs", m.Mountpoint, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return &os.PathError{Op: "--no-pivot: cover", Path: m.Mountpoint, Err: err}
		}
	}
	return nil
}

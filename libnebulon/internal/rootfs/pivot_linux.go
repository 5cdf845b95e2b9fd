package rootfs

import (
	"os"

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

// Package overlay gives a container its copy-on-write root over an image: an overlayfs with the
// image's unpacked root as its lower layer and a directory of the container's own as its upper,
// so a hundred containers of one image share its files and start without copying anything.
package overlay

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// Layout are a container's overlay directories, all under its own directory dir.
type Layout struct {
	Upper, Work, Merged string
}

// LayoutOf is the overlay layout of the container directory dir.
func LayoutOf(dir string) Layout {
	return Layout{Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), Merged: filepath.Join(dir, "rootfs")}
}

// Mount mounts lower (read-only) under l.Upper on l.Merged, making the directories; a mount
// already there is left as it is.
func Mount(lower string, l Layout) error {
	if mounted, err := mountinfo.Mounted(l.Merged); err == nil && mounted {
		return nil
	}
	for _, d := range []string{l.Upper, l.Work, l.Merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", lower, l.Upper, l.Work)
	if err := unix.Mount("overlay", l.Merged, "overlay", 0, data); err != nil {
		return fmt.Errorf("mount the container's root (overlay on %s): %w", l.Merged, err)
	}
	return nil
}

// Unmount unmounts l.Merged, if mounted.
func Unmount(l Layout) error {
	err := unix.Unmount(l.Merged, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount the container's root %s: %w", l.Merged, err)
	}
	return nil
}

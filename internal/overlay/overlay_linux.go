// Package overlay gives a container its copy-on-write root over an image: an overlayfs with the
// image's layer dirs as its lower layers and a directory of the container's own as its upper,
// so a hundred containers of one image share its files and start without copying anything.
package overlay

import (
	"errors"
	"fmt"
	"github.com/moby/sys/userns"
	"os"
	"path/filepath"
	"runtime"
	"strings"

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

// Mount mounts the layer dirs lower (read-only, top first, as overlayfs' lowerdir lists
// them) under l.Upper on l.Merged, making the directories; a mount already there is left as
// it is.
func Mount(lower []string, l Layout) error {
	if mounted, err := mountinfo.Mounted(l.Merged); err == nil && mounted {
		return nil
	}
	if len(lower) == 0 {
		return errors.New("overlay: an image with no layer")
	}
	for _, d := range []string{l.Upper, l.Work, l.Merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
	}
	// The mount option must fit in one page (the kernel's fs_context takes no more): layer
	// dirs sharing a directory are named relative to it, from a thread whose cwd it is, as
	// containers/storage names its l/ links.
	dir, names := filepath.Dir(lower[0]), make([]string, len(lower))
	for i, p := range lower {
		if filepath.Dir(p) != dir {
			dir, names = "", lower
			break
		}
		names[i] = filepath.Base(p)
	}
	data := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(names, ":"), l.Upper, l.Work)
	if userns.RunningInUserNS() {
		// Mounted by uid 0 of a rootless user's namespace (Linux 5.11): overlayfs keeps its
		// whiteouts' and opaque dirs' xattrs in user.overlay.*, as the layers were unpacked.
		data += ",userxattr"
	}
	if len(data) >= os.Getpagesize() {
		return fmt.Errorf("mount the container's root: the image's %d layers make an overlay mount option of %d bytes, over the kernel's limit of %d", len(lower), len(data), os.Getpagesize()-1)
	}
	if err := mountIn(dir, data, l.Merged); err != nil {
		return fmt.Errorf("mount the container's root (overlay on %s): %w", l.Merged, err)
	}
	return nil
}

// mountIn mounts the overlay data describes on target, relative paths in data taken from dir
// (unless dir is ""). The chdir happens on a thread of its own, unshared from the process'
// filesystem context (CLONE_FS) so that no other goroutine's relative path moves; the thread
// stays locked and so ends with the goroutine, its cwd never reused.
func mountIn(dir, data, target string) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if dir != "" {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				done <- os.NewSyscallError("unshare CLONE_FS", err)
				return
			}
			if err := unix.Chdir(dir); err != nil {
				done <- &os.PathError{Op: "chdir", Path: dir, Err: err}
				return
			}
		}
		done <- unix.Mount("overlay", target, "overlay", 0, data)
	}()
	return <-done
}

// Unmount unmounts l.Merged, if mounted.
func Unmount(l Layout) error {
	err := unix.Unmount(l.Merged, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount the container's root %s: %w", l.Merged, err)
	}
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/image"
	"github.com/nebulon-dev/nebulon/internal/overlay"
	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/specconv"
)

// setRootfs gives a new container its root: the --rootfs directory as it is, or an overlay over
// its image; and reads the root's user and group files for names in --user.
func setRootfs(ctx *cli.Context, s *store.Store, c *store.Container, o *specconv.Options, cfg *createConfig) error {
	if cfg.Rootfs != "" {
		abs, err := filepath.Abs(cfg.Rootfs)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return fmt.Errorf("--rootfs %s: not a directory", cfg.Rootfs)
		}
		o.RootfsPath, c.Image = abs, abs
	} else if err := setImageRootfs(s, c, o, cfg); err != nil {
		return err
	}
	var err error
	if o.Passwd, err = readInRoot(o.RootfsPath, "/etc/passwd"); err != nil {
		return err
	}
	o.Group, err = readInRoot(o.RootfsPath, "/etc/group")
	return err
}

// readInRoot reads a file of a container's root, resolving it inside the root: the image
// controls its symlinks. A missing file is nil.
func readInRoot(root, path string) ([]byte, error) {
	f, err := pathrs.OpenInRoot(root, path)
	if errors.Is(err, os.ErrNotExist) {
		// securejoin wraps the error: os.IsNotExist does not see through that.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of the container's root: %w", path, err)
	}
	defer f.Close()
	r, err := pathrs.Reopen(f, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("read %s of the container's root: %w", path, err)
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 16<<20))
}

// prepareRootfs makes sure a container's root is there before it runs: its overlay is mounted
// again after a reboot.
func prepareRootfs(s *store.Store, c *store.Container) error {
	if c.ImageID == "" {
		return nil
	}
	lower, err := imageRootfs(s, c.ImageID)
	if err != nil {
		return err
	}
	return overlay.Mount(lower, overlay.LayoutOf(s.ContainerDir(c.ID)))
}

// releaseRootfs unmounts a container's overlay, before its directory is removed.
func releaseRootfs(s *store.Store, c *store.Container) error {
	if c.ImageID == "" {
		return nil
	}
	return overlay.Unmount(overlay.LayoutOf(s.ContainerDir(c.ID)))
}

// openImages opens the store's image store.
func openImages(s *store.Store) (*image.Store, error) {
	return image.Open(filepath.Join(s.Root, "images"))
}

// setImageRootfs gives a container made from an image its copy-on-write root and the image's
// defaults.
func setImageRootfs(s *store.Store, c *store.Container, o *specconv.Options, cfg *createConfig) error {
	images, err := openImages(s)
	if err != nil {
		return err
	}
	img, err := images.Get(cfg.Image)
	if err != nil {
		return err
	}
	layout := overlay.LayoutOf(s.ContainerDir(c.ID))
	if err := overlay.Mount(img.Lower, layout); err != nil {
		return err
	}
	o.RootfsPath = layout.Merged
	o.Image = &specconv.ImageConfig{
		Env: img.Config.Env, Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd,
		WorkingDir: img.Config.WorkingDir, User: img.Config.User, Labels: img.Config.Labels,
	}
	c.Image, c.ImageID = cfg.Image, img.ID
	return nil
}

// imageRootfs are the layer dirs of image id, for overlayfs' lowerdir.
func imageRootfs(s *store.Store, id string) ([]string, error) {
	images, err := openImages(s)
	if err != nil {
		return nil, err
	}
	img, err := images.Get(id)
	if err != nil {
		return nil, fmt.Errorf("the container's image %s: %w", id, err)
	}
	return img.Lower, nil
}

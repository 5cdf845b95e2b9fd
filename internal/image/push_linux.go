package image

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// Push sends the store's image local to the registry as ref (NAME[:TAG]), and gives the
// digest of the manifest it wrote. Each layer dir is written out as a gzipped layer tar
// (writeLayerTar: the same dir always gives the same bytes, so a layer two images share is
// one blob, uploaded once); the config is the image's platform and defaults with those
// layers' diff_ids. nb keeps no layer's original tar, so the pushed image's ID is not the
// local one's unless the image came from the same push. The store's shared lock is held
// meanwhile, so no layer of the image is removed while it is read.
func (s *Store) Push(ctx context.Context, local, ref string, opts RegistryOptions) (string, error) {
	r, err := parseReference(ref, opts)
	if err != nil {
		return "", err
	}
	if err := checkAuthFile(opts.AuthFile); err != nil {
		return "", err
	}
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return "", err
	}
	defer unlock()
	tags, err := readTags(s.dir)
	if err != nil {
		return "", err
	}
	id, _, err := s.resolve(local, tags)
	if err != nil {
		return "", err
	}
	rec, err := readRecord(s.imageDir(id))
	if err != nil {
		return "", fmt.Errorf("image %s: %w", id, err)
	}
	img, err := s.v1Image(rec)
	if err != nil {
		return "", fmt.Errorf("push %s: %w", local, err)
	}
	ropts, err := remoteOptions(r.Context().Registry, opts)
	if err != nil {
		return "", err
	}
	ropts = append(ropts, remote.WithContext(ctx))
	if opts.Progress != nil {
		updates := make(chan v1.Update, 16)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for u := range updates {
				opts.Progress(u.Complete, u.Total)
			}
		}()
		defer func() { <-done }()
		ropts = append(ropts, remote.WithProgress(updates))
	}
	if err := remote.Write(r, img, ropts...); err != nil {
		return "", registryError("push", r, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", err
	}
	return digest.String(), nil
}

// v1Image is image rec as ggcr's v1.Image: an OCI manifest, config and gzipped layer tars
// made from the layer dirs when they are read.
func (s *Store) v1Image(rec record) (v1.Image, error) {
	dirs := make([]string, 0, len(rec.Layers))
	for _, chain := range rec.Layers {
		dirs = append(dirs, filepath.Join(s.layerDir(chain), layerDiffDir))
	}
	if len(rec.Layers) == 0 {
		dirs = append(dirs, filepath.Join(s.imageDir(rec.ID), rootfsDir))
	}
	cfg := &v1.ConfigFile{
		Architecture: rec.Architecture,
		OS:           rec.OS,
		Created:      v1.Time{Time: rec.Created},
		Config: v1.Config{
			Env: rec.Config.Env, Entrypoint: rec.Config.Entrypoint, Cmd: rec.Config.Cmd,
			WorkingDir: rec.Config.WorkingDir, User: rec.Config.User, Labels: rec.Config.Labels,
			ExposedPorts: rec.Config.ExposedPorts, Volumes: rec.Config.Volumes, StopSignal: rec.Config.StopSignal,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	var adds []mutate.Addendum
	for _, dir := range dirs {
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(writeLayerTar(pw, dir)) }()
			return pr, nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", dir, err)
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{Created: v1.Time{Time: rec.Created}, CreatedBy: "nb push"}})
	}
	img, err = mutate.Append(img, adds...)
	if err != nil || !historyFits(rec.History, len(dirs)) {
		return img, err
	}
	// The image's own history, when it has one entry per layer (besides empty_layer ones),
	// replaces the "nb push" entries Append made.
	out, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	out = out.DeepCopy()
	out.History = nil
	for _, h := range rec.History {
		e := v1.History{CreatedBy: h.CreatedBy, Author: h.Author, Comment: h.Comment, EmptyLayer: h.EmptyLayer}
		if h.Created != nil {
			e.Created = v1.Time{Time: *h.Created}
		}
		out.History = append(out.History, e)
	}
	return mutate.ConfigFile(img, out)
}

// historyFits says whether history has one entry that is not empty_layer per layer, as a
// config's history must (config.md).
func historyFits(history []History, layers int) bool {
	n := 0
	for _, h := range history {
		if !h.EmptyLayer {
			n++
		}
	}
	return len(history) > 0 && n == layers
}

package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullResult is what Pull did: the image, its manifest's digest in the registry, and for each
// layer (lowest first) whether the store had it already.
type PullResult struct {
	Image   Image
	Digest  string
	Layers  []PulledLayer
	Existed bool // the store had the whole image: only the name moved
}

// PulledLayer is one layer of a pull: its blob's digest, and whether it was there already.
type PulledLayer struct {
	Digest  string
	Existed bool
}

// stallTimeout bounds a wait for the next bytes of a blob, down or up: a registry that stops
// sending, or taking, fails the pull or push instead of hanging it. A variable for tests.
var stallTimeout = 2 * time.Minute

// stallText says for how long nothing moved: "2m", as a person writes it.
func stallText() string {
	if stallTimeout%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(stallTimeout/time.Minute))
	}
	return stallTimeout.String()
}

// Pull fetches ref (NAME[:TAG] or NAME@DIGEST) from its registry into the store, named
// NAME:TAG (a pull by digest gives an untagged image, as the digest is no tag). An index is
// resolved to this machine's platform, linux/GOARCH. Only the layers the store lacks are
// fetched; each blob is read through ggcr's verifying reader, which fails at its end when its
// digest is not the manifest's, and each uncompressed layer is checked against the config's
// diff_id. The image's ID is its config's digest, as docker's is.
func (s *Store) Pull(ctx context.Context, ref string, opts RegistryOptions) (PullResult, error) {
	r, err := parseReference(ref, opts)
	if err != nil {
		return PullResult{}, err
	}
	if err := checkAuthFile(opts.AuthFile); err != nil {
		return PullResult{}, err
	}
	var names []Name
	if tag, ok := r.(name.Tag); ok {
		n, err := ParseName(tag.Context().Name() + ":" + tag.TagStr())
		if err != nil {
			return PullResult{}, err
		}
		names = []Name{n}
	}
	ctx, cancelCause := context.WithCancelCause(ctx)
	defer cancelCause(nil)
	// A stalled blob cancels the pull with this cause, for the error to say what happened
	// rather than "context canceled".
	stalled := fmt.Errorf("the registry sent nothing for %s", stallText())
	cancel := func() { cancelCause(stalled) }
	ropts, err := remoteOptions(r.Context().Registry, opts)
	if err != nil {
		return PullResult{}, err
	}
	platform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	ropts = append(ropts, remote.WithContext(ctx), remote.WithPlatform(platform))
	img, err := remote.Image(r, ropts...)
	if err != nil {
		return PullResult{}, registryError("pull", r, err)
	}
	res, err := s.pullImage(img, names, cancel, opts.Progress)
	if err != nil {
		if errors.Is(context.Cause(ctx), stalled) {
			err = fmt.Errorf("%w: %w", stalled, err)
		}
		return PullResult{}, registryError("pull", r, err)
	}
	return res, nil
}

// pullImage adds img, as the registry gave it, to the store.
func (s *Store) pullImage(img v1.Image, names []Name, cancel func(), progress Progress) (PullResult, error) {
	digest, err := img.Digest()
	if err != nil {
		return PullResult{}, err
	}
	raw, err := img.RawConfigFile() // checked against the manifest's config digest by ggcr
	if err != nil {
		return PullResult{}, err
	}
	var cfg configFile
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return PullResult{}, fmt.Errorf("parse image config: %w", err)
	}
	if err := cfg.checkDiffIDs(); err != nil {
		return PullResult{}, fmt.Errorf("image config: %w", err)
	}
	if cfg.OS != "" && cfg.OS != "linux" {
		return PullResult{}, fmt.Errorf("the image is for %s/%s, not linux", cfg.OS, cfg.Architecture)
	}
	// An index was resolved to this platform already; a single manifest is whatever it is.
	// docker warns and pulls it; nb refuses, since a container from it cannot run here.
	if cfg.Architecture != "" && cfg.Architecture != runtime.GOARCH {
		return PullResult{}, fmt.Errorf("the image is for %s/%s, this machine is linux/%s", cfg.OS, cfg.Architecture, runtime.GOARCH)
	}
	layers, err := img.Layers()
	if err != nil {
		return PullResult{}, err
	}
	if len(cfg.RootFS.DiffIDs) != len(layers) {
		return PullResult{}, fmt.Errorf("the config lists %d layers, the manifest %d", len(cfg.RootFS.DiffIDs), len(layers))
	}
	res := PullResult{Digest: digest.String()}
	id := sha256Hex(raw)
	rec := record{ID: id, Created: time.Now().UTC(), Architecture: cfg.Architecture, OS: cfg.OS, Config: cfg.defaults(), History: cfg.History}
	if cfg.Created != nil && !cfg.Created.IsZero() {
		rec.Created = cfg.Created.UTC()
	}
	sources, total, chain := make([]layerSource, len(layers)), int64(0), ""
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return PullResult{}, err
		}
		chain = chainOf(chain, cfg.RootFS.DiffIDs[i])
		existed := s.has(id) || s.hasLayer(chain)
		res.Layers = append(res.Layers, PulledLayer{Digest: d.String(), Existed: existed})
		if !existed {
			size, err := l.Size()
			if err != nil {
				return PullResult{}, err
			}
			total += size
		}
		sources[i] = layerSource{name: d.String(), diffID: cfg.RootFS.DiffIDs[i], open: func() (io.ReadCloser, error) {
			rc, err := l.Compressed()
			if err != nil {
				return nil, err
			}
			return newStallReader(rc, cancel), nil
		}}
	}
	if s.has(id) {
		res.Existed = true
		res.Image, err = s.tagExisting(id, names)
		return res, err
	}
	res.Image, err = s.addImage(rec, sources, names, &meter{total: total, fn: progress})
	return res, err
}

// stallReader cancels the pull when no byte has come for stallTimeout: http.Transport bounds
// the wait for a response's headers, not for its body.
type stallReader struct {
	rc    io.ReadCloser
	timer *time.Timer
	once  sync.Once
}

func newStallReader(rc io.ReadCloser, cancel func()) *stallReader {
	return &stallReader{rc: rc, timer: time.AfterFunc(stallTimeout, cancel)}
}

func (r *stallReader) Read(b []byte) (int, error) {
	n, err := r.rc.Read(b)
	if n > 0 {
		r.timer.Reset(stallTimeout)
	}
	return n, err
}

func (r *stallReader) Close() error {
	r.once.Do(func() { r.timer.Stop() })
	return r.rc.Close()
}

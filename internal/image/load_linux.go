package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Load adds the images in a `docker save` archive, an OCI image layout directory, or an OCI
// archive (a tar of a layout), the archives compressed or not. Each image's layers that the
// store lacks are unpacked, each into a layer of its own; an image the store holds already
// only gets the names the archive gives it. progress, if not nil, is told how many bytes of
// layers have been unpacked out of all those to unpack. Load returns the images, in the archive's order.
func (s *Store) Load(path string, progress Progress) ([]Image, error) {
	root, done, err := s.openArchive(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer done()
	images, err := s.loadFrom(root, progress)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return images, nil
}

// openArchive opens the root of the layout at path: the directory itself, or, for an archive,
// a work dir it is unpacked into (with a layer's checks: the archive comes from anyone too).
func (s *Store) openArchive(path string) (root *os.File, done func(), retErr error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if st.IsDir() {
		root, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return nil, nil, err
		}
		return root, func() { root.Close() }, nil
	}
	w, err := s.newWorkDir()
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if retErr != nil {
			w.remove()
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if _, err := unpackTarball(w.path, f); err != nil {
		return nil, nil, err
	}
	root, err = os.OpenFile(w.path, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, nil, err
	}
	return root, func() { root.Close(); w.remove() }, nil
}

// loadJob is an image of the archive with its config read.
type loadJob struct {
	archiveImage
	id     string // sha256 of the config: the image's ID, as docker computes it
	config configFile
}

// loadFrom loads the images of the layout at root: docker's manifest.json when it has one
// (it has the names), else OCI's index.json.
func (s *Store) loadFrom(root *os.File, progress Progress) ([]Image, error) {
	open := func(path string) (*os.File, error) { return openInRoot(root, path) }
	images, err := dockerImages(open)
	if isNotExist(err) {
		images, err = ociImages(open)
		if isNotExist(err) {
			return nil, errors.New("not an image archive: no manifest.json (docker) nor oci-layout and index.json (OCI)")
		}
	}
	if err != nil {
		return nil, err
	}
	jobs, total, err := s.plan(open, images)
	if err != nil {
		return nil, err
	}
	m := &meter{total: total, fn: progress}
	var out []Image
	for _, j := range jobs {
		img, err := s.loadImage(open, j, m)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", j.id, err)
		}
		out = append(out, img)
	}
	return out, nil
}

// plan reads the images' configs and adds up the bytes of the layers to unpack: those of
// images and layers the store does not hold yet.
func (s *Store) plan(open opener, images []archiveImage) ([]loadJob, int64, error) {
	var jobs []loadJob
	var total int64
	counted := map[string]bool{}
	for _, img := range images {
		j := loadJob{archiveImage: img}
		data, err := readBlob(open, img.config)
		if err != nil {
			return nil, 0, err
		}
		if err := json.Unmarshal(data, &j.config); err != nil {
			return nil, 0, fmt.Errorf("parse config %s: %w", img.config.path, err)
		}
		if err := j.config.checkDiffIDs(); err != nil {
			return nil, 0, fmt.Errorf("config %s: %w", img.config.path, err)
		}
		if n := len(j.config.RootFS.DiffIDs); n != 0 && n != len(img.layers) {
			return nil, 0, fmt.Errorf("config %s lists %d layers, the manifest %d", img.config.path, n, len(img.layers))
		}
		j.id = sha256Hex(data)
		jobs = append(jobs, j)
		if s.has(j.id) || counted[j.id] {
			continue
		}
		counted[j.id] = true
		for i, l := range img.layers {
			if chain := j.chainID(i); chain != "" && (s.hasLayer(chain) || counted["layer-"+chain]) {
				continue
			} else if chain != "" {
				counted["layer-"+chain] = true
			}
			size, err := blobSize(open, l)
			if err != nil {
				return nil, 0, err
			}
			total += size
		}
	}
	return jobs, total, nil
}

// chainID is the chain ID of j's layer i as its config's diff_ids make it, or "" when the
// config has none (a layer is then unpacked to learn it).
func (j loadJob) chainID(i int) string {
	ids := j.config.RootFS.DiffIDs
	if len(ids) == 0 {
		return ""
	}
	chain := ""
	for _, d := range ids[:i+1] {
		chain = chainOf(chain, d)
	}
	return chain
}

func blobSize(open opener, ref blobRef) (int64, error) {
	f, err := open(ref.path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// loadImage unpacks the layers of one image that the store lacks into a work dir and adds the
// image to the store.
func (s *Store) loadImage(open opener, j loadJob, m *meter) (Image, error) {
	if s.has(j.id) {
		return s.tagExisting(j.id, j.names)
	}
	rec := record{
		ID:           j.id,
		Created:      time.Now().UTC(),
		Architecture: j.config.Architecture,
		OS:           j.config.OS,
		Config:       j.config.defaults(),
		History:      j.config.History,
	}
	if j.config.Created != nil && !j.config.Created.IsZero() {
		rec.Created = j.config.Created.UTC()
	}
	layers := make([]layerSource, len(j.layers))
	for i, l := range j.layers {
		layers[i] = layerSource{name: l.path, digest: l.digest, open: func() (io.ReadCloser, error) { return open(l.path) }}
		if len(j.config.RootFS.DiffIDs) > 0 {
			layers[i].diffID = j.config.RootFS.DiffIDs[i]
		}
	}
	return s.addImage(rec, layers, j.names, m)
}

// layerSource is a layer of an image being added: how to read its blob (compressed or not)
// and what it must hash to.
type layerSource struct {
	name   string // the blob, for errors: its path in an archive, its digest in a registry
	diffID string // "sha256:HEX" of the uncompressed tar, from the config; "" if none
	digest string // "sha256:HEX" of the blob, checked here; "" when unknown or checked by open's reader
	open   func() (io.ReadCloser, error)
}

// addImage adds the image rec with layers, lowest first: those the store lacks are unpacked
// into a work dir, then all come into the store with the image in commit. rec's Layers,
// DiffIDs and Size are filled in here.
func (s *Store) addImage(rec record, layers []layerSource, names []Name, m *meter) (Image, error) {
	w, err := s.newImageWorkDir()
	if err != nil {
		return Image{}, err
	}
	defer w.remove()
	parent := ""
	for i, l := range layers {
		layer, err := s.addLayer(w, l, parent, m)
		if err != nil {
			return Image{}, fmt.Errorf("layer %d (%s): %w", i+1, l.name, err)
		}
		rec.Layers = append(rec.Layers, layer.ChainID)
		rec.DiffIDs = append(rec.DiffIDs, layer.DiffID)
		rec.Size += layer.Size
		parent = layer.ChainID
	}
	return s.commit(w, rec, names)
}

// addLayer gives the record of layer l on parent: the store's, when it holds the layer, or
// that of l unpacked into w.
func (s *Store) addLayer(w *workDir, l layerSource, parent string, m *meter) (layerRecord, error) {
	if l.diffID != "" {
		// Claimed before it is looked for: a removal's garbage collection either ran before
		// (and the layer is unpacked anew) or sees the claim and keeps it until w is gone.
		chain := chainOf(parent, l.diffID)
		if err := w.claim(chain); err != nil {
			return layerRecord{}, err
		}
		if s.hasLayer(chain) {
			return s.readLayer(chain)
		}
	}
	lowers, err := s.lowerDiffDirs(w, parent)
	if err != nil {
		return layerRecord{}, err
	}
	f, err := l.open()
	if err != nil {
		return layerRecord{}, err
	}
	defer f.Close()
	var blobHash hash.Hash
	r := m.reader(f)
	if l.digest != "" {
		blobHash = sha256.New()
		r = io.TeeReader(r, blobHash)
	}
	layer, unpackErr := w.unpackLayer(r, parent, l.diffID, false, lowers)
	// The decompressor may stop short of the blob's end (gzip's trailer, padding), and a
	// verifying reader checks the digest only at the end: read it all. When unpacking failed,
	// a blob that is not what the manifest says is the cause to report, not what its
	// corrupted bytes made the tar reader say.
	_, drainErr := io.Copy(io.Discard, r)
	if blobHash != nil && drainErr == nil {
		if d := "sha256:" + hex.EncodeToString(blobHash.Sum(nil)); d != l.digest {
			drainErr = fmt.Errorf("blob has digest %s, the manifest says %s", d, l.digest)
		}
	}
	if drainErr != nil && (unpackErr == nil || isDigestError(drainErr)) {
		return layerRecord{}, drainErr
	}
	return layer, unpackErr
}

// isDigestError says whether err is a blob's digest mismatch: ours, or that of ggcr's
// verifying reader (internal/verify: "error verifying sha256 checksum").
func isDigestError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "blob has digest") || strings.Contains(msg, "error verifying")
}

// openInRoot opens the regular file path of a layout for reading. Archives hold symlinks
// (older `docker save` links a layer two images share), so path is resolved by pathrs-lite,
// which follows them only within root: a link to /etc/shadow is /etc/shadow of the archive.
func openInRoot(root *os.File, path string) (*os.File, error) {
	h, err := pathrs.OpenatInRoot(root, path)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	// Checked on the O_PATH handle, before opening: opening a fifo would block.
	st, err := h.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s in the archive is not a regular file", path)
	}
	return pathrs.Reopen(h, unix.O_RDONLY|unix.O_CLOEXEC)
}

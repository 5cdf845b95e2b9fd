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
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// Load adds the images in a `docker save` archive, an OCI image layout directory, or an OCI
// archive (a tar of a layout), the archives compressed or not. Each image's layers are
// applied in order into a new rootfs; an image the store holds already only gets the names
// the archive gives it. progress, if not nil, is told how many bytes of layers have been
// unpacked out of all those to unpack. Load returns the images, in the archive's order.
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

// plan reads the images' configs and adds up the bytes of the layers to unpack.
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
		if n := len(j.config.RootFS.DiffIDs); n != 0 && n != len(img.layers) {
			return nil, 0, fmt.Errorf("config %s lists %d layers, the manifest %d", img.config.path, n, len(img.layers))
		}
		j.id = sha256Hex(data)
		jobs = append(jobs, j)
		if s.has(j.id) || counted[j.id] {
			continue
		}
		counted[j.id] = true
		for _, l := range img.layers {
			size, err := blobSize(open, l)
			if err != nil {
				return nil, 0, err
			}
			total += size
		}
	}
	return jobs, total, nil
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

// loadImage unpacks one image's layers into a work dir and adds it to the store.
func (s *Store) loadImage(open opener, j loadJob, m *meter) (Image, error) {
	if s.has(j.id) {
		return s.tagExisting(j.id, j.names)
	}
	w, rootfs, err := s.newImageWorkDir()
	if err != nil {
		return Image{}, err
	}
	defer w.remove()
	if err := applyLayers(rootfs, open, j, m); err != nil {
		return Image{}, err
	}
	size, err := treeSize(rootfs)
	if err != nil {
		return Image{}, fmt.Errorf("size of rootfs: %w", err)
	}
	rec := record{
		ID:           j.id,
		Created:      time.Now().UTC(),
		Size:         size,
		Architecture: j.config.Architecture,
		OS:           j.config.OS,
		Config:       j.config.defaults(),
	}
	if j.config.Created != nil && !j.config.Created.IsZero() {
		rec.Created = j.config.Created.UTC()
	}
	return s.commit(w, rec, j.names)
}

// applyLayers unpacks j's layers, lowest first, into dir.
func applyLayers(dir string, open opener, j loadJob, m *meter) error {
	a, err := newApplier(dir, true)
	if err != nil {
		return err
	}
	defer a.close()
	for i, l := range j.layers {
		var diffID string
		if len(j.config.RootFS.DiffIDs) > 0 {
			diffID = j.config.RootFS.DiffIDs[i]
		}
		if err := applyLayer(a, open, l, diffID, m); err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, l.path, err)
		}
	}
	return a.finish()
}

// applyLayer unpacks one layer, checking the blob against its descriptor's digest and the
// uncompressed tar against the config's diff_id, as image-spec config.md defines them.
func applyLayer(a *applier, open opener, l blobRef, diffID string, m *meter) error {
	f, err := open(l.path)
	if err != nil {
		return err
	}
	defer f.Close()
	var blobHash hash.Hash
	r := m.reader(f)
	if l.digest != "" {
		blobHash = sha256.New()
		r = io.TeeReader(r, blobHash)
	}
	got, err := applyStream(a, r)
	if err != nil {
		return err
	}
	if blobHash != nil {
		// The decompressor may stop short of the blob's end (gzip's trailer, padding).
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		if d := "sha256:" + hex.EncodeToString(blobHash.Sum(nil)); d != l.digest {
			return fmt.Errorf("blob has digest %s, the manifest says %s", d, l.digest)
		}
	}
	if diffID != "" && "sha256:"+got != diffID {
		return fmt.Errorf("uncompressed layer has digest sha256:%s, the config's diff_id is %s", got, diffID)
	}
	return nil
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

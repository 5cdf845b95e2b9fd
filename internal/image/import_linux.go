package image

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// Import adds the root filesystem in the tarball at path (what `docker export` writes: plain,
// gzip, xz, zstd or bzip2, told apart by magic number) as an image named repository:tag, or
// untagged when repository is "". The tag defaults to "latest". progress, if not nil, is told
// how much of the file has been read.
func (s *Store) Import(path, repository, tag string, progress Progress) (Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return Image{}, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	total := int64(-1)
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		total = st.Size()
	}
	img, err := s.ImportReader(f, total, repository, tag, progress)
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", path, err)
	}
	return img, nil
}

// ImportReader is Import from a stream (`nb import - NAME` reads standard input), total bytes
// long, or -1 when that is unknown. The image's ID is the sha256 of the uncompressed tar (its
// "diff ID"), so one tarball imported twice, compressed either way, is one image.
func (s *Store) ImportReader(r io.Reader, total int64, repository, tag string, progress Progress) (Image, error) {
	var names []Name
	switch {
	case repository != "":
		n, err := nameFrom(repository, tag)
		if err != nil {
			return Image{}, err
		}
		names = []Name{n}
	case tag != "":
		return Image{}, fmt.Errorf("tag %q given without a repository", tag)
	}
	w, err := s.newImageWorkDir()
	if err != nil {
		return Image{}, err
	}
	defer w.remove()
	m := &meter{total: total, fn: progress}
	// The tarball is the image's one layer.
	layer, err := w.unpackLayer(m.reader(r), "", "", true, nil)
	if err != nil {
		return Image{}, err
	}
	// A bare rootfs says nothing of its platform: like `docker import`, take this machine's.
	rec := record{
		ID: layer.ChainID, Created: time.Now().UTC(), Size: layer.Size, Architecture: runtime.GOARCH, OS: "linux",
		Layers: []string{layer.ChainID}, DiffIDs: []string{layer.DiffID},
	}
	return s.commit(w, rec, names)
}

// unpackTarball unpacks the rootfs tarball r into dir and returns its diff ID. A rootfs
// tarball is no layer: a ".wh." file in it is a file.
func unpackTarball(dir string, r io.Reader) (string, error) {
	a, err := newApplier(dir, false, nil)
	if err != nil {
		return "", err
	}
	defer a.close()
	id, err := applyStream(a, r)
	if err != nil {
		return "", err
	}
	return id, a.finish()
}

// applyStream decompresses r, unpacks it as one layer and returns the sha256 of the
// uncompressed tar in hex, read to its very end so that padding after the end-of-archive
// marker counts too, as it does for the digest the image config records.
func applyStream(a *applier, r io.Reader) (string, error) {
	zr, err := decompress(r)
	if err != nil {
		return "", err
	}
	defer zr.Close()
	h := sha256.New()
	tr := io.TeeReader(zr, h)
	if err := a.applyLayer(tr); err != nil {
		return "", err
	}
	if _, err := io.Copy(io.Discard, tr); err != nil {
		return "", fmt.Errorf("read tar: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// meter counts the bytes read through its readers and tells fn, for a progress bar.
type meter struct {
	done, total int64
	fn          Progress
}

func (m *meter) reader(r io.Reader) io.Reader { return &meteredReader{r: r, m: m} }

type meteredReader struct {
	r io.Reader
	m *meter
}

func (mr *meteredReader) Read(b []byte) (int, error) {
	n, err := mr.r.Read(b)
	if n > 0 {
		mr.m.done += int64(n)
		if mr.m.fn != nil {
			mr.m.fn(mr.m.done, mr.m.total)
		}
	}
	return n, err
}

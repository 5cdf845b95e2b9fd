package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/nebulon-dev/nebulon/internal/overlay"
)

// testTime is the mtime the test tars give entries that name none.
var testTime = time.Date(2024, 5, 1, 12, 30, 0, 0, time.UTC)

// entry is one member of a tar a test builds.
type entry struct {
	tar.Header
	Body string
}

func reg(name, body string) entry {
	return entry{Header: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644}, Body: body}
}

func dir(name string) entry {
	return entry{Header: tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}}
}

func symlink(name, target string) entry {
	return entry{Header: tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}}
}

func hardlink(name, target string) entry {
	return entry{Header: tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644}}
}

// makeTar builds a tar of entries, in order, as docker would write them.
func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = testTime
		}
		if len(h.PAXRecords) > 0 {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %s: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatalf("tar body %s: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzed(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstded(t testing.TB, data []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(data, nil)
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func writeTestFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// requireRoot skips tests that chown, mknod and set setuid bits: only root can.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacking images sets owners, setuid bits and device nodes")
	}
}

// newTestStore opens a store in a fresh directory.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertStoreEmpty checks that a failed import or load, or removing the last image, left
// nothing: no image, no name, no work dir.
func assertStoreEmpty(t *testing.T, s *Store) {
	t.Helper()
	entries, err := os.ReadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case ".lock", "tmp":
		case layersDir, linksDir:
			if left, _ := os.ReadDir(filepath.Join(s.Dir(), e.Name())); len(left) != 0 {
				t.Errorf("store's %s/ holds %d entries, the first %s", e.Name(), len(left), left[0].Name())
			}
		case repositoriesFile:
			if tags, err := readTags(s.Dir()); err != nil || len(tags) != 0 {
				t.Errorf("names left: %v, %v", tags, err)
			}
		default:
			t.Errorf("store holds %s", e.Name())
		}
	}
	work, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp"))
	for _, e := range work {
		t.Errorf("store's tmp/ holds %s", e.Name())
	}
}

// imageRoot mounts img's layers as a container would see them, read-only in effect (the upper
// dir is the test's), and gives the merged root; it is unmounted when the test ends.
func imageRoot(t *testing.T, img Image) string {
	t.Helper()
	l := overlay.LayoutOf(t.TempDir())
	if err := overlay.Mount(img.Lower, l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { overlay.Unmount(l) })
	return l.Merged
}

// assertNoFileNamed checks that no file under root is called name: an escaping entry wrote
// nothing anywhere in the test's directories.
func assertNoFileNamed(t *testing.T, root, name string) {
	t.Helper()
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), name) {
			t.Errorf("%s was written", path)
		}
		return nil
	})
}

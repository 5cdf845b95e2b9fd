package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// refusedEntry is a hostile tar and the entry that must be refused, by name.
type refusedEntry struct {
	name    string
	entries []entry
	refused string // the entry the error must name
}

// hostileTars are tars whose entries try to write outside the root. outside is an absolute
// directory that must stay empty; marker is in every name the tars try to write.
func hostileTars(outside, marker string) []refusedEntry {
	rel := strings.TrimPrefix(outside, "/")
	return []refusedEntry{
		{"dot-dot", []entry{reg("../"+marker, "x")}, "../" + marker},
		{"dot-dot inside a path", []entry{dir("a/"), reg("a/../../"+marker, "x")}, "a/../../" + marker},
		{"absolute path", []entry{reg(outside+"/"+marker, "x")}, outside + "/" + marker},
		{"through a symlink to /", []entry{symlink("link", "/"), reg("link/"+rel+"/"+marker, "x")}, "link/" + rel + "/" + marker},
		{"through a symlink to ..", []entry{symlink("up", ".."), reg("up/"+marker, "x")}, "up/" + marker},
		{"directory through a symlink", []entry{symlink("link", outside), dir("link/" + marker + "/")}, "link/" + marker + "/"},
		{"hard link out of the root", []entry{hardlink(marker, "../../etc/passwd")}, marker},
		{"hard link to an absolute path", []entry{hardlink(marker, "/etc/passwd")}, marker},
		{"hard link through a symlink", []entry{symlink("link", "/"), hardlink(marker, "link/etc/passwd")}, marker},
	}
}

func TestImportRefusesEntriesOutsideTheRoot(t *testing.T) {
	requireRoot(t)
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	os.Mkdir(outside, 0o755)
	const marker = "escaped-by-test"
	for _, tc := range hostileTars(outside, marker) {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(filepath.Join(top, "store-"+strings.ReplaceAll(tc.name, " ", "-")))
			if err != nil {
				t.Fatal(err)
			}
			entries := append([]entry{reg("harmless", "ok")}, tc.entries...)
			tarball := writeTestFile(t, filepath.Join(t.TempDir(), "rootfs.tar"), makeTar(t, entries...))
			_, err = s.Import(tarball, "hostile", "", nil)
			checkRefused(t, err, tc.refused)
			assertStoreEmpty(t, s)
			assertNoFileNamed(t, top, marker)
			if _, err := os.Stat("/" + marker); err == nil {
				t.Errorf("/%s was written", marker)
			}
		})
	}
}

// TestLoadNeverWritesThroughASymlinkOfALowerLayer: each layer is unpacked into a directory of
// its own, so the next layer's entry under "etc" makes a directory etc in its layer, and the
// lower layer's symlink is never followed; in the image the directory hides the symlink, as
// overlayfs shows an upper directory over a lower non-directory.
func TestLoadNeverWritesThroughASymlinkOfALowerLayer(t *testing.T) {
	requireRoot(t)
	top := t.TempDir()
	outside := filepath.Join(top, "outside")
	os.Mkdir(outside, 0o755)
	s, err := Open(filepath.Join(top, "store"))
	if err != nil {
		t.Fatal(err)
	}
	entry := "etc/" + strings.TrimPrefix(outside, "/") + "/escaped-by-test"
	layers := [][]byte{
		makeTar(t, symlink("etc", "/")),
		makeTar(t, reg(entry, "x")),
	}
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, imageConfig(t, layers), []string{"hostile:1"}))
	images, err := s.Load(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outside, "escaped-by-test")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the entry was written through the lower layer's symlink: %v", err)
	}
	root := imageRoot(t, images[0])
	if fi, err := os.Lstat(filepath.Join(root, "etc")); err != nil || !fi.IsDir() {
		t.Errorf("etc in the image: %v, %v; want the upper layer's directory", fi, err)
	}
	if got, err := os.ReadFile(filepath.Join(root, entry)); err != nil || string(got) != "x" {
		t.Errorf("%s in the image = %q, %v; want x", entry, got, err)
	}
}

func TestLoadRefusesWhiteoutOfDotDot(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := [][]byte{makeTar(t, dir("a/"), reg("a/keep", "k")), makeTar(t, reg("a/.wh...", ""))}
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, imageConfig(t, layers), nil))
	_, err := s.Load(archive, nil)
	checkRefused(t, err, "a/.wh...")
	assertStoreEmpty(t, s)
}

func TestLoadRefusesHostileArchiveMember(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), makeTar(t, reg("manifest.json", "[]"), reg("../escaped-by-test", "x")))
	_, err := s.Load(archive, nil)
	checkRefused(t, err, "../escaped-by-test")
	assertStoreEmpty(t, s)
}

func checkRefused(t *testing.T, err error, entry string) {
	t.Helper()
	t.Log(err)
	var unsafe *UnsafeEntryError
	if !errors.As(err, &unsafe) {
		t.Fatalf("err = %v, want an UnsafeEntryError", err)
	}
	if unsafe.Entry != entry || !strings.Contains(err.Error(), entry) {
		t.Errorf("error %q names entry %q, want %q", err, unsafe.Entry, entry)
	}
}

func TestImportReplacesAndMergesLikeTar(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	tarball := writeTestFile(t, filepath.Join(t.TempDir(), "rootfs.tar"), makeTar(t,
		dir("d/"), reg("d/a", "1"),
		dir("d/").mode(0o750),            // a directory again: merged, its mode updated
		reg("f", "old"), reg("f", "new"), // a file again: replaced
		symlink("s", "f"), reg("s", "not a link"), // a file over a symlink: the link goes, f stays
		reg(".wh.kept", "a rootfs tarball has no whiteouts"),
	))
	img, err := s.Import(tarball, "merge", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	root := imageRoot(t, img)
	for path, want := range map[string]string{"d/a": "1", "f": "new", "s": "not a link", ".wh.kept": "a rootfs tarball has no whiteouts"} {
		if got, err := os.ReadFile(filepath.Join(root, path)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	if st := lstat(t, filepath.Join(root, "d")); st.Mode&0o7777 != 0o750 {
		t.Errorf("d mode %#o, want the later entry's 0750", st.Mode&0o7777)
	}
	if fi, err := os.Lstat(filepath.Join(root, "s")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("s: %v, %v; want a regular file", fi, err)
	}
}

package image

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestChainIDOfOneLayerIsItsDiffIDAndOfMoreIsTheDigestOfTheChain(t *testing.T) {
	a, b := "sha256:"+digestOf([]byte("a")), "sha256:"+digestOf([]byte("b"))
	if got := chainOf("", a); got != digestOf([]byte("a")) {
		t.Errorf("chain of one layer %s, want its diff ID", got)
	}
	// image-spec config.md: ChainID(A|B) = Digest(ChainID(A) + " " + DiffID(B)).
	if got, want := chainOf(chainOf("", a), b), digestOf([]byte(a+" "+b)); got != want {
		t.Errorf("chain of two layers %s, want %s", got, want)
	}
}

// layerDirs lists the layers the store holds.
func layerDirs(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(s.Dir(), layersDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestImagesSharingALayerStoreItOnceAndTheLastRemovalFreesIt(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	base := makeTar(t, reg("base", "shared"))
	load := func(top []byte, name string) Image {
		layers := [][]byte{base, top}
		layout := t.TempDir()
		ociLayout(t, layout, layers, imageConfig(t, layers), map[string]string{annotationRefName: name}, false)
		images, err := s.Load(layout, nil)
		if err != nil {
			t.Fatal(err)
		}
		return images[0]
	}
	a := load(makeTar(t, reg("top", "a")), "example/a:1")
	b := load(makeTar(t, reg("top", "b")), "example/b:1")
	if got := len(layerDirs(t, s)); got != 3 {
		t.Fatalf("store holds %d layers, want 3: the base once, a top for each image", got)
	}
	if a.Lower[1] != b.Lower[1] {
		t.Errorf("bottom layers %s and %s, want the one shared", a.Lower[1], b.Lower[1])
	}
	if a.Size != int64(len("shared")+len("a")) {
		t.Errorf("size of a %d, want its layers' files", a.Size)
	}
	res, err := s.Remove("example/a:1", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{chainOf(chainOf("", a.Layers[0]), a.Layers[1])}; !reflect.DeepEqual(res.DeletedLayers, want) {
		t.Errorf("removing a freed layers %v, want its top only %v", res.DeletedLayers, want)
	}
	if got, err := os.ReadFile(filepath.Join(imageRoot(t, b), "base")); err != nil || string(got) != "shared" {
		t.Errorf("b's base after a's removal = %q, %v", got, err)
	}
	if _, err := s.Remove("example/b:1", nil, false); err != nil {
		t.Fatal(err)
	}
	assertStoreEmpty(t, s)
}

func TestLayerWhiteoutsAreOverlayfsWhiteouts(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := fixtureLayers(t)
	layout := t.TempDir()
	ociLayout(t, layout, layers, imageConfig(t, layers), map[string]string{annotationRefName: "x/y:1"}, false)
	images, err := s.Load(layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	upper := images[0].Lower[0]
	gone := lstat(t, filepath.Join(upper, "gone"))
	if gone.Mode&unix.S_IFMT != unix.S_IFCHR || gone.Rdev != 0 {
		t.Errorf("gone in the upper layer: mode %#o rdev %d, want a 0/0 character device", gone.Mode, gone.Rdev)
	}
	buf := make([]byte, 8)
	if n, err := unix.Lgetxattr(filepath.Join(upper, "opaque"), opaqueXattr, buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque's %s = %q, %v; want y", opaqueXattr, buf[:n], err)
	}
	if _, err := os.Lstat(filepath.Join(upper, "fresh")); err != nil {
		t.Errorf("fresh, whited out in its own layer, must stay: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(upper, ".wh.gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf(".wh.gone stored as a file: %v", err)
	}
}

// TestLayersACrashLeftWithoutImageAreFreedByTheNextCommand: a commit renames the layers, then
// the image; a kill in between leaves layers no image uses, which the next writer deletes.
func TestLayersACrashLeftWithoutImageAreFreedByTheNextCommand(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	img := importTar(t, s, "x", "")
	orphan := s.layerDir(img.Layers[0][len("sha256:"):])
	if err := os.Rename(s.imageDir(img.ID), filepath.Join(s.Dir(), "tmp", "gone")); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(s.Dir(), "tmp", "gone"))
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan layer kept: %v", err)
	}
	assertStoreEmpty(t, s)
}

// TestManyLayersMountThroughShortLinks: 200 layers of absolute 64-digit paths would pass the
// page the mount option must fit in; their short links from l/ do not.
func TestManyLayersMountThroughShortLinks(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	var layers [][]byte
	for i := range 150 {
		layers = append(layers, makeTar(t, reg("f", string(rune('a'+i%26)))))
	}
	layout := t.TempDir()
	ociLayout(t, layout, layers, imageConfig(t, layers), map[string]string{annotationRefName: "many/layers:1"}, false)
	images, err := s.Load(layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(imageRoot(t, images[0]), "f")); err != nil || string(got) != string(rune('a'+149%26)) {
		t.Errorf("f = %q, %v; want the top layer's", got, err)
	}
}

// TestALayerDirWritesBackAsTheLayerItCameFrom: push writes a stored layer out as a tar; read
// in again it is the same layer (whiteouts, opaque dirs, hard links, modes and owners), and
// writing it twice gives the same bytes, so a shared layer is one blob.
func TestALayerDirWritesBackAsTheLayerItCameFrom(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := fixtureLayers(t)
	layout := t.TempDir()
	ociLayout(t, layout, layers, imageConfig(t, layers), map[string]string{annotationRefName: "x/y:1"}, false)
	images, err := s.Load(layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tars [][]byte
	rec, err := readRecord(s.imageDir(images[0].ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, chain := range rec.Layers {
		var a, b strings.Builder
		dir := filepath.Join(s.layerDir(chain), layerDiffDir)
		if err := writeLayerTar(&a, dir); err != nil {
			t.Fatal(err)
		}
		writeLayerTar(&b, dir)
		if a.String() != b.String() {
			t.Fatal("one layer dir written twice gave two tars")
		}
		tars = append(tars, []byte(a.String()))
	}
	again := newTestStore(t)
	layout = t.TempDir()
	ociLayout(t, layout, tars, imageConfig(t, tars), map[string]string{annotationRefName: "x/y:1"}, false)
	images, err = again.Load(layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := imageRoot(t, images[0])
	checkWhiteouts(t, root)
	checkMetadata(t, root)
	checkLinks(t, root)
}

// TestAnImageFromBeforeTheLayerStoreStillMountsAndGoes: an image of the old layout (its tree
// in ID/rootfs/, no layers in its record) is its own one lower dir, and rm removes it whole.
func TestAnImageFromBeforeTheLayerStoreStillMountsAndGoes(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	id := digestOf([]byte("an old image"))
	writeTestFile(t, filepath.Join(s.imageDir(id), rootfsDir, "etc", "os-release"), []byte("ID=old\n"))
	if err := writeJSON(s.imageDir(id), metadataFile, record{ID: id, OS: "linux", Size: 7}); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(s.Dir(), repositoriesFile, map[string]string{"old:latest": id}); err != nil {
		t.Fatal(err)
	}
	img, err := s.Get("old")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(s.imageDir(id), rootfsDir)}; !reflect.DeepEqual(img.Lower, want) {
		t.Errorf("Lower %v, want %v", img.Lower, want)
	}
	if got, err := os.ReadFile(filepath.Join(imageRoot(t, img), "etc/os-release")); err != nil || string(got) != "ID=old\n" {
		t.Errorf("etc/os-release = %q, %v", got, err)
	}
	if _, err := s.Remove("old", nil, false); err != nil {
		t.Fatal(err)
	}
	assertStoreEmpty(t, s)
}

// TestALoadReusesTheLayersACrashLeftWithoutTheirImage: a commit killed between its layers'
// renames and its image's leaves the layers; loading the image again uses them, rather than
// finding them freed under it by its own commit.
func TestALoadReusesTheLayersACrashLeftWithoutTheirImage(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := fixtureLayers(t)
	layout := t.TempDir()
	ociLayout(t, layout, layers, imageConfig(t, layers), map[string]string{annotationRefName: "x/y:1"}, false)
	images, err := s.Load(layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The crash: the image's directory never came into place (its name neither).
	if err := os.RemoveAll(s.imageDir(images[0].ID)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(s.Dir(), repositoriesFile)); err != nil {
		t.Fatal(err)
	}
	var unpacked int64
	images, err = s.Load(layout, func(done, _ int64) { unpacked = done })
	if err != nil {
		t.Fatalf("load after the crash: %v", err)
	}
	if unpacked != 0 {
		t.Errorf("%d bytes unpacked again, want the layers the crash left used", unpacked)
	}
	checkWhiteouts(t, imageRoot(t, images[0]))
}

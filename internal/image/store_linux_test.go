package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// importTar imports a one-file rootfs whose content is body, named name ("" for none).
func importTar(t testing.TB, s *Store, body, name string) Image {
	t.Helper()
	repo, tag := name, ""
	if i := strings.LastIndex(name, ":"); i > 0 {
		repo, tag = name[:i], name[i+1:]
	}
	img, err := s.ImportReader(bytes.NewReader(makeTar(t, reg("file", body))), -1, repo, tag, nil)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// twoTarsSharingAPrefix finds two bodies whose rootfs tars' IDs start with the same hex digit,
// so an ambiguous prefix can be tested without luck.
func twoTarsSharingAPrefix(t *testing.T) (string, string) {
	seen := map[byte]string{}
	for i := 0; ; i++ {
		body := "body " + strconv.Itoa(i)
		c := digestOf(makeTar(t, reg("file", body)))[0]
		if other, ok := seen[c]; ok {
			return other, body
		}
		seen[c] = body
	}
}

func TestGetResolvesNamesIDsAndPrefixes(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	bodyA, bodyB := twoTarsSharingAPrefix(t)
	a := importTar(t, s, bodyA, "app:1")
	b := importTar(t, s, bodyB, "app")
	c := importTar(t, s, "third", "")
	if a.ID[0] != b.ID[0] {
		t.Fatalf("fixture: %s and %s share no prefix", a.ID, b.ID)
	}
	for ref, want := range map[string]string{
		"app":                     b.ID,
		"app:latest":              b.ID,
		"app:1":                   a.ID,
		"docker.io/library/app:1": a.ID,
		a.ID:                      a.ID,
		"sha256:" + a.ID:          a.ID,
		c.ID[:12]:                 c.ID,
		uniquePrefix(a.ID, b.ID):  a.ID,
	} {
		img, err := s.Get(ref)
		if err != nil || img.ID != want {
			t.Errorf("Get(%q) = %s, %v; want %s", ref, img.ID, err, want)
		}
	}
	if _, err := s.Get(a.ID[:1]); !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), a.ID[:12]) {
		t.Errorf("Get(%q) = %v, want ErrAmbiguous listing both", a.ID[:1], err)
	}
	for _, ref := range []string{"app:2", "other", "ffffffffffff", ""} {
		if _, err := s.Get(ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", ref, err)
		}
	}
	if img, _ := s.Get("app:1"); img.Repository != "app" || img.Tag != "1" {
		t.Errorf("Get(app:1) names %s:%s, want the name asked for", img.Repository, img.Tag)
	}
}

// uniquePrefix is the shortest prefix of a that b does not have.
func uniquePrefix(a, b string) string {
	for i := range a {
		if a[i] != b[i] {
			return a[:i+1]
		}
	}
	return a
}

func TestTagMovesToTheNewerImport(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	old := importTar(t, s, "v1", "app")
	importTar(t, s, "v2", "app")
	img, err := s.Get(old.ID)
	if err != nil {
		t.Fatalf("the old image went with its tag: %v", err)
	}
	if len(img.RepoTags) != 0 {
		t.Errorf("old image still tagged %v", img.RepoTags)
	}
	rows, _ := s.List()
	if len(rows) != 2 || rows[0].Tag != "latest" || rows[1].Repository != "" {
		t.Errorf("List = %+v, want app:latest then an untagged row, newest first", rows)
	}
}

func TestRemoveUntagsThenDeletes(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	img := importTar(t, s, "x", "app:1")
	importTar(t, s, "x", "app:2")
	res, err := s.Remove("app:1", nil, false)
	if err != nil || !reflect.DeepEqual(res, RemoveResult{Untagged: []string{"app:1"}}) {
		t.Fatalf("Remove(app:1) = %+v, %v; want app:1 untagged only", res, err)
	}
	if _, err := os.Stat(img.Lower[0]); err != nil {
		t.Fatalf("rootfs gone while app:2 names it: %v", err)
	}
	res, err = s.Remove("app:2", nil, false)
	if err != nil || res.Deleted != img.ID || !reflect.DeepEqual(res.Untagged, []string{"app:2"}) {
		t.Fatalf("Remove(app:2) = %+v, %v; want the image deleted", res, err)
	}
	if _, err := os.Stat(img.Lower[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rootfs still there: %v", err)
	}
	assertStoreEmpty(t, s)
}

func TestRemoveByIDOfAnImageWithSeveralNamesNeedsForce(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	img := importTar(t, s, "x", "app:1")
	importTar(t, s, "x", "other:1")
	if _, err := s.Remove(img.ID, nil, false); err == nil || !strings.Contains(err.Error(), "app:1, other:1") {
		t.Fatalf("Remove by ID = %v, want a refusal naming both tags", err)
	}
	res, err := s.Remove(img.ID[:10], nil, true)
	if err != nil || res.Deleted != img.ID || len(res.Untagged) != 2 {
		t.Fatalf("forced Remove = %+v, %v", res, err)
	}
	assertStoreEmpty(t, s)
}

func TestRemoveRefusedWhileInUse(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	img := importTar(t, s, "x", "app")
	var asked []string
	inUse := func(id string) bool { asked = append(asked, id); return true }
	if _, err := s.Remove("app", inUse, false); !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove of an image in use = %v, want ErrInUse", err)
	}
	if !reflect.DeepEqual(asked, []string{img.ID}) {
		t.Errorf("inUse asked about %v, want %s", asked, img.ID)
	}
	if got, err := s.Get("app"); err != nil || got.ID != img.ID {
		t.Fatalf("image or its tag gone after a refused Remove: %v", err)
	}
	// Forced, it takes the names but keeps the image: the container's root is made of its
	// layers.
	res, err := s.Remove("app", inUse, true)
	if err != nil || res.Deleted != "" || len(res.DeletedLayers) != 0 || !reflect.DeepEqual(res.Untagged, []string{"app:latest"}) {
		t.Fatalf("forced Remove of an image in use = %+v, %v; want only untagged", res, err)
	}
	kept, err := s.Get(img.ID)
	if err != nil {
		t.Fatalf("image in use deleted by a forced Remove: %v", err)
	}
	for _, l := range kept.Lower {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("lowerdir of the image in use: %v", err)
		}
	}
	if _, err := s.Remove(img.ID, inUse, true); !errors.Is(err, ErrInUse) {
		t.Fatalf("forced Remove of an untagged image in use = %v, want ErrInUse", err)
	}
	if res, err := s.Remove(img.ID, func(string) bool { return false }, false); err != nil || res.Deleted != img.ID {
		t.Fatalf("Remove once no container uses it = %+v, %v", res, err)
	}
	assertStoreEmpty(t, s)
}

// checkConsistent checks the store after concurrent writers: repositories.json parses and
// has every name, every name points at an image whose metadata parses, and no work dir is
// left.
func checkConsistent(t *testing.T, s *Store, wantImages, wantTags int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Dir(), repositoriesFile))
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	if err := json.Unmarshal(data, &tags); err != nil {
		t.Fatalf("repositories.json corrupt: %v\n%s", err, data)
	}
	for name, id := range tags {
		if _, err := readRecord(s.imageDir(id)); err != nil {
			t.Errorf("%s points at %s: %v", name, id, err)
		}
	}
	if len(tags) != wantTags {
		t.Errorf("%d names, want %d: an update was lost", len(tags), wantTags)
	}
	ids, _ := s.ids()
	if len(ids) != wantImages {
		t.Errorf("%d images, want %d", len(ids), wantImages)
	}
	if work, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(work) != 0 {
		t.Errorf("work dirs left: %v", work)
	}
}

func TestConcurrentImportsKeepMetadataWhole(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "images")
	const workers, each = 6, 4
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			// Each goroutine opens the store itself, as each nb process does.
			s, err := Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range each {
				body := fmt.Sprintf("worker %d image %d", w, i)
				for _, name := range []string{fmt.Sprintf("w%d:%d", w, i), "shared:latest"} {
					repo, tag, _ := strings.Cut(name, ":")
					if _, err := s.ImportReader(bytes.NewReader(makeTar(t, reg("file", body))), -1, repo, tag, nil); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	s, _ := Open(dir)
	checkConsistent(t, s, workers*each, workers*each+1)
}

// helperStoreEnv names the store a helper process imports into; see TestHelperProcessImports.
const helperStoreEnv = "NB_IMAGE_TEST_HELPER_STORE"

func TestConcurrentImportsFromProcesses(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "images")
	const procs = 3
	var cmds []*exec.Cmd
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessImports$")
		cmd.Env = append(os.Environ(), helperStoreEnv+"="+dir, "NB_IMAGE_TEST_HELPER_ID="+strconv.Itoa(p))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Log(out.String())
			}
		})
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper process: %v", err)
		}
	}
	s, _ := Open(dir)
	checkConsistent(t, s, procs*3, procs*3+1)
}

// TestHelperProcessImports is TestConcurrentImportsFromProcesses' other nb: it runs only in
// the processes that test starts.
func TestHelperProcessImports(t *testing.T) {
	dir := os.Getenv(helperStoreEnv)
	if dir == "" {
		t.Skip("run by TestConcurrentImportsFromProcesses")
	}
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := os.Getenv("NB_IMAGE_TEST_HELPER_ID")
	for i := range 3 {
		importTar(t, s, "process "+id+" image "+strconv.Itoa(i), "p"+id+":"+strconv.Itoa(i))
		importTar(t, s, "process "+id+" image "+strconv.Itoa(i), "shared")
	}
}

func TestPruneRemovesOnlyAbandonedWorkDirs(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	abandoned := filepath.Join(s.Dir(), "tmp", "work-crashed")
	os.MkdirAll(filepath.Join(abandoned, "rootfs"), 0o700)
	live, err := s.newWorkDir()
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	importTar(t, s, "x", "app") // commits under the exclusive lock, which prunes
	if _, err := os.Stat(abandoned); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("abandoned work dir kept: %v", err)
	}
	if _, err := os.Stat(live.path); err != nil {
		t.Errorf("a live work dir was pruned: %v", err)
	}
}

// setImmutable sets or clears FS_IMMUTABLE_FL (chattr +i) on path: a file nobody, root
// included, can unlink, to stop a deletion part way as a kill would.
func setImmutable(t *testing.T, path string, on bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const immutable = 0x10 // FS_IMMUTABLE_FL
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		t.Skipf("no inode flags on the test's filesystem: %v", err)
	}
	if on {
		flags |= immutable
	} else {
		flags &^= immutable
	}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags); err != nil {
		t.Skipf("chattr +i: %v", err)
	}
}

// A layer whose deletion stops part way (nb killed, here a file that cannot be unlinked)
// must not stay at its chain ID with part of its files: a later load would reuse it and give
// an image missing files. Garbage collection moves a layer out of layers/ before deleting it.
func TestAHalfDeletedLayerIsNeverReused(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	t.Cleanup(func() {
		filepath.Walk(s.Dir(), func(path string, info os.FileInfo, err error) error {
			if err == nil && info.Name() == layerFile {
				setImmutable(t, path, false)
			}
			return nil
		})
	})
	layers := [][]byte{makeTar(t, reg("a", "a"), reg("b", "b"))}
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, imageConfig(t, layers), []string{"x:y"}))
	images, err := s.Load(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	chain := digestOf(layers[0])
	// A crash between a removal's rename of the image and its layers' deletion leaves the
	// layer without an image: the next command's garbage collection takes it.
	if err := os.Rename(s.imageDir(images[0].ID), filepath.Join(t.TempDir(), "gone")); err != nil {
		t.Fatal(err)
	}
	setImmutable(t, filepath.Join(s.layerDir(chain), layerFile), true)
	if err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if s.hasLayer(chain) {
		t.Errorf("the layer stopped part way through its deletion is still at its chain ID")
	}
	images, err = s.Load(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := imageRoot(t, images[0])
	for _, f := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("image loaded again: %v", err)
		}
	}
}

// A layer an nb load or pull decided to reuse stays in the store until that nb commits,
// even when another nb removes the last image using it in between: the commit must not fail
// with "try again".
func TestALayerPlannedForReuseSurvivesARemovalBeforeTheCommit(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	shared := makeTar(t, reg("a", "a"))
	layers := [][]byte{shared}
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, imageConfig(t, layers), []string{"first:1"}))
	if _, err := s.Load(archive, nil); err != nil {
		t.Fatal(err)
	}
	// Another image on the same bottom layer, added step by step: its layers are planned
	// (the shared one reused from the store), then first:1 is removed, then it commits.
	top := makeTar(t, reg("b", "b"))
	w, err := s.newImageWorkDir()
	if err != nil {
		t.Fatal(err)
	}
	defer w.remove()
	rec := record{ID: strings.Repeat("c", 64)}
	parent := ""
	for _, l := range [][]byte{shared, top} {
		src := layerSource{name: "test", diffID: "sha256:" + digestOf(l), open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(l)), nil
		}}
		layer, err := s.addLayer(w, src, parent, &meter{})
		if err != nil {
			t.Fatal(err)
		}
		rec.Layers = append(rec.Layers, layer.ChainID)
		rec.DiffIDs = append(rec.DiffIDs, layer.DiffID)
		parent = layer.ChainID
	}
	if _, err := s.Remove("first:1", nil, false); err != nil {
		t.Fatal(err)
	}
	if !s.hasLayer(digestOf(shared)) {
		t.Error("the layer planned for reuse was deleted by the removal")
	}
	img, err := s.commit(w, rec, []Name{{Repository: "second", Tag: "1"}})
	if err != nil {
		t.Fatalf("commit after the removal: %v", err)
	}
	root := imageRoot(t, img)
	for _, f := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("image: %v", err)
		}
	}
}

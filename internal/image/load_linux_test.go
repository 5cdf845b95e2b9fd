package image

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func (e entry) mode(m int64) entry       { e.Mode = m; return e }
func (e entry) owner(uid, gid int) entry { e.Uid, e.Gid = uid, gid; return e }
func (e entry) mtime(t time.Time) entry  { e.ModTime = t; return e }
func (e entry) xattr(name, v string) entry {
	e.PAXRecords = map[string]string{"SCHILY.xattr." + name: v}
	return e
}

var (
	userTime = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	homeTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
)

// fixtureLayers are two layers that use every kind of entry and every whiteout rule.
func fixtureLayers(t *testing.T) [][]byte {
	lower := makeTar(t,
		dir("etc/"), reg("etc/hostname", "base\n"),
		dir("bin/"), reg("bin/su", "suid").mode(0o4755),
		reg("bin/busybox", "bb").mode(0o755), symlink("bin/sh", "/bin/busybox"), hardlink("bin/ls", "bin/busybox"),
		dir("home/"), dir("home/user/").mode(0o700).owner(1000, 1000).mtime(homeTime),
		reg("home/user/file", "mine").mode(0o640).owner(1000, 1000).mtime(userTime),
		dir("tmp/").mode(0o1777),
		dir("dev/"), entry{Header: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3, Mode: 0o666}},
		dir("run/"), entry{Header: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}},
		reg("xattr-file", "x").xattr("user.nb", "yes"),
		reg("gone", "g"),
		dir("opaque/"), reg("opaque/old", "old"),
		dir("replaced/"), reg("replaced/child", "c"),
	)
	upper := makeTar(t,
		reg(".wh.gone", ""),
		// The new file comes before the opaque marker: the marker hides only lower layers'.
		dir("opaque/"), reg("opaque/new", "new"), reg("opaque/.wh..wh..opq", ""),
		reg("replaced", "now a file"),
		// A whiteout hides nothing of its own layer (image-spec layer.md).
		reg("fresh", "f"), reg(".wh.fresh", ""),
		reg("etc/hostname", "changed\n"),
	)
	return [][]byte{lower, upper}
}

// fixtureSize is the bytes of regular files of the fixture's layers, bin/ls and bin/busybox
// once: what the image takes on disk, as docker's SIZE counts it, files an upper layer hides
// included.
const fixtureSize = int64(len("base\n")+len("suid")+len("bb")+len("mine")+len("x")+len("g")+len("old")+len("c")) +
	int64(len("new")+len("now a file")+len("f")+len("changed\n"))

var fixtureConfig = Config{
	Env:        []string{"PATH=/usr/bin:/bin", "GREETING=hi"},
	Entrypoint: []string{"/bin/sh", "-c"},
	Cmd:        []string{"echo $GREETING"},
	WorkingDir: "/home/user",
	User:       "1000:1000",
	Labels:     map[string]string{"org.example.kind": "fixture"},
}

// imageConfig is the image config JSON for layers, as docker and OCI write it.
func imageConfig(t *testing.T, layers [][]byte) []byte {
	var diffIDs []string
	for _, l := range layers {
		diffIDs = append(diffIDs, "sha256:"+digestOf(l))
	}
	return mustJSON(t, map[string]any{
		"created":      testTime,
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env": fixtureConfig.Env, "Entrypoint": fixtureConfig.Entrypoint, "Cmd": fixtureConfig.Cmd,
			"WorkingDir": fixtureConfig.WorkingDir, "User": fixtureConfig.User, "Labels": fixtureConfig.Labels,
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
}

// dockerArchive is what `docker save` writes for an image of layers named repoTags. The last
// layer sits behind a symlink, as older docker links a layer that two images share.
func dockerArchive(t *testing.T, layers [][]byte, config []byte, repoTags []string) []byte {
	cfgName := digestOf(config) + ".json"
	entries := []entry{reg(cfgName, string(config))}
	var paths []string
	for _, l := range layers {
		d := digestOf(l)
		entries = append(entries, dir(d+"/"), reg(d+"/layer.tar", string(l)))
		paths = append(paths, d+"/layer.tar")
	}
	last := len(paths) - 1
	entries = append(entries, dir("shared/"), symlink("shared/layer.tar", "../"+paths[last]))
	paths[last] = "shared/layer.tar"
	manifest := []map[string]any{{"Config": cfgName, "RepoTags": repoTags, "Layers": paths}}
	entries = append(entries, reg("manifest.json", string(mustJSON(t, manifest))))
	return makeTar(t, entries...)
}

// ociLayout writes an OCI image layout of layers into dir, the first layer gzipped and the
// others zstd-compressed, its index.json descriptor annotated. With nested, that descriptor
// is a multi-platform index, whose entry for another platform is not in the layout at all.
func ociLayout(t *testing.T, dir string, layers [][]byte, config []byte, annotations map[string]string, nested bool) {
	blob := func(data []byte) string {
		d := digestOf(data)
		writeTestFile(t, filepath.Join(dir, "blobs", "sha256", d), data)
		return "sha256:" + d
	}
	desc := func(mediaType string, data []byte) map[string]any {
		return map[string]any{"mediaType": mediaType, "digest": blob(data), "size": len(data)}
	}
	var layerDescs []map[string]any
	for i, l := range layers {
		if i == 0 {
			layerDescs = append(layerDescs, desc("application/vnd.oci.image.layer.v1.tar+gzip", gzipped(t, l)))
		} else {
			layerDescs = append(layerDescs, desc("application/vnd.oci.image.layer.v1.tar+zstd", zstded(t, l)))
		}
	}
	manifest := mustJSON(t, map[string]any{
		"schemaVersion": 2, "mediaType": mediaTypeOCIManifest,
		"config": desc("application/vnd.oci.image.config.v1+json", config), "layers": layerDescs,
	})
	top := desc(mediaTypeOCIManifest, manifest)
	if nested {
		mine := desc(mediaTypeOCIManifest, manifest)
		mine["platform"] = map[string]string{"os": "linux", "architecture": runtime.GOARCH}
		other := map[string]any{
			"mediaType": mediaTypeOCIManifest, "size": 1,
			"digest":   "sha256:" + strings.Repeat("0", 64),
			"platform": map[string]string{"os": "linux", "architecture": "s390x-not-" + runtime.GOARCH},
		}
		index := mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": mediaTypeOCIIndex, "manifests": []any{other, mine}})
		top = desc(mediaTypeOCIIndex, index)
	}
	top["annotations"] = annotations
	writeTestFile(t, filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`))
	writeTestFile(t, filepath.Join(dir, "index.json"), mustJSON(t, map[string]any{"schemaVersion": 2, "manifests": []any{top}}))
}

// tarOfDir is a tar of the files under root, as `tar -C root -cf - .` makes it.
func tarOfDir(t *testing.T, root string) []byte {
	var entries []entry
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case rel == ".":
		case info.IsDir():
			entries = append(entries, dir(rel+"/"))
		default:
			data, _ := os.ReadFile(path)
			entries = append(entries, reg(rel, string(data)))
		}
		return nil
	})
	return makeTar(t, entries...)
}

func TestLoadDockerArchiveAppliesLayersInOrder(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := fixtureLayers(t)
	config := imageConfig(t, layers)
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, config, []string{"example/app:1.0", "example/app:latest"}))
	images, err := s.Load(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 1 {
		t.Fatalf("loaded %d images, want 1", len(images))
	}
	img := images[0]
	if img.ID != digestOf(config) {
		t.Errorf("ID %s, want the config's sha256 %s", img.ID, digestOf(config))
	}
	if want := []string{"example/app:1.0", "example/app:latest"}; !reflect.DeepEqual(img.RepoTags, want) {
		t.Errorf("RepoTags %v, want %v", img.RepoTags, want)
	}
	checkFixture(t, s, img)
}

func TestLoadOCILayoutDirectory(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := fixtureLayers(t)
	config := imageConfig(t, layers)
	layout := t.TempDir()
	ociLayout(t, layout, layers, config, map[string]string{annotationRefName: "registry.example:5000/team/app:v2"}, false)
	images, err := s.Load(layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := images[0].RepoTags; !reflect.DeepEqual(got, []string{"registry.example:5000/team/app:v2"}) {
		t.Errorf("RepoTags %v, want the ref.name annotation", got)
	}
	checkFixture(t, s, images[0])
}

func TestLoadOCIArchiveWithMultiPlatformIndex(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := fixtureLayers(t)
	config := imageConfig(t, layers)
	layout := t.TempDir()
	ociLayout(t, layout, layers, config, map[string]string{
		annotationContainerdName: "docker.io/library/app:3",
		annotationRefName:        "3",
	}, true)
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "app.oci"), gzipped(t, tarOfDir(t, layout)))
	var done, total int64
	images, err := s.Load(archive, func(d, tot int64) { done, total = d, tot })
	if err != nil {
		t.Fatal(err)
	}
	if got := images[0].RepoTags; !reflect.DeepEqual(got, []string{"app:3"}) {
		t.Errorf("RepoTags %v, want containerd's name, normalised", got)
	}
	if done == 0 || done != total {
		t.Errorf("progress ended at %d of %d, want all the layer bytes", done, total)
	}
	checkFixture(t, s, images[0])
}

func TestLoadWithoutNamesGivesAnUntaggedImage(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := [][]byte{makeTar(t, reg("a", "a"))}
	layout := t.TempDir()
	ociLayout(t, layout, layers, imageConfig(t, layers), map[string]string{annotationRefName: "latest"}, false)
	images, err := s.Load(layout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(images[0].RepoTags) != 0 || images[0].Repository != "" {
		t.Errorf("image named %v, want untagged: a bare tag names no repository", images[0].RepoTags)
	}
	if _, err := s.Get(images[0].ID[:8]); err != nil {
		t.Errorf("get by ID prefix: %v", err)
	}
}

func TestLoadRefusesLayerNotMatchingDiffID(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := [][]byte{makeTar(t, reg("a", "a"))}
	config := imageConfig(t, [][]byte{makeTar(t, reg("a", "tampered"))})
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, config, []string{"x:y"}))
	_, err := s.Load(archive, nil)
	if err == nil || !strings.Contains(err.Error(), "diff_id") {
		t.Fatalf("Load = %v, want a diff_id mismatch", err)
	}
	assertStoreEmpty(t, s)
}

// checkFixture checks that img, loaded from fixtureLayers, has every entry as the layers say.
func checkFixture(t *testing.T, s *Store, img Image) {
	t.Helper()
	if len(img.Lower) != 2 || filepath.Dir(img.Lower[0]) != filepath.Join(s.Dir(), linksDir) {
		t.Errorf("Lower %v, want the fixture's 2 layers' links in %s/", img.Lower, linksDir)
	}
	root := imageRoot(t, img)
	t.Run("whiteouts", func(t *testing.T) { checkWhiteouts(t, root) })
	t.Run("ownership, modes and times", func(t *testing.T) { checkMetadata(t, root) })
	t.Run("links and special files", func(t *testing.T) { checkLinks(t, root) })
	t.Run("xattrs", func(t *testing.T) { checkXattr(t, s, root) })
	t.Run("config", func(t *testing.T) {
		if !reflect.DeepEqual(img.Config, fixtureConfig) {
			t.Errorf("config %+v, want %+v", img.Config, fixtureConfig)
		}
		if !img.Created.Equal(testTime) || img.OS != "linux" || img.Architecture != runtime.GOARCH {
			t.Errorf("created %v os %q arch %q, want the config's", img.Created, img.OS, img.Architecture)
		}
		got, err := s.Get(img.ID)
		if err != nil || !reflect.DeepEqual(got.Config, fixtureConfig) {
			t.Errorf("Get after load: %+v, %v", got.Config, err)
		}
	})
	if img.Size != fixtureSize {
		t.Errorf("size %d, want %d (regular files of each layer, hard links once)", img.Size, fixtureSize)
	}
}

func checkWhiteouts(t *testing.T, root string) {
	for path, want := range map[string]string{
		"etc/hostname": "changed\n", "opaque/new": "new", "replaced": "now a file", "fresh": "f",
	} {
		if got, err := os.ReadFile(filepath.Join(root, path)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	for _, path := range []string{"gone", "opaque/old", "replaced/child"} {
		// replaced/child is gone with its directory: replaced is a file now (ENOTDIR).
		if _, err := os.Lstat(filepath.Join(root, path)); !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("%s: %v, want it deleted", path, err)
		}
	}
	filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".wh.") {
			t.Errorf("whiteout file %s left in the rootfs", path)
		}
		return nil
	})
}

func lstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func checkMetadata(t *testing.T, root string) {
	for path, want := range map[string]struct {
		uid, gid, mode uint32
		mtime          time.Time
	}{
		"home/user/file": {1000, 1000, 0o640, userTime},
		"home/user":      {1000, 1000, 0o700, homeTime},
		"bin/su":         {0, 0, 0o4755, testTime},
		"tmp":            {0, 0, 0o1777, testTime},
	} {
		st := lstat(t, filepath.Join(root, path))
		mtime := time.Unix(st.Mtim.Unix())
		if st.Uid != want.uid || st.Gid != want.gid || st.Mode&0o7777 != want.mode || !mtime.Equal(want.mtime) {
			t.Errorf("%s: %d:%d mode %#o mtime %v; want %d:%d %#o %v", path, st.Uid, st.Gid, st.Mode&0o7777, mtime, want.uid, want.gid, want.mode, want.mtime)
		}
	}
}

func checkLinks(t *testing.T, root string) {
	if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "/bin/busybox" {
		t.Errorf("bin/sh -> %q, %v; want /bin/busybox", target, err)
	}
	ls, bb := lstat(t, filepath.Join(root, "bin/ls")), lstat(t, filepath.Join(root, "bin/busybox"))
	if ls.Ino != bb.Ino || bb.Nlink != 2 {
		t.Errorf("bin/ls inode %d, bin/busybox %d with %d links; want one inode, 2 links", ls.Ino, bb.Ino, bb.Nlink)
	}
	null := lstat(t, filepath.Join(root, "dev/null"))
	if null.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(null.Rdev) != 1 || unix.Minor(null.Rdev) != 3 || null.Mode&0o777 != 0o666 {
		t.Errorf("dev/null mode %#o rdev %d:%d, want char 1:3 0666", null.Mode, unix.Major(null.Rdev), unix.Minor(null.Rdev))
	}
	if fifo := lstat(t, filepath.Join(root, "run/fifo")); fifo.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Errorf("run/fifo mode %#o, want a fifo", fifo.Mode)
	}
}

func checkXattr(t *testing.T, s *Store, root string) {
	probe := filepath.Join(s.Dir(), "tmp", "xattr-probe")
	writeTestFile(t, probe, nil)
	defer os.Remove(probe)
	if err := unix.Setxattr(probe, "user.probe", []byte("1"), 0); err != nil {
		t.Skipf("the test store's filesystem has no user xattrs (%v)", err)
	}
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(filepath.Join(root, "xattr-file"), "user.nb", buf)
	if err != nil || string(buf[:n]) != "yes" {
		t.Errorf("xattr-file user.nb = %q, %v; want yes", buf[:n], err)
	}
}

// A diff_id makes a chain ID, which names a directory of the store: one that is not a sha256
// digest is refused, naming it, before anything is written (no layer read outside the store,
// no short link made to it, no panic on a short one).
func TestLoadRefusesConfigWithBadDiffID(t *testing.T) {
	requireRoot(t)
	layers := [][]byte{makeTar(t, reg("a", "a")), makeTar(t, reg("b", "b"))}
	escape := t.TempDir()
	writeTestFile(t, filepath.Join(escape, "diff", "planted"), []byte("x"))
	writeTestFile(t, filepath.Join(escape, layerFile), mustJSON(t, layerRecord{ChainID: "x"}))
	for _, bad := range []string{"sha256:../../../../../../../.." + escape, "sha256:abc", "sha256:" + strings.Repeat("A", 64), "md5:" + strings.Repeat("a", 64)} {
		config := imageConfig(t, layers)
		config = []byte(strings.Replace(string(config), "sha256:"+digestOf(layers[0]), bad, 1))
		for _, format := range []string{"docker", "oci"} {
			s := newTestStore(t)
			path := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, config, []string{"x:y"}))
			if format == "oci" {
				path = t.TempDir()
				ociLayout(t, path, layers, config, nil, false)
			}
			_, err := s.Load(path, nil)
			if err == nil || !strings.Contains(err.Error(), "diff_id 1 "+strconv.Quote(bad)) {
				t.Errorf("%s, diff_id %q: Load = %v, want refused naming it", format, bad, err)
			}
			assertStoreEmpty(t, s)
		}
	}
}

// layer.json and metadata.json name layers by chain ID; a record that names another layer,
// or a path, is an error, not a directory to follow.
func TestStoreRecordsNamingPathsAreRefused(t *testing.T) {
	s := newTestStore(t)
	chain := strings.Repeat("a", 64)
	dir := s.layerDir(chain)
	writeTestFile(t, filepath.Join(dir, layerFile), mustJSON(t, layerRecord{ChainID: chain, DiffID: "sha256:" + chain, Parent: "../../x"}))
	if _, err := s.readLayer(chain); err == nil || !strings.Contains(err.Error(), "not this layer's") {
		t.Errorf("readLayer of a layer.json naming a path as parent = %v, want refused", err)
	}
	writeTestFile(t, filepath.Join(dir, layerFile), mustJSON(t, layerRecord{ChainID: strings.Repeat("b", 64), DiffID: "sha256:" + chain}))
	if _, err := s.readLayer(chain); err == nil || !strings.Contains(err.Error(), "not this layer's") {
		t.Errorf("readLayer of another layer's layer.json = %v, want refused", err)
	}
	if s.hasLayer("../" + chain[:10]) {
		t.Error("hasLayer follows a path")
	}
	img := t.TempDir()
	writeTestFile(t, filepath.Join(img, metadataFile), mustJSON(t, record{ID: chain, Layers: []string{"../../../tmp"}}))
	if _, err := readRecord(img); err == nil || !strings.Contains(err.Error(), `"../../../tmp" is not a chain ID`) {
		t.Errorf("readRecord of a metadata.json naming a path as a layer = %v, want refused", err)
	}
}

// A layer that whites out a directory and makes it anew, in either order, replaces the lower
// layer's directory: through the overlay mount only its own entries are in it.
func TestLoadDirectoryWhitedOutAndRecreatedInOneLayer(t *testing.T) {
	requireRoot(t)
	lower := makeTar(t, dir("a/"), reg("a/x", "x"), dir("a/sub/"), reg("a/sub/z", "z"))
	for name, upper := range map[string][]byte{
		"whiteout first":  makeTar(t, reg(".wh.a", ""), dir("a/"), reg("a/y", "y")),
		"directory first": makeTar(t, dir("a/"), reg("a/y", "y"), reg(".wh.a", "")),
		"no entry for a/": makeTar(t, reg(".wh.a", ""), reg("a/y", "y")),
	} {
		t.Run(name, func(t *testing.T) {
			s := newTestStore(t)
			layers := [][]byte{lower, upper}
			archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, imageConfig(t, layers), []string{"x:y"}))
			images, err := s.Load(archive, nil)
			if err != nil {
				t.Fatal(err)
			}
			root := imageRoot(t, images[0])
			entries, err := os.ReadDir(filepath.Join(root, "a"))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !reflect.DeepEqual(names, []string{"y"}) {
				t.Errorf("merged a/ holds %v, want only y: the lower layer's a/ shows through", names)
			}
		})
	}
}

// A layer that adds home/user/new without an entry for home/user/ must not change the home
// directory: in overlayfs the topmost layer holding a directory gives its mode, owner and
// xattrs, so the layer's implicit directory takes them from the layer below.
func TestLoadImplicitDirectoryKeepsTheLowerLayersAttributes(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	layers := [][]byte{
		makeTar(t, dir("home/"), dir("home/user/").mode(0o700).owner(1000, 1000).xattr("user.nb", "home"), dir("srv/").mode(0o750).owner(7, 8)),
		makeTar(t, reg("other", "o")), // a layer between, without home/
		makeTar(t, reg("home/user/new", "n"), reg("srv/deep/file", "f")),
	}
	archive := writeTestFile(t, filepath.Join(t.TempDir(), "saved.tar"), dockerArchive(t, layers, imageConfig(t, layers), []string{"x:y"}))
	images, err := s.Load(archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := imageRoot(t, images[0])
	for path, want := range map[string]struct{ uid, gid, mode uint32 }{
		"home/user": {1000, 1000, 0o700},
		"srv":       {7, 8, 0o750},
		"srv/deep":  {0, 0, 0o755}, // no layer has it: tar's default
	} {
		st := lstat(t, filepath.Join(root, path))
		if st.Uid != want.uid || st.Gid != want.gid || st.Mode&0o7777 != want.mode {
			t.Errorf("%s: %d:%d %o, want %d:%d %o as the lower layer has it", path, st.Uid, st.Gid, st.Mode&0o7777, want.uid, want.gid, want.mode)
		}
	}
	if v, err := getxattr(filepath.Join(root, "home/user"), "user.nb"); err != nil || v != "home" {
		t.Errorf("home/user's user.nb = %q, %v; want the lower layer's", v, err)
	}
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

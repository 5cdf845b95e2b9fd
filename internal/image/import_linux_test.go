package image

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func rootfsTar(t *testing.T) []byte {
	return makeTar(t,
		dir("./"), dir("./etc/"), reg("./etc/os-release", "ID=test\n"),
		dir("./bin/"), reg("./bin/true", "#!/bin/sh\n").mode(0o755),
	)
}

// TestImportDetectsCompressionByMagic gives every file the same misleading name: only the
// bytes tell the compression. The same tar, however compressed, is the same image.
func TestImportDetectsCompressionByMagic(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	plain := rootfsTar(t)
	inputs := map[string][]byte{
		"plain": plain,
		"gzip":  gzipped(t, plain),
		"xz":    xzed(t, plain),
		"zstd":  zstded(t, plain),
	}
	if path, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command(path, "-c")
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		inputs["bzip2"] = out
	}
	var tags []string
	for kind, data := range inputs {
		t.Run(kind, func(t *testing.T) {
			file := writeTestFile(t, filepath.Join(t.TempDir(), "rootfs.tar"), data)
			img, err := s.Import(file, "imported", kind, nil)
			if err != nil {
				t.Fatal(err)
			}
			if img.ID != digestOf(plain) {
				t.Errorf("ID %s, want the uncompressed tar's sha256 %s", img.ID, digestOf(plain))
			}
			got, err := os.ReadFile(filepath.Join(imageRoot(t, img), "etc/os-release"))
			if err != nil || string(got) != "ID=test\n" {
				t.Errorf("etc/os-release = %q, %v", got, err)
			}
			if img.Repository != "imported" || img.Tag != kind {
				t.Errorf("named %s:%s, want imported:%s", img.Repository, img.Tag, kind)
			}
		})
		tags = append(tags, "imported:"+kind)
	}
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(inputs) {
		t.Errorf("List has %d rows, want one per tag (%d) of one image", len(list), len(inputs))
	}
	for _, row := range list {
		if row.ID != digestOf(plain) || len(row.RepoTags) != len(inputs) {
			t.Errorf("row %s:%s is image %s with tags %v", row.Repository, row.Tag, row.ID, row.RepoTags)
		}
	}
}

func TestImportRecordsMetadata(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	data := gzipped(t, rootfsTar(t))
	file := writeTestFile(t, filepath.Join(t.TempDir(), "rootfs.tgz"), data)
	var calls int
	var done, total int64
	before := time.Now()
	img, err := s.Import(file, "docker.io/library/busy", "", func(d, tot int64) { calls++; done, total = d, tot })
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || done != int64(len(data)) || total != int64(len(data)) {
		t.Errorf("progress: %d calls, last %d of %d; want it to end at %d of %d", calls, done, total, len(data), len(data))
	}
	if img.Repository != "busy" || img.Tag != "latest" || !reflect.DeepEqual(img.RepoTags, []string{"busy:latest"}) {
		t.Errorf("named %s:%s %v, want busy:latest", img.Repository, img.Tag, img.RepoTags)
	}
	if want := int64(len("ID=test\n") + len("#!/bin/sh\n")); img.Size != want {
		t.Errorf("size %d, want %d", img.Size, want)
	}
	if img.Created.Before(before.Add(-time.Second)) || img.OS != "linux" {
		t.Errorf("created %v os %q, want now and linux", img.Created, img.OS)
	}
	// metadata.json is what Get reads back, in the shape `nb image inspect` prints.
	got, err := s.Get("busy")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, img) {
		t.Errorf("Get = %+v, want %+v", got, img)
	}
}

func TestImportReaderOfUnknownLength(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	var total int64
	img, err := s.ImportReader(bytes.NewReader(zstded(t, rootfsTar(t))), -1, "", "", func(_, tot int64) { total = tot })
	if err != nil {
		t.Fatal(err)
	}
	if total != -1 || len(img.RepoTags) != 0 {
		t.Errorf("total %d, tags %v; want -1 and an untagged image", total, img.RepoTags)
	}
}

func TestImportRefusesBadNames(t *testing.T) {
	s := newTestStore(t)
	for _, tc := range []struct{ repo, tag string }{{"Upper", ""}, {"ok", "bad/tag"}, {"", "tagonly"}, {"a@sha256:00", ""}} {
		if _, err := s.ImportReader(bytes.NewReader(nil), 0, tc.repo, tc.tag, nil); err == nil {
			t.Errorf("import as %q %q succeeded, want a bad-name error", tc.repo, tc.tag)
		}
	}
	assertStoreEmpty(t, s)
}

func TestImportRefusesATruncatedTarball(t *testing.T) {
	requireRoot(t)
	s := newTestStore(t)
	data := gzipped(t, rootfsTar(t))
	if _, err := s.ImportReader(bytes.NewReader(data[:len(data)/2]), -1, "cut", "", nil); err == nil {
		t.Fatal("import of half a gzip stream succeeded")
	}
	assertStoreEmpty(t, s)
}

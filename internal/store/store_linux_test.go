package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestInitIsIdempotentAndOpenNeedsIt(t *testing.T) {
	root := filepath.Join(t.TempDir(), "nb")
	if _, err := Open(root); !errors.Is(err, ErrNotInitialised) || !strings.Contains(err.Error(), "nb init") {
		t.Fatalf("Open before init: %v, want ErrNotInitialised naming nb init", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := Init(root); err != nil {
			t.Fatalf("Init #%d: %v", i+1, err)
		}
	}
	for _, d := range Dirs {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
}

func TestContainersSaveLoadFind(t *testing.T) {
	s, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for i, id := range []string{"nb-0123abcd", "nb-0123ffff", "nb-99aa0000"} {
		if err := os.MkdirAll(s.ContainerDir(id), 0o700); err != nil {
			t.Fatal(err)
		}
		c := &Container{ID: id, Name: fmt.Sprintf("c%d", i), Image: "busybox:latest", Command: []string{"sh"},
			Created: now.Add(time.Duration(i) * time.Second), Status: Created}
		if err := s.SaveContainer(c); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Containers()
	if err != nil || len(all) != 3 || all[0].ID != "nb-0123abcd" || all[2].Name != "c2" {
		t.Fatalf("Containers: %v %v", all, err)
	}
	for ref, want := range map[string]string{"nb-0123abcd": "nb-0123abcd", "c1": "nb-0123ffff", "nb-99": "nb-99aa0000"} {
		c, err := s.FindContainer(ref)
		if err != nil || c.ID != want {
			t.Errorf("FindContainer(%q) = %v, %v; want %s", ref, c, err, want)
		}
	}
	if _, err := s.FindContainer("nb-0123"); err == nil || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	if _, err := s.FindContainer("nope"); err == nil || err.Error() != "no such container: nope" {
		t.Errorf("unknown: %v", err)
	}
}

// Writers under the lock never leave a metadata.json that does not parse, and nothing but
// metadata.json is left in the container's directory.
func TestConcurrentSavesUnderLock(t *testing.T) {
	s, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := NewID()
	if !regexp.MustCompile(`^nb-[0-9a-f]{8}$`).MatchString(id) {
		t.Fatalf("NewID() = %q", id)
	}
	os.MkdirAll(s.ContainerDir(id), 0o700)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				unlock, err := s.Lock()
				if err != nil {
					t.Error(err)
					return
				}
				err = s.SaveContainer(&Container{ID: id, Name: strings.Repeat("x", w*100+i), Status: Running})
				unlock()
				if err != nil {
					t.Error(err)
				}
				if _, err := s.LoadContainer(id); err != nil {
					t.Errorf("reader saw a broken metadata.json: %v", err)
				}
			}
		}(w)
	}
	wg.Wait()
	entries, _ := os.ReadDir(s.ContainerDir(id))
	if len(entries) != 1 || entries[0].Name() != "metadata.json" {
		t.Errorf("left in the container dir: %v", entries)
	}
}

func TestVolumes(t *testing.T) {
	s, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.CreateVolume("data", "", map[string]string{"k": "v"})
	if err != nil || v.Driver != "local" || v.Mountpoint != filepath.Join(s.Root, "volumes/data/_data") {
		t.Fatalf("CreateVolume: %+v, %v", v, err)
	}
	if _, err := s.CreateVolume("data", "local", nil); !errors.Is(err, ErrVolumeExists) {
		t.Errorf("twice: %v", err)
	}
	for _, bad := range []string{"../x", "-x", "a/b", ""} {
		if _, err := s.CreateVolume(bad, "", nil); err == nil || !strings.Contains(err.Error(), "volume name") {
			t.Errorf("CreateVolume(%q): %v", bad, err)
		}
	}
	if _, err := s.CreateVolume("x", "nfs", nil); err == nil || !strings.Contains(err.Error(), `driver "nfs"`) {
		t.Errorf("driver nfs: %v", err)
	}
	s.CreateVolume("alpha", "", nil)
	vs, _ := s.Volumes()
	if len(vs) != 2 || vs[0].Name != "alpha" || vs[1].Options["k"] != "v" {
		t.Errorf("Volumes: %+v", vs)
	}
	if err := s.RemoveVolume("data", []string{"nb-12345678"}); err == nil || !strings.Contains(err.Error(), "in use by container nb-12345678") {
		t.Errorf("in use: %v", err)
	}
	if err := s.RemoveVolume("data", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Volume("data"); !errors.Is(err, ErrNoVolume) {
		t.Errorf("after rm: %v", err)
	}
}

// One recorder at a time; its lock is seen while held and gone once released.
func TestRecorderLock(t *testing.T) {
	s, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := NewID()
	os.MkdirAll(s.ContainerDir(id), 0o700)
	if s.RecorderAlive(id) {
		t.Fatal("alive before anyone held it")
	}
	release, err := s.HoldRecorder(id)
	if err != nil {
		t.Fatal(err)
	}
	if !s.RecorderAlive(id) {
		t.Error("not alive while held")
	}
	if _, err := s.HoldRecorder(id); err == nil || !strings.Contains(err.Error(), "being run by another nb") {
		t.Errorf("second recorder: %v", err)
	}
	release()
	if s.RecorderAlive(id) {
		t.Error("alive after release")
	}
}

func TestHalfMadeListsDirsWithoutMetadata(t *testing.T) {
	s, err := Init(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	whole := &Container{ID: "nb-00000001", Name: "whole", Status: Created}
	if err := os.MkdirAll(s.ContainerDir(whole.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveContainer(whole); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.ContainerDir("nb-00000002"), "bundle"), 0o700); err != nil {
		t.Fatal(err)
	}
	half, err := s.HalfMade()
	if err != nil || len(half) != 1 || half[0] != "nb-00000002" {
		t.Fatalf("HalfMade = %v, %v; want [nb-00000002]", half, err)
	}
	if err := s.RemoveMetadata(whole.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.Containers(); err != nil || len(cs) != 0 {
		t.Fatalf("Containers after RemoveMetadata = %v, %v; want none", cs, err)
	}
	if half, _ := s.HalfMade(); len(half) != 2 {
		t.Fatalf("HalfMade after RemoveMetadata = %v, want both", half)
	}
}

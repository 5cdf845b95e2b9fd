package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

// A plain directory tree stands in for a cgroup hierarchy: only mkdir and rmdir are used.
func TestDestroyRemovesOnlyWhatCreateMade(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ctr")
	m := &v2Manager{path: dir}
	made, err := m.Create()
	if err != nil || len(made) != 1 {
		t.Fatalf("Create of a new cgroup = %v, %v; want it reported as made", made, err)
	}
	if err := os.Mkdir(filepath.Join(dir, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.Destroy(made); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the cgroup create made (and its child) is still there: %v", err)
	}
}

func TestDestroyLeavesAnExistingCgroupAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.MkdirAll(filepath.Join(dir, "other-workload"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := &v2Manager{path: dir}
	made, err := m.Create()
	if err != nil || len(made) != 0 {
		t.Fatalf("Create on an existing cgroup = %v, %v; want nothing made", made, err)
	}
	if err := m.Destroy(made); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other-workload")); err != nil {
		t.Fatalf("an existing cgroup's child was removed: %v", err)
	}
}

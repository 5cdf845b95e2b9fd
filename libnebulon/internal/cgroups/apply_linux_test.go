package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Plain files stand in for cgroup files: an update that fails part way restores what it wrote.
func TestFailedUpdateRestoresTheOldValues(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"memory.max": "max\n", "pids.max": "20\n", "io.max": "8:0 rbps=100 wbps=max riops=max wiops=max\n"}
	for f, v := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// cpu.max is a directory: writing it fails, as a value the kernel refuses would.
	if err := os.Mkdir(filepath.Join(dir, "cpu.max"), 0o755); err != nil {
		t.Fatal(err)
	}
	ws := []write{
		one("memory.limit", "memory", "memory.max", "1048576"),
		one("pids.limit", "pids", "pids.max", "5"),
		keyed("blockIO.throttleReadBpsDevice[0]", "io", "io.max", "8:0 rbps=7", "8:0"),
		keyed("blockIO.throttleReadBpsDevice[1]", "io", "io.max", "8:16 rbps=9", "8:16"),
		one("cpu.quota", "cpu", "cpu.max", "1000 100000"),
	}
	dirOf := func(string) (string, error) { return dir, nil }
	done, err := applyWrites(ws, dirOf, true)
	if err == nil || !strings.Contains(err.Error(), "linux.resources.cpu.quota") {
		t.Fatalf("applyWrites error = %v, want one naming linux.resources.cpu.quota", err)
	}
	if err := rollback(done); err != nil {
		t.Fatal(err)
	}
	read := func(f string) string {
		data, _ := os.ReadFile(filepath.Join(dir, f))
		return string(data)
	}
	if got := read("memory.max"); got != "max" {
		t.Errorf("memory.max after rollback = %q, want max", got)
	}
	if got := read("pids.max"); got != "20" {
		t.Errorf("pids.max after rollback = %q, want 20", got)
	}
	// A file holding one line per device restores each device's own line; the device that had
	// none is cleared (the last write wins in a plain file, the kernel keeps both).
	if got := read("io.max"); got != "8:0 rbps=100 wbps=max riops=max wiops=max" {
		t.Errorf("io.max after rollback = %q, want device 8:0's old line", got)
	}
}

func TestMissingFileIsAnErrorNamingTheField(t *testing.T) {
	dir := t.TempDir()
	_, err := applyWrites([]write{one("hugepageLimits[0]", "hugetlb", "hugetlb.1GB.max", "0")},
		func(string) (string, error) { return dir, nil }, false)
	if err == nil || !strings.Contains(err.Error(), "linux.resources.hugepageLimits[0]: this host cannot apply it: no hugetlb.1GB.max") {
		t.Fatalf("error = %v", err)
	}
}

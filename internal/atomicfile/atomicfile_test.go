package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

// Each write replaces the file whole, with its mode, and leaves no temporary file beside it.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	for i, durable := range []bool{false, true} {
		want := []byte{'v', byte('0' + i)}
		if err := Write(p, want, 0o640, durable); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != string(want) {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
			t.Errorf("mode %v, want 0640", fi.Mode().Perm())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left in the directory: %v", entries)
	}
	if err := Write(filepath.Join(dir, "no/such/dir/f"), nil, 0o600, true); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

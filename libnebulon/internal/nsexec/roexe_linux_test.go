package nsexec

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The child cloned to make the read-only mount says which syscall failed, and the mount it
// makes of a file refuses writes.
func TestReadonlyExe(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none")
	_, err := ReadonlyExe(missing)
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), ": open_tree: ") {
		t.Fatalf("ReadonlyExe(%s): %v, want an open_tree ENOENT", missing, err)
	}
	path := filepath.Join(dir, "bin")
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadonlyExe(path)
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSPC) {
		t.Skipf("no user namespace here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY, 0)
	if err == nil {
		w.Close()
	}
	if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("open for writing through the mount: %v, want EROFS", err)
	}
}

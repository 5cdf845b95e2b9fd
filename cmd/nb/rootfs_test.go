package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A root without /etc/passwd (a busybox or scratch root) reads as no file, not an error: a
// numeric user needs none, as in docker.
func TestReadInRootMissingFile(t *testing.T) {
	root := t.TempDir()
	for _, path := range []string{"/etc/passwd", "/etc/group"} {
		b, err := readInRoot(root, path)
		if err != nil || b != nil {
			t.Errorf("readInRoot(%s) of a root without /etc = %q, %v; want nil, nil", path, b, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := readInRoot(root, "/etc/passwd"); err != nil || string(b) != "root:x:0:0::/root:/bin/sh\n" {
		t.Errorf("readInRoot(/etc/passwd) = %q, %v", b, err)
	}
}

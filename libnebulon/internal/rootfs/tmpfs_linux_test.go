package rootfs

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// A tmpfs gets the mode of the directory it covers, ahead of any mode= of its own (the last
// mode= wins in tmpfs), and nothing when it covers no directory.
func TestTmpfsDataTakesTheCoveredMode(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Chmod(dir, 0o1750); err != nil { // os.Chmod takes the sticky bit as os.ModeSticky
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	file, err := os.CreateTemp(dir, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name    string
		covered *os.File
		data    string
		want    string
	}{
		{"no data", d, "", "mode=1750"},
		{"explicit mode comes last", d, "size=64k,mode=0711", "mode=1750,size=64k,mode=0711"},
		{"a new directory", nil, "size=64k", "size=64k"},
		{"covers a file", file, "", ""},
	} {
		if got := tmpfsData(tc.covered, tc.data); got != tc.want {
			t.Errorf("%s: tmpfsData = %q, want %q", tc.name, got, tc.want)
		}
	}
}

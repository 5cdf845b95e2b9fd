package parent

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// /etc/subuid lines are the user's by name or by uid; a map must fall inside one range whole.
func TestSubIDRanges(t *testing.T) {
	file := filepath.Join(t.TempDir(), "subuid")
	data := "other:100000:65536\nalice:200000:65536\n1001:400000:10\nbroken:x:1\nalice:300000\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	ranges, err := subIDRanges(file, "alice", 1001)
	if err != nil {
		t.Fatal(err)
	}
	if got := describeRanges(ranges); got != "200000-265535, 400000-400009" {
		t.Fatalf("ranges %s", got)
	}
	for _, tc := range []struct {
		host, size uint32
		want       bool
	}{
		{200000, 65536, true},
		{265535, 1, true},
		{265535, 2, false}, // runs past the range's end
		{400005, 5, true},
		{100000, 1, false}, // another user's
		{199999, 2, false},
	} {
		m := specs.LinuxIDMapping{HostID: tc.host, Size: tc.size}
		if got := inRanges(ranges, m); got != tc.want {
			t.Errorf("host %d size %d: in ranges %v, want %v", tc.host, tc.size, got, tc.want)
		}
	}
	if r, err := subIDRanges(filepath.Join(t.TempDir(), "none"), "alice", 1001); err != nil || r != nil {
		t.Fatalf("a missing file: %v, %v; want no ranges", r, err)
	}
}

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
	ranges, listed, err := subIDRanges(file, "alice", 1001)
	if err != nil || !listed {
		t.Fatal(listed, err)
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
	if r, listed, err := subIDRanges(filepath.Join(t.TempDir(), "none"), "alice", 1001); err != nil || r != nil || listed {
		t.Fatalf("a missing file: %v, %v, %v; want no ranges and alice unlisted", r, listed, err)
	}
	// A user the file does not list is unknown, not one with no ranges: nsswitch may know it.
	if r, listed, err := subIDRanges(file, "bob", 1002); err != nil || r != nil || listed {
		t.Fatalf("bob: %v, %v, %v; want unlisted", r, listed, err)
	}
}

// getsubids prints "index: name start count", one line a range.
func TestParseGetsubids(t *testing.T) {
	out := "0: alice 200000 65536\n1: alice 400000 10\n0: bob 1 2\ngarbage\n"
	if got := describeRanges(parseGetsubids(out, "alice")); got != "200000-265535, 400000-400009" {
		t.Fatalf("ranges %s", got)
	}
	if r := parseGetsubids("Error fetching ranges\n", "alice"); r != nil {
		t.Fatalf("an error: %v, want none", r)
	}
}

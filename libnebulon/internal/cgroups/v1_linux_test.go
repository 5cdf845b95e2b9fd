package cgroups

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestV1DeviceRuleFormat(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		rule specs.LinuxDeviceCgroup
		want string
	}{
		{specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}, "a"},
		{specs.LinuxDeviceCgroup{Allow: true, Type: "a"}, "a"},
		{specs.LinuxDeviceCgroup{Type: "c", Major: n(1), Minor: n(3), Access: "rwm"}, "c 1:3 rwm"},
		{specs.LinuxDeviceCgroup{Type: "c", Major: n(136), Minor: n(-1), Access: "rw"}, "c 136:* rw"},
		{specs.LinuxDeviceCgroup{Type: "b", Access: "m"}, "b *:* m"},
		{specs.LinuxDeviceCgroup{Type: "a", Access: "r"}, "a *:* r"},
	} {
		if got := v1DeviceRule(tc.rule); got != tc.want {
			t.Errorf("v1DeviceRule(%+v) = %q, want %q", tc.rule, got, tc.want)
		}
	}
}

// TestFillCpusetFile fills empty cpuset files from the nearest ancestor that has a value, and
// fills the empty ancestors on the way, as runc does; a value already there is kept.
func TestFillCpusetFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chain []string // cpuset.cpus from the top down; the last is the new cgroup
		want  []string
	}{
		{"parent has cpus", []string{"0-3", ""}, []string{"0-3", "0-3"}},
		{"empty parents filled from the grandparent", []string{"0-1\n", "", "", ""}, []string{"0-1\n", "0-1", "0-1", "0-1"}},
		{"nearest ancestor wins", []string{"0-3", "1", "", ""}, []string{"0-3", "1", "1", "1"}},
		{"own value kept", []string{"0-3", "", "2"}, []string{"0-3", "", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var dirs []string
			for i, v := range tc.chain {
				if i > 0 {
					dir = filepath.Join(dir, "c")
				}
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "cpuset.cpus"), []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
				dirs = append(dirs, dir)
			}
			if _, err := fillCpusetFile(dir, "cpuset.cpus"); err != nil {
				t.Fatal(err)
			}
			for i, d := range dirs {
				got, _ := os.ReadFile(filepath.Join(d, "cpuset.cpus"))
				if string(got) != tc.want[i] {
					t.Errorf("level %d: cpuset.cpus %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestFillCpusetFileAllEmpty(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cpuset.mems"), nil, 0o644)
	if _, err := fillCpusetFile(dir, "cpuset.mems"); err == nil {
		t.Fatal("an empty chain up to a directory without cpuset.mems was filled")
	}
}

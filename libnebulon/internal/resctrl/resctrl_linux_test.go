package resctrl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeRoot is a directory laid out like a resctrl mount: the default group's files, info, and
// an existing group "gold" with its schemata.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"info", "mon_groups", "gold/mon_groups"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(root, "schemata"), "    L3:0=7ff;1=7ff\n    MB:0=100;1=100\n")
	write(t, filepath.Join(root, "gold", "schemata"), "    L3:0=07f0;1=01f\n    MB:0=20;1=70\n")
	return root
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Without closID the container gets a group of its own, named by its id, with the schemata
// written in the spec's order and the init in its tasks; Destroy removes it.
func TestApplyMakesTheContainersOwnGroup(t *testing.T) {
	root := fakeRoot(t)
	r := &specs.LinuxIntelRdt{L3CacheSchema: "L3:0=f", MemBwSchema: "MB:0=50", Schemata: []string{"L2:0=3"}, EnableMonitoring: true}
	os.MkdirAll(filepath.Join(root, "c1", "mon_groups"), 0o755) // the kernel makes it with the group
	os.Remove(filepath.Join(root, "c1", "mon_groups"))
	os.Remove(filepath.Join(root, "c1"))
	g, err := Apply(root, "c1", r, 4242)
	if err == nil {
		t.Fatalf("monitoring without mon_groups succeeded: %+v", g)
	}
	if _, err := os.Stat(filepath.Join(root, "c1")); !os.IsNotExist(err) {
		t.Fatalf("a failed Apply left its group behind: %v", err)
	}
	r.EnableMonitoring = false
	if g, err = Apply(root, "c1", r, 4242); err != nil {
		t.Fatal(err)
	}
	// The fake keeps the last write; the kernel keeps each resource. Every line went, in order:
	// the last is schemata's.
	if got := read(t, filepath.Join(root, "c1", "schemata")); got != "L2:0=3\n" {
		t.Errorf("schemata = %q, want the last line written to be schemata's", got)
	}
	if got := read(t, filepath.Join(root, "c1", "tasks")); got != "4242" {
		t.Errorf("tasks = %q", got)
	}
	if !g.Made || g.Dir != filepath.Join(root, "c1") {
		t.Errorf("group %+v: want c1, made", g)
	}
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.Dir); !os.IsNotExist(err) {
		t.Errorf("Destroy left %s: %v", g.Dir, err)
	}
}

// A closID that exists is joined when its schemata say what the config asks (leading zeros and
// case do not count), refused when they differ; it is never removed.
func TestApplyJoinsAnExistingClosIDWithTheSameSchemata(t *testing.T) {
	root := fakeRoot(t)
	g, err := Apply(root, "c1", &specs.LinuxIntelRdt{ClosID: "gold", L3CacheSchema: "L3:0=7F0;1=1f", EnableMonitoring: true}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, "gold", "schemata")); !strings.Contains(got, "07f0") {
		t.Errorf("an existing group's schemata were rewritten: %q", got)
	}
	if got := read(t, filepath.Join(root, "gold", "mon_groups", "c1", "tasks")); got != "7" {
		t.Errorf("monitoring group tasks = %q", got)
	}
	if err := g.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "gold")); err != nil {
		t.Errorf("Destroy removed the closID group: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "gold", "mon_groups", "c1")); !os.IsNotExist(err) {
		t.Errorf("Destroy left the monitoring group: %v", err)
	}
	_, err = Apply(root, "c2", &specs.LinuxIntelRdt{ClosID: "gold", MemBwSchema: "MB:0=30"}, 8)
	if err == nil || !strings.Contains(err.Error(), "MB:0=20, not the MB:0=30 asked for") {
		t.Errorf("a closID with other schemata: %v", err)
	}
}

// A closID without schemata must exist; "/" is the default group, which is joined, never written.
func TestApplyClosIDWithoutSchemataMustExist(t *testing.T) {
	root := fakeRoot(t)
	if _, err := Apply(root, "c1", &specs.LinuxIntelRdt{ClosID: "silver"}, 9); err == nil || !strings.Contains(err.Error(), "the group must exist") {
		t.Errorf("a missing closID: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "silver")); !os.IsNotExist(err) {
		t.Errorf("the missing closID was left made: %v", err)
	}
	g, err := Apply(root, "c1", &specs.LinuxIntelRdt{ClosID: "/"}, 9)
	if err != nil || g.Dir != root || g.Made {
		t.Fatalf("closID /: %+v, %v", g, err)
	}
	if got := read(t, filepath.Join(root, "tasks")); got != "9" {
		t.Errorf("default group tasks = %q", got)
	}
}

func TestCheckNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		r    specs.LinuxIntelRdt
		want string
	}{
		{specs.LinuxIntelRdt{ClosID: "../x"}, "closID"},
		{specs.LinuxIntelRdt{ClosID: "a/b"}, "closID"},
		{specs.LinuxIntelRdt{L3CacheSchema: "MB:0=1"}, "l3CacheSchema"},
		{specs.LinuxIntelRdt{MemBwSchema: "L3:0=1"}, "memBwSchema"},
		{specs.LinuxIntelRdt{Schemata: []string{"L3:0=1", "MB:0=1\nL2:0=1"}}, "schemata[1]"},
	} {
		err := Check(&tc.r)
		if err == nil || !strings.HasPrefix(err.Error(), "config.json: linux.intelRdt."+tc.want+":") {
			t.Errorf("%+v: %v, want an error naming %s", tc.r, err, tc.want)
		}
	}
	if err := Check(&specs.LinuxIntelRdt{ClosID: "gold", L3CacheSchema: "L3:0=f", MemBwSchema: "MB:0=20"}); err != nil {
		t.Errorf("a valid config: %v", err)
	}
}

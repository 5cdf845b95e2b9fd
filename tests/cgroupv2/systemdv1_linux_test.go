package cgroupv2

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The systemd driver on a cgroup v1 host (hybrid, as systemd 252 mounts it with
// systemd.unified_cgroup_hierarchy=0), in tests/systemd/run.sh's second boot.

// v1Cgroups maps each hierarchy in /proc/<pid>/cgroup (its controllers field: "memory",
// "cpu,cpuacct", "name=systemd", "" for the cgroup2 one) to the process's cgroup there.
func v1Cgroups(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 {
			out[parts[1]] = parts[2]
		}
	}
	return out
}

// v1Dirs lists the directories of cgroup dir (a path below the hierarchies' roots) that exist,
// in every hierarchy mounted below /sys/fs/cgroup.
func v1Dirs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(cgroupRoot)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		p := filepath.Join(cgroupRoot, e.Name(), dir)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			found = append(found, p)
		}
	}
	return found
}

// The unit's cgroup in every hierarchy, the ones systemd manages and those it does not (made by
// the runtime at the same path, as runc does); the limits in the unit's properties (v1's
// MemoryLimit, CPUShares) and the files, kept by a daemon-reload and changed by update; an exec
// joins every hierarchy; delete leaves no cgroup and no unit.
func TestSystemdV1ScopeInEveryHierarchyWithLimits(t *testing.T) {
	if !systemdV1 {
		t.Skip("runs on tests/systemd/run.sh's hybrid boot (NEBULON_CGROUPV2_SYSTEMD_V1=1)")
	}
	e := newEnv(t)
	c := e.newContainer("sleep", "600")
	c.unset("linux.cgroupsPath")
	c.set("linux.resources.memory.limit", 64<<20)
	c.set("linux.resources.cpu.quota", 50000)
	c.set("linux.resources.cpu.period", 100000)
	c.set("linux.resources.cpu.shares", 512)
	c.set("linux.resources.pids.limit", 40)
	c.mustCreate()
	unit := "nebulon-" + c.id + ".scope"
	want := "/system.slice/" + unit
	cgs := v1Cgroups(t, c.pid())
	for _, h := range []string{"memory", "pids", "cpu,cpuacct", "cpuset", "freezer", "devices", "name=systemd", ""} {
		if got, ok := cgs[h]; !ok || got != want {
			t.Errorf("hierarchy %q: the init is in %q, want %s (all: %v)", h, got, want, cgs)
		}
	}
	files := map[string]string{
		"memory/memory.limit_in_bytes": strconv.Itoa(64 << 20), "pids/pids.max": "40",
		"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.shares": "512",
	}
	props := map[string]string{
		"MemoryLimit": strconv.Itoa(64 << 20), "TasksMax": "40", "CPUQuotaPerSecUSec": "500ms", "CPUShares": "512",
		"Delegate": "yes", "ControlGroup": want,
	}
	check := func(when string) {
		t.Helper()
		for file, w := range files {
			data, err := os.ReadFile(filepath.Join(cgroupRoot, filepath.Dir(file), want, filepath.Base(file)))
			if got := strings.TrimSpace(string(data)); err != nil || got != w {
				t.Errorf("%s: %s = %q (%v), want %q", when, file, got, err, w)
			}
		}
		assertProps(t, unit, props)
	}
	check("created")
	mustCommand(t, "systemctl", "daemon-reload")
	check("after daemon-reload")
	e.must("update", "--memory", "128M", c.id)
	files["memory/memory.limit_in_bytes"], props["MemoryLimit"] = strconv.Itoa(128<<20), strconv.Itoa(128<<20)
	check("updated")

	e.must("start", c.id)
	r := e.must("exec", c.id, "cat", "/proc/self/cgroup")
	// `nebulon spec` makes no cgroup namespace: the paths are the host's.
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasSuffix(line, ":"+want) {
			t.Errorf("the exec'd process is not in the container's cgroup in every hierarchy: %q", line)
		}
	}

	e.must("delete", "--force", c.id)
	if left := v1Dirs(t, want); len(left) > 0 {
		t.Errorf("delete left the cgroups %v", left)
	}
	assertNoUnit(t, unit)
}

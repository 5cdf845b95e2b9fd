package cgroupv2

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pause freezes the cgroup (cgroup.freeze 1, and cgroup.events says frozen once every task has
// stopped); resume thaws it. `state` reports paused and running, as runc does.
func TestPauseAndResumeFreezeTheCgroup(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	c.mustStart()
	dir := c.cgroupDir()

	e.must("pause", c.id)
	if got := readCgroupFile(t, dir, "cgroup.freeze"); got != "1" {
		t.Errorf("after pause: cgroup.freeze = %s, want 1", got)
	}
	waitCgroupEvent(t, dir, "frozen", 1)
	if s := c.state(); s.Status != "paused" {
		t.Errorf("after pause: status %q, want paused", s.Status)
	}

	e.must("resume", c.id)
	if got := readCgroupFile(t, dir, "cgroup.freeze"); got != "0" {
		t.Errorf("after resume: cgroup.freeze = %s, want 0", got)
	}
	waitCgroupEvent(t, dir, "frozen", 0)
	if s := c.state(); s.Status != "running" {
		t.Errorf("after resume: status %q, want running", s.Status)
	}
}

func TestDeleteForceRemovesPausedContainer(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	c.mustStart()
	dir := c.cgroupDir()
	e.must("pause", c.id)
	waitCgroupEvent(t, dir, "frozen", 1)
	e.must("delete", "--force", c.id)
	c.assertGone(dir)
}

// startWithLimits starts a container with memory.limit 128 MiB and pids.limit 100, the values
// the update tests change.
func startWithLimits(t *testing.T, e *env) (*container, string) {
	t.Helper()
	c := e.newContainer("sleep", "60")
	c.set("linux.resources.memory.limit", 128<<20)
	c.set("linux.resources.pids.limit", 100)
	c.mustStart()
	return c, c.cgroupDir()
}

func assertFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for file, w := range want {
		if got := readCgroupFile(t, dir, file); got != w {
			t.Errorf("%s = %q, want %q", file, got, w)
		}
	}
}

func TestUpdateChangesLimits(t *testing.T) {
	e := newEnv(t)
	c, dir := startWithLimits(t, e)
	e.must("update", "--memory", "64M", "--pids-limit", "20", c.id)
	assertFiles(t, dir, map[string]string{"memory.max": strconv.Itoa(64 << 20), "pids.max": "20"})
	if s := c.state(); s.Status != "running" {
		t.Errorf("after update: status %q, want running", s.Status)
	}
}

// Values that share a v2 file (cpu.max) or a conversion (memory.swap.max = swap - limit) are
// updated together: an update of one keeps the other in force, as in runc.
func TestUpdateOfOneKeepsTheValueSharingItsFile(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	c.set("linux.resources.cpu.quota", 20000)
	c.set("linux.resources.cpu.period", 100000)
	c.set("linux.resources.memory.limit", 64<<20)
	c.set("linux.resources.memory.swap", 96<<20)
	c.mustStart()
	dir := c.cgroupDir()
	e.must("update", "--cpu-period", "200000", c.id)
	e.must("update", "--memory", "32m", c.id)
	assertFiles(t, dir, map[string]string{
		"cpu.max": "20000 200000", "memory.max": strconv.Itoa(32 << 20), "memory.swap.max": strconv.Itoa(64 << 20),
	})
	e.must("update", "--memory", "-1", c.id)
	assertFiles(t, dir, map[string]string{"memory.max": "max", "memory.swap.max": "max"})
}

// --resources takes a LinuxResources JSON file, converted for v2 as at create.
func TestUpdateFromResourcesFile(t *testing.T) {
	e := newEnv(t)
	c, dir := startWithLimits(t, e)
	file := filepath.Join(e.dir, "resources.json")
	res := `{"memory":{"limit":33554432},"cpu":{"quota":20000,"period":100000,"shares":2048},"pids":{"limit":30}}`
	if err := os.WriteFile(file, []byte(res), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("update", "--resources", file, c.id)
	assertFiles(t, dir, map[string]string{
		"memory.max": "33554432", "cpu.max": "20000 100000", "pids.max": "30",
		"cpu.weight": strconv.FormatUint(cpuWeight(2048), 10),
	})
}

// An update the kernel refuses part way (cpuset.cpus of a CPU the guest lacks) fails, and the
// limits it had already written are put back: runc re-applies the old resources on failure.
func TestFailedUpdateKeepsOldValues(t *testing.T) {
	e := newEnv(t)
	c, dir := startWithLimits(t, e)
	before := map[string]string{}
	for _, f := range []string{"memory.max", "pids.max", "cpuset.cpus", "cpu.max"} {
		before[f] = readCgroupFile(t, dir, f)
	}
	file := filepath.Join(e.dir, "resources.json")
	res := `{"memory":{"limit":67108864},"pids":{"limit":20},"cpu":{"quota":20000,"period":100000,"cpus":"99"}}`
	if err := os.WriteFile(file, []byte(res), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.nebulon("update", "--resources", file, c.id)
	if r.ok() {
		t.Fatalf("update to cpuset.cpus 99 on a %d-cpu guest succeeded", countCPUs(t))
	}
	if !strings.Contains(r.stderr, "cpus") {
		t.Errorf("the error does not name cpu.cpus:\n%s", r)
	}
	assertFiles(t, dir, before)
}

func countCPUs(t *testing.T) int {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(data)) // "0-1"
	if _, last, ok := strings.Cut(s, "-"); ok {
		n, _ := strconv.Atoi(last)
		return n + 1
	}
	return 1
}

// `events --stats` prints one JSON object, runc's shape: {"type":"stats","id":...,"data":{...}}
// with the v1-compatible names runc's types.Stats uses (cpu.usage.total, memory.usage.usage and
// .limit, pids.current and .limit).
func TestEventsStats(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sh", "-c", "sleep 60 & sleep 60 & wait")
	c.set("linux.resources.memory.limit", 64<<20)
	c.set("linux.resources.pids.limit", 50)
	c.mustStart()
	waitCgroupPids(t, c.cgroupDir(), 3)
	r := e.must("events", "--stats", c.id)
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			CPU struct {
				Usage struct {
					Total uint64 `json:"total"`
				} `json:"usage"`
			} `json:"cpu"`
			Memory struct {
				Usage struct {
					Usage uint64 `json:"usage"`
					Limit uint64 `json:"limit"`
				} `json:"usage"`
			} `json:"memory"`
			Pids struct {
				Current uint64 `json:"current"`
				Limit   uint64 `json:"limit"`
			} `json:"pids"`
		} `json:"data"`
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 1 {
		t.Fatalf("events --stats printed %d lines, want one JSON object:\n%s", len(lines), r.stdout)
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatalf("events --stats: %v\n%s", err, r.stdout)
	}
	var raw struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	json.Unmarshal([]byte(lines[0]), &raw)
	for _, key := range []string{"cpu", "memory", "pids"} {
		if _, ok := raw.Data[key]; !ok {
			t.Errorf("events --stats: data has no %q: %s", key, lines[0])
		}
	}
	d := ev.Data
	switch {
	case ev.Type != "stats" || ev.ID != c.id:
		t.Errorf(`type %q, id %q; want "stats", %q`, ev.Type, ev.ID, c.id)
	case d.CPU.Usage.Total == 0:
		t.Errorf("data.cpu.usage.total is 0")
	case d.Memory.Usage.Usage == 0 || d.Memory.Usage.Limit != 64<<20:
		t.Errorf("data.memory.usage: usage %d, limit %d; want > 0, %d", d.Memory.Usage.Usage, d.Memory.Usage.Limit, 64<<20)
	case d.Pids.Current != 3 || d.Pids.Limit != 50:
		t.Errorf("data.pids: current %d, limit %d; want 3 (sh and two sleeps), 50", d.Pids.Current, d.Pids.Limit)
	}
	if t.Failed() {
		t.Logf("events --stats: %s", lines[0])
	}
}

// `ps --format json` prints the container's pids (host pids) as a JSON array, as runc does.
func TestPsFormatJSONListsPids(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sh", "-c", "sleep 60 & sleep 60 & wait")
	c.mustStart()
	dir := c.cgroupDir()
	waitCgroupPids(t, dir, 3)
	r := e.must("ps", "--format", "json", c.id)
	var pids []int
	if err := json.Unmarshal([]byte(r.stdout), &pids); err != nil {
		t.Fatalf("ps --format json: %v\n%s", err, r.stdout)
	}
	var want []int
	for _, f := range strings.Fields(readCgroupFile(t, dir, "cgroup.procs")) {
		n, _ := strconv.Atoi(f)
		want = append(want, n)
	}
	slices.Sort(pids)
	slices.Sort(want)
	if !slices.Equal(pids, want) {
		t.Errorf("ps --format json: %v, want cgroup.procs %v", pids, want)
	}
	if !slices.Contains(pids, c.pid()) {
		t.Errorf("ps --format json: %v lacks the init %d", pids, c.pid())
	}
}

// waitCgroupPids waits until the cgroup holds n processes.
func waitCgroupPids(t *testing.T, dir string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if len(strings.Fields(readCgroupFile(t, dir, "cgroup.procs"))) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s/cgroup.procs: %q, want %d processes", dir, readCgroupFile(t, dir, "cgroup.procs"), n)
}

// An exec into a container whose cgroup hands controllers down to sub-cgroups (systemd or
// another manager in the container made them, and moved the init) joins the init's cgroup: the
// kernel refuses processes in a cgroup that enables controllers for its children, and runc
// falls back to the init's cgroup too.
func TestExecIntoNonLeafCgroupJoinsTheInits(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sleep", "600")
	c.mustStart()
	base := c.cgroup()
	dir := filepath.Join(cgroupRoot, base)
	sub := filepath.Join(dir, "init")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "cgroup.procs"), []byte(strconv.Itoa(c.pid())), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+pids"), 0); err != nil {
		t.Fatal(err)
	}
	r := e.must("exec", c.id, "cat", "/proc/self/cgroup")
	// The init's cgroup namespace is rooted at the container's cgroup; without one the path is
	// the host's.
	if got := strings.TrimSpace(r.stdout); got != "0::/init" && got != "0::"+base+"/init" {
		t.Errorf("the exec'd process is in %q, want the init's cgroup, %s/init", got, base)
	}
}

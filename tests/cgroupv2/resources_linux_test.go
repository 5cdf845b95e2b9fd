package cgroupv2

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// resourceCase is linux.resources (as JSON) and the cgroup v2 files it must set.
type resourceCase struct {
	name      string
	resources string
	want      map[string]string              // file -> content
	check     func(t *testing.T, dir string) // for what depends on the host (io.bfq.weight)
	needs     string                         // why to skip, when the guest lacks something; "" runs
}

// cpuWeight is cpu.shares (v1, 2..262144) as cpu.weight (v2, 1..10000) by the quadratic that
// maps 2, 1024 and 262144 onto 1, 100 and 10000, as runc and crun convert it
// (runc libcontainer/cgroups/utils.go ConvertCPUSharesToCgroupV2Value; crun #1767).
func cpuWeight(shares uint64) uint64 {
	if shares <= 2 {
		return 1
	}
	if shares >= 262144 {
		return 10000
	}
	l := math.Log2(float64(shares))
	return uint64(math.Ceil(math.Pow(10, (l*l+125*l)/612-7.0/34)))
}

// ioWeight is blkio.weight (v1, 10..1000) as io.weight (v2, 1..10000), runc's linear map.
func ioWeight(w uint64) uint64 { return 1 + (w-10)*9999/990 }

func TestCPUWeightFormula(t *testing.T) {
	for shares, want := range map[uint64]uint64{2: 1, 1024: 100, 262144: 10000, 512: 59, 4096: 303} {
		if got := cpuWeight(shares); got != want {
			t.Errorf("cpuWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	if got := ioWeight(500); got != 4950 {
		t.Errorf("ioWeight(500) = %d, want 4950", got)
	}
}

func resourceCases() []resourceCase {
	const mib = 1 << 20
	cases := []resourceCase{
		{name: "memory.limit", resources: `{"memory":{"limit":67108864}}`,
			want: map[string]string{"memory.max": "67108864"}},
		{name: "memory.limit -1", resources: `{"memory":{"limit":-1}}`,
			want: map[string]string{"memory.max": "max"}},
		{name: "memory.reservation", resources: `{"memory":{"reservation":33554432}}`,
			want: map[string]string{"memory.low": "33554432"}},
		// memory.swap is memory+swap (v1); memory.swap.max is swap alone.
		{name: "memory.swap", resources: fmt.Sprintf(`{"memory":{"limit":%d,"swap":%d}}`, 64*mib, 96*mib),
			want: map[string]string{"memory.max": fmt.Sprint(64 * mib), "memory.swap.max": fmt.Sprint(32 * mib)}},
		{name: "memory.swap -1", resources: fmt.Sprintf(`{"memory":{"limit":%d,"swap":-1}}`, 64*mib),
			want: map[string]string{"memory.swap.max": "max"}},
		{name: "memory.swap equal to limit", resources: fmt.Sprintf(`{"memory":{"limit":%d,"swap":%d}}`, 64*mib, 64*mib),
			want: map[string]string{"memory.swap.max": "0"}},
		{name: "cpu.quota and period", resources: `{"cpu":{"quota":50000,"period":100000}}`,
			want: map[string]string{"cpu.max": "50000 100000"}},
		{name: "cpu.quota -1", resources: `{"cpu":{"quota":-1,"period":50000}}`,
			want: map[string]string{"cpu.max": "max 50000"}},
		{name: "cpu.burst", resources: `{"cpu":{"quota":50000,"period":100000,"burst":20000}}`,
			want: map[string]string{"cpu.max": "50000 100000", "cpu.max.burst": "20000"}},
		{name: "cpu.idle", resources: `{"cpu":{"idle":1}}`,
			want: map[string]string{"cpu.idle": "1"}},
		{name: "cpu.cpus and mems", resources: `{"cpu":{"cpus":"1","mems":"0"}}`,
			want: map[string]string{"cpuset.cpus": "1", "cpuset.mems": "0"}},
		{name: "pids.limit", resources: `{"pids":{"limit":42}}`,
			want: map[string]string{"pids.max": "42"}},
		{name: "pids.limit -1", resources: `{"pids":{"limit":-1}}`,
			want: map[string]string{"pids.max": "max"}},
		{name: "unified", resources: `{"unified":{"pids.max":"17","memory.high":"50331648"}}`,
			want: map[string]string{"pids.max": "17", "memory.high": "50331648"}},
		{name: "blockIO.weight", resources: `{"blockIO":{"weight":500}}`, check: checkIOWeight(500)},
	}
	for _, shares := range []uint64{2, 512, 1024, 4096, 262144} {
		cases = append(cases, resourceCase{
			name:      fmt.Sprintf("cpu.shares %d", shares),
			resources: fmt.Sprintf(`{"cpu":{"shares":%d}}`, shares),
			want:      map[string]string{"cpu.weight": fmt.Sprint(cpuWeight(shares))},
		})
	}
	cases = append(cases, throttleCase())
	cases = append(cases, resourceCase{name: "hugepageLimits",
		resources: `{"hugepageLimits":[{"pageSize":"2MB","limit":4194304}]}`,
		want:      map[string]string{"hugetlb.2MB.max": "4194304"},
		needs:     needHugetlb("2MB", "hugepages-2048kB"),
	})
	return cases
}

// checkIOWeight: io.bfq.weight takes the v1 weight as it is where BFQ is loaded; otherwise
// io.weight (io.cost) gets it converted. Both files read "default N".
func checkIOWeight(w uint64) func(t *testing.T, dir string) {
	return func(t *testing.T, dir string) {
		file, want := "io.weight", ioWeight(w)
		if exists(filepath.Join(dir, "io.bfq.weight")) {
			file, want = "io.bfq.weight", w
		}
		if got := readCgroupFile(t, dir, file); got != fmt.Sprintf("default %d", want) {
			t.Errorf("%s = %q, want %q", file, got, fmt.Sprintf("default %d", want))
		}
	}
}

// throttleCase throttles /dev/ram0, the RAM disk init.sh makes (brd).
func throttleCase() resourceCase {
	c := resourceCase{name: "blockIO.throttle*Device"}
	data, err := os.ReadFile("/sys/block/ram0/dev")
	if err != nil {
		c.needs = "no /dev/ram0 (brd) in this guest"
		return c
	}
	var major, minor int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor); err != nil {
		c.needs = "cannot parse /sys/block/ram0/dev"
		return c
	}
	dev := func(rate int) string { return fmt.Sprintf(`[{"major":%d,"minor":%d,"rate":%d}]`, major, minor, rate) }
	c.resources = fmt.Sprintf(`{"blockIO":{"throttleReadBpsDevice":%s,"throttleWriteBpsDevice":%s,`+
		`"throttleReadIOPSDevice":%s,"throttleWriteIOPSDevice":%s}}`, dev(1048576), dev(2097152), dev(100), dev(200))
	c.want = map[string]string{"io.max": fmt.Sprintf("%d:%d rbps=1048576 wbps=2097152 riops=100 wiops=200", major, minor)}
	return c
}

// needHugetlb tells why a hugetlb case cannot run, or "".
func needHugetlb(size, sysfsDir string) string {
	if !exists(filepath.Join("/sys/kernel/mm/hugepages", sysfsDir)) {
		return "the guest has no " + size + " huge pages"
	}
	ctrls, _ := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"))
	if !strings.Contains(string(ctrls), "hugetlb") {
		return "the hugetlb controller is not enabled"
	}
	return ""
}

// Each resource lands in its cgroup v2 file, converted from its v1 meaning where the spec's
// field has one (runtime-spec config-linux.md; runc's fs2 and crun's cgroup v2 conversions).
func TestResourcesSetCgroupFiles(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for _, tc := range resourceCases() {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != "" {
				t.Skip(tc.needs)
			}
			e := newEnv(t)
			c := e.newContainer("sleep", "60")
			c.set("linux.resources", json.RawMessage(tc.resources))
			c.mustCreate()
			dir := c.cgroupDir()
			for file, want := range tc.want {
				if got := readCgroupFile(t, dir, file); got != want {
					t.Errorf("%s = %q, want %q (linux.resources %s)", file, got, want, tc.resources)
				}
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
			e.must("delete", "--force", c.id)
			c.assertGone(dir)
		})
	}
}

// What a v2 host cannot honour is refused at create, naming the field, and the failed create
// leaves no cgroup and no state (runtime-spec config.md: a setting the runtime cannot apply is
// an error, not silently dropped).
func TestUnhonourableResourcesFailCreate(t *testing.T) {
	cases := []struct {
		name, resources, field string
	}{
		{"unified key of a missing file", `{"unified":{"memory.bogus":"1"}}`, "memory.bogus"},
		{"unified key of a v1-only controller", `{"unified":{"net_cls.classid":"1"}}`, "net_cls.classid"},
		{"hugepage size the host lacks", `{"hugepageLimits":[{"pageSize":"3MB","limit":1048576}]}`, "hugepageLimits"},
		{"cpu.realtimeRuntime", `{"cpu":{"realtimeRuntime":1000}}`, "realtimeRuntime"},
		{"memory.swappiness", `{"memory":{"swappiness":10}}`, "swappiness"},
		{"cpu.cpus the host lacks", `{"cpu":{"cpus":"99"}}`, "cpu.cpus"},
	}
	if skipReason != "" {
		t.Skip(skipReason)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.newContainer("true")
			c.set("linux.resources", json.RawMessage(tc.resources))
			r := c.create()
			if r.ok() {
				t.Fatalf("create with linux.resources %s succeeded; want an error naming %s (cgroup %s)", tc.resources, tc.field, c.cgroupDir())
			}
			if !strings.Contains(r.stderr, tc.field) {
				t.Errorf("the error does not name %s:\n%s", tc.field, r)
			}
			c.assertGone(filepath.Join(cgroupRoot, c.id))
		})
	}
}

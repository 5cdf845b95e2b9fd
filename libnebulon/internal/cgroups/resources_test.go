package cgroups

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

func TestCPUSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 512: 59, 1024: 100, 2048: 174, 262144: 10000, 1 << 20: 10000} {
		if got := CPUSharesToWeight(shares); got != want {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
}

func TestBlkioWeightToIOWeight(t *testing.T) {
	for w, want := range map[uint16]uint64{0: 0, 10: 1, 500: 4950, 1000: 10000} {
		if got := BlkioWeightToIOWeight(w); got != want {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}

func TestSwapToV2(t *testing.T) {
	for _, tc := range []struct {
		swap, limit, want int64
		err               string
	}{
		{0, 0, 0, ""},
		{0, -1, -1, ""}, // unlimited memory, swap unset: unlimited swap, as v1
		{-1, 100, -1, ""},
		{300, 100, 200, ""},
		{100, 100, 0, ""}, // memory+swap = memory: no swap
		{50, 100, 0, "below the memory limit"},
		{300, 0, 0, "needs a memory limit"},
	} {
		got, err := SwapToV2(tc.swap, tc.limit)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("SwapToV2(%d, %d) error = %v, want %q", tc.swap, tc.limit, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("SwapToV2(%d, %d) = %d, %v; want %d", tc.swap, tc.limit, got, err, tc.want)
		}
	}
}

// file=value pairs of the writes, the first candidate file of each.
func summary(ws []write) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.files[0]+"="+w.vals[0])
	}
	return out
}

func TestV1AndV2Writes(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr(int64(64 << 20)), Swap: ptr(int64(128 << 20)), Reservation: ptr(int64(32 << 20))},
		CPU: &specs.LinuxCPU{Shares: ptr(uint64(1024)), Quota: ptr(int64(50000)), Period: ptr(uint64(100000)),
			Cpus: "0", Mems: "0", Idle: ptr(int64(1)), Burst: ptr(uint64(1000))},
		Pids:           &specs.LinuxPids{Limit: ptr(int64(10))},
		BlockIO:        &specs.LinuxBlockIO{Weight: ptr(uint16(500)), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1 << 20}}},
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}},
		Rdma:           map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: ptr(uint32(3))}},
	}
	r.BlockIO.ThrottleReadBpsDevice[0].Major, r.BlockIO.ThrottleReadBpsDevice[0].Minor = 8, 0
	v1, err := v1Writes(r)
	if err != nil {
		t.Fatal(err)
	}
	wantV1 := []string{
		"memory.limit_in_bytes=67108864", "memory.memsw.limit_in_bytes=134217728", "memory.soft_limit_in_bytes=33554432",
		"cpu.shares=1024", "cpu.cfs_period_us=100000", "cpu.cfs_quota_us=50000", "cpu.cfs_burst_us=1000", "cpu.idle=1",
		"cpuset.cpus=0", "cpuset.mems=0", "pids.max=10", "blkio.weight=500", "blkio.throttle.read_bps_device=8:0 1048576",
		"hugetlb.2MB.limit_in_bytes=4194304", "rdma.max=mlx5_0 hca_handle=3",
	}
	if got := summary(v1); !reflect.DeepEqual(got, wantV1) {
		t.Errorf("v1 writes:\n got %q\nwant %q", got, wantV1)
	}
	v2, err := v2Writes(r)
	if err != nil {
		t.Fatal(err)
	}
	wantV2 := []string{
		"memory.max=67108864", "memory.swap.max=67108864", "memory.low=33554432",
		"cpu.weight=100", "cpu.max=50000 100000", "cpu.max.burst=1000", "cpu.idle=1",
		"cpuset.cpus=0", "cpuset.mems=0", "pids.max=10", "io.bfq.weight=500", "io.max=8:0 rbps=1048576",
		"hugetlb.2MB.max=4194304", "rdma.max=mlx5_0 hca_handle=3",
	}
	if got := summary(v2); !reflect.DeepEqual(got, wantV2) {
		t.Errorf("v2 writes:\n got %q\nwant %q", got, wantV2)
	}
	if w := v2[10]; w.files[1] != "io.weight" || w.vals[1] != "4950" {
		t.Errorf("blockIO.weight on v2 without BFQ = %s=%s, want io.weight=4950", w.files[1], w.vals[1])
	}
}

func TestV2QuotaForms(t *testing.T) {
	for _, tc := range []struct {
		quota  int64
		period uint64
		want   string
	}{{-1, 100000, "max 100000"}, {20000, 0, "20000"}, {0, 50000, "max 50000"}} {
		ws, err := v2Writes(&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: &tc.quota, Period: &tc.period}})
		if err != nil || len(ws) != 1 || ws[0].vals[0] != tc.want {
			t.Errorf("quota %d period %d: %v, %v; want cpu.max=%q", tc.quota, tc.period, summary(ws), err, tc.want)
		}
	}
}

// What one cgroup version cannot honour is an error naming the field, not a silent no-op.
func TestWritesRefuseWhatTheVersionLacks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		r     specs.LinuxResources
		v2    bool
		field string
	}{
		{"v2 swappiness", specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(10))}}, true, "memory.swappiness"},
		{"v2 oom killer", specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: ptr(true)}}, true, "memory.disableOOMKiller"},
		{"v2 kernel memory", specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: ptr(int64(1 << 20))}}, true, "memory.kernel"},
		{"v2 realtime", specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: ptr(int64(1000))}}, true, "cpu.realtimeRuntime"},
		{"v2 leaf weight", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: ptr(uint16(100))}}, true, "blockIO.leafWeight"},
		{"v2 net_cls", specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: ptr(uint32(1))}}, true, "network"},
		{"v2 swap without limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: ptr(int64(1 << 20))}}, true, "memory.swap"},
		{"v2 bad unified key", specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, true, "unified"},
		{"v1 unified", specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, false, "unified"},
		{"v1 swappiness range", specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: ptr(uint64(101))}}, false, "memory.swappiness"},
		{"v1 swap below limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(100)), Swap: ptr(int64(50))}}, false, "memory.swap"},
		{"page size", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "huge"}}}, false, "hugepageLimits[0].pageSize"},
	} {
		var err error
		if tc.v2 {
			_, err = v2Writes(&tc.r)
		} else {
			_, err = v1Writes(&tc.r)
		}
		var re *ResourceError
		if !errors.As(err, &re) || re.Field != tc.field {
			t.Errorf("%s: error %v, want a ResourceError for %s", tc.name, err, tc.field)
		}
	}
}

// pids.limit 0 is a limit (runtime-spec 1.3): no task may be added. Below 0 is none; no limit
// given writes nothing.
func TestPidsLimitZeroIsALimit(t *testing.T) {
	for _, tc := range []struct {
		limit *int64
		want  []string
	}{
		{ptr(int64(0)), []string{"pids.max=0"}},
		{ptr(int64(-1)), []string{"pids.max=max"}},
		{ptr(int64(7)), []string{"pids.max=7"}},
		{nil, nil},
	} {
		ws, err := pidsWrites(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: tc.limit}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.files[0]+"="+w.vals[0])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("limit %v: writes %v, want %v", tc.limit, got, tc.want)
		}
	}
}

package systemd

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func ptr[T any](v T) *T { return &v }

// values maps each property to its value; a property given twice keeps the last.
func values(t *testing.T, r *specs.LinuxResources, v2 bool, version int) map[string]any {
	t.Helper()
	props, err := Properties(r, v2, version)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, p := range props {
		out[p.Name] = p.Value.Value()
	}
	return out
}

func TestPropertiesV2(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](256 << 20), Reservation: ptr[int64](64 << 20), Swap: ptr[int64](512 << 20)},
		CPU: &specs.LinuxCPU{Shares: ptr[uint64](1024), Quota: ptr[int64](50000), Period: ptr[uint64](100000),
			Cpus: "0-1", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](100)},
		BlockIO: &specs.LinuxBlockIO{Weight: ptr[uint16](500), ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1 << 20}}},
	}
	r.BlockIO.ThrottleReadBpsDevice[0].Major, r.BlockIO.ThrottleReadBpsDevice[0].Minor = 8, 0
	got := values(t, r, true, 252)
	want := map[string]any{
		"MemoryMax": uint64(256 << 20), "MemoryLow": uint64(64 << 20), "MemorySwapMax": uint64(256 << 20),
		"CPUWeight": uint64(100), "CPUQuotaPeriodUSec": uint64(100000), "CPUQuotaPerSecUSec": uint64(500000),
		"AllowedCPUs": []byte{3}, "AllowedMemoryNodes": []byte{1}, "TasksMax": uint64(100), "IOWeight": uint64(4950),
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	rbm, ok := got["IOReadBandwidthMax"]
	if !ok || !strings.Contains(strings.ReplaceAll(reflect.ValueOf(rbm).Index(0).Field(0).String(), " ", ""), "/dev/block/8:0") {
		t.Errorf("IOReadBandwidthMax = %#v, want /dev/block/8:0 at 1 MiB/s", rbm)
	}
}

func TestPropertiesV1AndOldSystemd(t *testing.T) {
	r := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](-1)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](12345), Period: ptr[uint64](100000), Cpus: "1"},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](-1)},
	}
	got := values(t, r, false, 241)
	want := map[string]any{"MemoryLimit": uint64(math.MaxUint64), "CPUShares": uint64(512),
		"CPUQuotaPerSecUSec": uint64(130000), "TasksMax": uint64(math.MaxUint64)}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	for _, k := range []string{"CPUQuotaPeriodUSec", "AllowedCPUs", "MemoryMax", "CPUWeight"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s given to systemd 241 on v1", k)
		}
	}
}

func TestQuotaIsRoundedUpToWholePercent(t *testing.T) {
	for _, tc := range []struct {
		quota   int64
		period  uint64
		perSec  uint64
		rounded int64
	}{
		{50000, 100000, 500000, 50000},
		{12345, 100000, 130000, 13000},
		{1000, 0, 10000, 1000},
		{-1, 100000, math.MaxUint64, -1},
		{25000, 50000, 500000, 25000},
	} {
		if got := QuotaPerSec(tc.quota, tc.period); got != tc.perSec {
			t.Errorf("QuotaPerSec(%d, %d) = %d, want %d", tc.quota, tc.period, got, tc.perSec)
		}
		if got := RoundedQuota(tc.quota, tc.period); got != tc.rounded {
			t.Errorf("RoundedQuota(%d, %d) = %d, want %d", tc.quota, tc.period, got, tc.rounded)
		}
	}
}

func TestRangeToBits(t *testing.T) {
	for in, want := range map[string][]byte{
		"0": {1}, "0-3": {0x0f}, "1,3": {0x0a}, "8": {0, 1}, "0-1,9-10": {0x03, 0x06}, " 2 ,": {0x04},
	} {
		if got, err := RangeToBits(in); err != nil || !bytes.Equal(got, want) {
			t.Errorf("RangeToBits(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ",", "3-1", "a", "1-b", "70000"} {
		if got, err := RangeToBits(in); err == nil {
			t.Errorf("RangeToBits(%q) = %v; want an error", in, got)
		}
	}
}

func TestUnifiedProperties(t *testing.T) {
	got := values(t, &specs.LinuxResources{Unified: map[string]string{
		"memory.high": "1048576", "memory.max": "max", "pids.max": "20", "cpu.weight": "300",
		"cpu.max": "20000 50000", "io.max": "8:0 rbps=1", // io.max: not modelled, no property
	}}, true, 252)
	want := map[string]any{"MemoryHigh": uint64(1 << 20), "MemoryMax": uint64(math.MaxUint64), "TasksMax": uint64(20),
		"CPUWeight": uint64(300), "CPUQuotaPeriodUSec": uint64(50000), "CPUQuotaPerSecUSec": uint64(400000)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	for _, bad := range []map[string]string{{"memory.high": "lots"}, {"cpu.weight": "0"}, {"cpu.max": "x 100000"}} {
		if _, err := Properties(&specs.LinuxResources{Unified: bad}, true, 252); err == nil || !strings.Contains(err.Error(), "linux.resources.unified") {
			t.Errorf("Properties(unified %v) = %v; want an error naming the field", bad, err)
		}
	}
}

func TestAnnotationProperties(t *testing.T) {
	props, err := AnnotationProperties(map[string]string{
		"org.systemd.property.TimeoutStopSec": "10",
		"org.systemd.property.CollectMode":    "'inactive-or-failed'",
		"org.systemd.property.CPUAccounting":  "true",
		"org.systemd.property.RuntimeMaxSec":  "1.5",
		"org.systemd.property.TasksMax":       "uint64 64",
		"org.systemd.property.CPUSec":         "7", // no lower-case letter before Sec: left as it is
		"org.systemd.property.Sec":            "8",
		"org.opencontainers.image.title":      "not a property",
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range props {
		got = append(got, p.Name+"="+p.Value.String())
	}
	want := []string{
		"CPUAccounting=true", "CPUSec=7", "CollectMode=\"inactive-or-failed\"",
		"RuntimeMaxUSec=@t 1500000", "Sec=8", "TasksMax=@t 64", "TimeoutStopUSec=@t 10000000",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestAnnotationPropertiesErrors(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"org.systemd.property.Ab", "1", "shorter than three"},
		{"org.systemd.property.Memory-Max", "1", "not an ASCII letter"},
		{"org.systemd.property.CollectMode", "inactive", "not a GVariant"},
		{"org.systemd.property.TimeoutStopSec", "'ten'", "number of seconds"},
		{"org.systemd.property.TimeoutStopSec", "-1", "not a time span"},
		{"org.systemd.property.TimeoutStopSec", "uint64 18446744073709551615", "do not fit"},
	} {
		_, err := AnnotationProperties(map[string]string{tc.key: tc.value})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%s=%s: error %v, want one naming the annotation and saying %q", tc.key, tc.value, err, tc.want)
		}
	}
}

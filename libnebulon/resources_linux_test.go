package libnebulon

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func p[T any](v T) *T { return &v }

func TestMergeResourcesReplacesFieldByFieldAndKeepsDevices(t *testing.T) {
	rule := specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: p(int64(10)), Minor: p(int64(200)), Access: "rwm"}
	base := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{rule},
		Memory:  &specs.LinuxMemory{Limit: p(int64(512 << 20)), Swap: p(int64(1 << 30))},
		CPU:     &specs.LinuxCPU{Quota: p(int64(50000)), Period: p(uint64(100000)), Cpus: "0-1"},
		BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{Rate: 1000}}},
	}
	upd := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: p(int64(256 << 20))},
		CPU:     &specs.LinuxCPU{Period: p(uint64(200000))},
		BlockIO: &specs.LinuxBlockIO{Weight: p(uint16(300))},
	}
	got := MergeResources(base, upd)
	if !reflect.DeepEqual(got.Devices, base.Devices) {
		t.Errorf("devices = %+v, want the created ones, unchanged", got.Devices)
	}
	if *got.Memory.Limit != 256<<20 || *got.Memory.Swap != 1<<30 {
		t.Errorf("memory = %d/%d, want the new limit and the old swap", *got.Memory.Limit, *got.Memory.Swap)
	}
	if *got.CPU.Quota != 50000 || *got.CPU.Period != 200000 || got.CPU.Cpus != "0-1" {
		t.Errorf("cpu = %+v, want the old quota and cpus with the new period", got.CPU)
	}
	if *got.BlockIO.Weight != 300 || len(got.BlockIO.ThrottleReadBpsDevice) != 1 {
		t.Errorf("blockIO = %+v, want the new weight beside the old throttle", got.BlockIO)
	}
	if *base.Memory.Limit != 512<<20 {
		t.Errorf("the saved resources were changed in place")
	}
}

func TestUnlimitedMemoryWithoutSwapMakesSwapUnlimited(t *testing.T) {
	base := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(32 << 20)), Swap: p(int64(64 << 20))}}
	got := MergeResources(base, &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(-1))}})
	if *got.Memory.Swap != -1 {
		t.Errorf("swap = %d, want -1 with the memory limit lifted", *got.Memory.Swap)
	}
}

// An update of one of two values sharing a file (cpu.max) or a conversion (memory.swap.max)
// carries the other's value in force, so it is not reset.
func TestWithDependentsCarriesTheValuesSharingAFile(t *testing.T) {
	base := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: p(int64(512 << 20)), Swap: p(int64(1 << 30)), CheckBeforeUpdate: p(true)},
		CPU:    &specs.LinuxCPU{Quota: p(int64(50000)), Period: p(uint64(100000)), Shares: p(uint64(512))},
	}
	upd := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: p(int64(256 << 20))},
		CPU:    &specs.LinuxCPU{Period: p(uint64(200000))},
		Pids:   &specs.LinuxPids{Limit: p(int64(10))},
	}
	a := withDependents(upd, MergeResources(base, upd))
	if *a.CPU.Quota != 50000 || *a.CPU.Period != 200000 || a.CPU.Shares != nil {
		t.Errorf("cpu to apply = %+v, want the kept quota, the new period and no shares", a.CPU)
	}
	if *a.Memory.Limit != 256<<20 || *a.Memory.Swap != 1<<30 || !*a.Memory.CheckBeforeUpdate {
		t.Errorf("memory to apply = %+v, want the new limit with the kept swap and check", a.Memory)
	}
	if a.Pids.Limit == nil || *a.Pids.Limit != 10 || a.BlockIO != nil {
		t.Errorf("to apply: pids %+v, blockIO %+v; want only what the update names", a.Pids, a.BlockIO)
	}
}

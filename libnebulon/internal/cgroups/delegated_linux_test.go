package cgroups

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckDelegated(t *testing.T) {
	have := []string{"memory", "pids"} // systemd 252's user@.service less cpu
	for _, tc := range []struct {
		name  string
		r     *specs.LinuxResources
		field string // the field refused; "" for none
	}{
		{"nothing", nil, ""},
		{"delegated limits", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: ptr(int64(32 << 20))}, Pids: &specs.LinuxPids{Limit: ptr(int64(20))}}, ""},
		{"cpu undelegated", &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: ptr(int64(50000)), Period: ptr(uint64(100000))}}, "cpu"},
		{"io undelegated", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: ptr(uint16(500))}}, "blockIO"},
		{"a unified key of an undelegated controller", &specs.LinuxResources{Unified: map[string]string{"cpu.weight": "50"}}, "unified.cpu.weight"},
		{"a unified key of a delegated one", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000"}}, ""},
		{"a cgroup.* unified key needs no controller", &specs.LinuxResources{Unified: map[string]string{"cgroup.freeze": "0"}}, ""},
	} {
		err := CheckDelegated(tc.r, have, "user@1000.service")
		var re *ResourceError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.field != "" && !errors.As(err, &re):
			t.Errorf("%s: %v, want a ResourceError", tc.name, err)
		case tc.field != "" && (len(re.Field) < len(tc.field) || re.Field[:len(tc.field)] != tc.field):
			t.Errorf("%s: the error names %q, want %s: %v", tc.name, re.Field, tc.field, err)
		}
	}
}

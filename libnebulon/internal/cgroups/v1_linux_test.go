package cgroups

import (
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

package libnebulon

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func devRule(typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: access}
}

// wildcard is -1 in a device rule: every major or minor number.
const wildcard = -1

// defaultDeviceRules are allowed after the spec's own rules, as runc and crun allow them: making
// any node (opening it is what the rules guard), the default devices, the console and the
// container's own pseudo-terminals.
var defaultDeviceRules = []specs.LinuxDeviceCgroup{
	devRule("c", wildcard, wildcard, "m"), devRule("b", wildcard, wildcard, "m"),
	devRule("c", 1, 3, "rwm"), devRule("c", 1, 5, "rwm"), devRule("c", 1, 7, "rwm"),
	devRule("c", 1, 8, "rwm"), devRule("c", 1, 9, "rwm"), devRule("c", 5, 0, "rwm"),
	devRule("c", 5, 1, "rwm"), devRule("c", 5, 2, "rwm"), devRule("c", 136, wildcard, "rwm"),
}

// denyAll is where device rules start from, as in runc: a new cgroup inherits its parent's list,
// which on most hosts allows every device.
var denyAll = specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}

// cgroupResources returns the resources to apply: the spec's, with its device rules between a
// deny-all and the default rules. Devices listed in linux.devices are not allowed by this alone,
// as in runc: access is what linux.resources.devices says.
func cgroupResources(s *specs.Spec) *specs.LinuxResources {
	var r specs.LinuxResources
	if s.Linux.Resources != nil {
		r = *s.Linux.Resources
	}
	rules := append([]specs.LinuxDeviceCgroup{denyAll}, r.Devices...)
	r.Devices = append(rules, defaultDeviceRules...)
	return &r
}

package linuxspec

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SchedPolicies maps process.scheduler.policy to sched_setattr(2)'s policies (linux/sched.h;
// SCHED_ISO, 4, is reserved there and refused by mainline kernels).
var SchedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

// SchedFlags maps process.scheduler.flags to sched_attr's flags (uapi/linux/sched.h).
var SchedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10,
	specs.SchedFlagUtilClampMin: 0x20, specs.SchedFlagUtilClampMax: 0x40,
}

// SchedAttr checks process.scheduler and converts it to sched_setattr(2)'s argument. The rules
// are sched(7)'s: nice is -20..19, a static priority is 1..99 for the real-time policies and 0
// for the others, and runtime, deadline and period belong to SCHED_DEADLINE, where
// runtime <= deadline <= period (a period of 0 is the deadline).
func SchedAttr(s *specs.Scheduler) (*unix.SchedAttr, error) {
	policy, ok := SchedPolicies[s.Policy]
	if !ok {
		return nil, Errorf("process.scheduler.policy", "unknown policy %q", s.Policy)
	}
	var flags uint64
	for i, f := range s.Flags {
		v, ok := SchedFlags[f]
		if !ok {
			return nil, Errorf(fmt.Sprintf("process.scheduler.flags[%d]", i), "unknown flag %q", f)
		}
		flags |= v
	}
	if s.Nice < -20 || s.Nice > 19 {
		return nil, Errorf("process.scheduler.nice", "%d is outside -20..19", s.Nice)
	}
	rt := s.Policy == specs.SchedFIFO || s.Policy == specs.SchedRR
	switch {
	case rt && (s.Priority < 1 || s.Priority > 99):
		return nil, Errorf("process.scheduler.priority", "%d is outside 1..99 for %s", s.Priority, s.Policy)
	case !rt && s.Priority != 0:
		return nil, Errorf("process.scheduler.priority", "%d: only SCHED_FIFO and SCHED_RR have a static priority", s.Priority)
	}
	if s.Policy != specs.SchedDeadline {
		if s.Runtime != 0 || s.Deadline != 0 || s.Period != 0 {
			return nil, Errorf("process.scheduler", "runtime, deadline and period are for SCHED_DEADLINE, not %s", s.Policy)
		}
	} else {
		period := s.Period
		if period == 0 {
			period = s.Deadline
		}
		if s.Runtime == 0 || s.Runtime > s.Deadline || s.Deadline > period {
			return nil, Errorf("process.scheduler", "SCHED_DEADLINE needs 0 < runtime (%d) <= deadline (%d) <= period (%d)", s.Runtime, s.Deadline, s.Period)
		}
	}
	return &unix.SchedAttr{
		Size: unix.SizeofSchedAttr, Policy: policy, Flags: flags, Nice: s.Nice,
		Priority: uint32(s.Priority), Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period,
	}, nil
}

// IOPrioClasses maps process.ioPriority.class to ioprio_set(2)'s classes (uapi/linux/ioprio.h).
var IOPrioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

// IOPrio checks process.ioPriority and converts it to ioprio_set(2)'s value: the class in the
// top bits (IOPRIO_CLASS_SHIFT 13), the level 0..7 below.
func IOPrio(p *specs.LinuxIOPriority) (int, error) {
	class, ok := IOPrioClasses[p.Class]
	if !ok {
		return 0, Errorf("process.ioPriority.class", "unknown class %q (IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE)", p.Class)
	}
	if p.Priority < 0 || p.Priority > 7 {
		return 0, Errorf("process.ioPriority.priority", "%d is outside 0..7", p.Priority)
	}
	return class<<13 | p.Priority, nil
}

// Personalities maps linux.personality.domain to personality(2)'s values
// (uapi/linux/personality.h: PER_LINUX 0, PER_LINUX32 8).
var Personalities = map[specs.LinuxPersonalityDomain]uintptr{
	specs.PerLinux: 0x0000, specs.PerLinux32: 0x0008,
}

// Personality checks linux.personality and converts it to personality(2)'s argument. The spec
// defines no flags ("currently no flag values are supported"), so any flag is refused rather than
// dropped: the container would not run with the personality it asked for.
func Personality(p *specs.LinuxPersonality) (uintptr, error) {
	v, ok := Personalities[p.Domain]
	if !ok {
		return 0, Errorf("linux.personality.domain", "unknown domain %q (LINUX or LINUX32)", p.Domain)
	}
	if len(p.Flags) > 0 {
		return 0, Errorf("linux.personality.flags", "%q: runtime-spec 1.3 defines no personality flags", p.Flags)
	}
	return v, nil
}

// MemPolicyModes and MemPolicyFlags map linux.memoryPolicy to set_mempolicy(2)'s mode and mode
// flags (uapi/linux/mempolicy.h).
var (
	MemPolicyModes = map[specs.MemoryPolicyModeType]int{
		specs.MpolDefault: unix.MPOL_DEFAULT, specs.MpolPreferred: unix.MPOL_PREFERRED,
		specs.MpolBind: unix.MPOL_BIND, specs.MpolInterleave: unix.MPOL_INTERLEAVE,
		specs.MpolLocal: unix.MPOL_LOCAL, specs.MpolPreferredMany: unix.MPOL_PREFERRED_MANY,
		specs.MpolWeightedInterleave: unix.MPOL_WEIGHTED_INTERLEAVE,
	}
	MemPolicyFlags = map[specs.MemoryPolicyFlagType]int{
		specs.MpolFStaticNodes: unix.MPOL_F_STATIC_NODES, specs.MpolFRelativeNodes: unix.MPOL_F_RELATIVE_NODES,
		specs.MpolFNumaBalancing: unix.MPOL_F_NUMA_BALANCING,
	}
)

// MemPolicy checks linux.memoryPolicy and converts it to set_mempolicy(2)'s mode (with its
// flags) and node mask (nil for none). set_mempolicy(2) says which modes take nodes: none for
// MPOL_DEFAULT and MPOL_LOCAL, at least one for the others but MPOL_PREFERRED (none is "local");
// the two node flags exclude each other, and MPOL_F_NUMA_BALANCING is for MPOL_BIND and
// MPOL_PREFERRED_MANY only (kernel 5.12+, 6.8+).
func MemPolicy(m *specs.LinuxMemoryPolicy) (int, *unix.CPUSet, error) {
	mode, ok := MemPolicyModes[m.Mode]
	if !ok {
		return 0, nil, Errorf("linux.memoryPolicy.mode", "unknown mode %q", m.Mode)
	}
	nodes, err := ParseCPUList(m.Nodes)
	if err != nil {
		return 0, nil, Errorf("linux.memoryPolicy.nodes", "%q: %v", m.Nodes, err)
	}
	switch m.Mode {
	case specs.MpolDefault, specs.MpolLocal:
		if nodes != nil {
			return 0, nil, Errorf("linux.memoryPolicy.nodes", "%q: %s takes no nodes", m.Nodes, m.Mode)
		}
	case specs.MpolPreferred:
	default:
		if nodes == nil {
			return 0, nil, Errorf("linux.memoryPolicy.nodes", "%s needs at least one node", m.Mode)
		}
	}
	var flags int
	for i, f := range m.Flags {
		v, ok := MemPolicyFlags[f]
		if !ok {
			return 0, nil, Errorf(fmt.Sprintf("linux.memoryPolicy.flags[%d]", i), "unknown flag %q", f)
		}
		flags |= v
	}
	if flags&unix.MPOL_F_STATIC_NODES != 0 && flags&unix.MPOL_F_RELATIVE_NODES != 0 {
		return 0, nil, Errorf("linux.memoryPolicy.flags", "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other")
	}
	if flags&unix.MPOL_F_NUMA_BALANCING != 0 && m.Mode != specs.MpolBind && m.Mode != specs.MpolPreferredMany {
		return 0, nil, Errorf("linux.memoryPolicy.flags", "MPOL_F_NUMA_BALANCING is for MPOL_BIND or MPOL_PREFERRED_MANY, not %s", m.Mode)
	}
	if flags != 0 && (m.Mode == specs.MpolDefault || m.Mode == specs.MpolLocal) {
		return 0, nil, Errorf("linux.memoryPolicy.flags", "%s takes no flags", m.Mode)
	}
	return mode | flags, nodes, nil
}

// ExecCPUAffinity checks process.execCPUAffinity and parses its two lists (nil for a list that is
// empty or absent).
func ExecCPUAffinity(a *specs.CPUAffinity) (initial, final *unix.CPUSet, err error) {
	if initial, err = ParseCPUList(a.Initial); err != nil {
		return nil, nil, Errorf("process.execCPUAffinity.initial", "%q: %v", a.Initial, err)
	}
	if final, err = ParseCPUList(a.Final); err != nil {
		return nil, nil, Errorf("process.execCPUAffinity.final", "%q: %v", a.Final, err)
	}
	return initial, final, nil
}

// ParseCPUList parses the kernel's list format ("0-3,7", cpuset(7)), for CPUs and memory nodes.
// The empty list is nil. A number past what a CPUSet holds is an error, not silently dropped.
func ParseCPUList(list string) (*unix.CPUSet, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var set unix.CPUSet
	limit := uint64(len(set) * 64)
	num := func(s string) (int, error) {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", s)
		}
		if n >= limit {
			return 0, fmt.Errorf("%d is above the largest supported, %d", n, limit-1)
		}
		return int(n), nil
	}
	for _, r := range strings.Split(list, ",") {
		lo, hi, isRange := strings.Cut(r, "-")
		a, err := num(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = num(hi); err != nil {
				return nil, err
			}
			if a > b {
				return nil, fmt.Errorf("range %q runs backwards", r)
			}
		}
		for i := a; i <= b; i++ {
			set.Set(i)
		}
	}
	return &set, nil
}

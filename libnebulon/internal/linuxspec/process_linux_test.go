package linuxspec

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestSchedAttr(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     specs.Scheduler
		policy uint32
		flags  uint64
		err    string // a field the error names, "" for none
	}{
		{"other with nice", specs.Scheduler{Policy: specs.SchedOther, Nice: -5}, 0, 0, ""},
		{"batch", specs.Scheduler{Policy: specs.SchedBatch, Nice: 19}, 3, 0, ""},
		{"idle", specs.Scheduler{Policy: specs.SchedIdle}, 5, 0, ""},
		{"fifo", specs.Scheduler{Policy: specs.SchedFIFO, Priority: 99}, 1, 0, ""},
		{"rr with flags", specs.Scheduler{Policy: specs.SchedRR, Priority: 1, Flags: []specs.LinuxSchedulerFlag{specs.SchedFlagResetOnFork, specs.SchedFlagKeepParams}}, 2, 0x11, ""},
		{"deadline", specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 10e6, Deadline: 30e6, Period: 100e6}, 6, 0, ""},
		{"deadline period defaults to deadline", specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 10e6, Deadline: 30e6}, 6, 0, ""},
		{"unknown policy", specs.Scheduler{Policy: "SCHED_FOO"}, 0, 0, "process.scheduler.policy"},
		{"empty policy", specs.Scheduler{}, 0, 0, "process.scheduler.policy"},
		{"unknown flag", specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"SCHED_FLAG_FOO"}}, 0, 0, "process.scheduler.flags[0]"},
		{"nice too low", specs.Scheduler{Policy: specs.SchedOther, Nice: -21}, 0, 0, "process.scheduler.nice"},
		{"nice too high", specs.Scheduler{Policy: specs.SchedBatch, Nice: 20}, 0, 0, "process.scheduler.nice"},
		{"fifo without priority", specs.Scheduler{Policy: specs.SchedFIFO}, 0, 0, "process.scheduler.priority"},
		{"rr priority 100", specs.Scheduler{Policy: specs.SchedRR, Priority: 100}, 0, 0, "process.scheduler.priority"},
		{"priority for other", specs.Scheduler{Policy: specs.SchedOther, Priority: 5}, 0, 0, "process.scheduler.priority"},
		{"runtime for fifo", specs.Scheduler{Policy: specs.SchedFIFO, Priority: 1, Runtime: 5}, 0, 0, "process.scheduler"},
		{"deadline without runtime", specs.Scheduler{Policy: specs.SchedDeadline, Deadline: 10}, 0, 0, "process.scheduler"},
		{"deadline runtime above deadline", specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 20, Deadline: 10, Period: 30}, 0, 0, "process.scheduler"},
		{"deadline above period", specs.Scheduler{Policy: specs.SchedDeadline, Runtime: 5, Deadline: 40, Period: 30}, 0, 0, "process.scheduler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attr, err := SchedAttr(&tc.in)
			if checkErr(t, err, tc.err) {
				return
			}
			if attr.Policy != tc.policy || attr.Flags != tc.flags || attr.Nice != tc.in.Nice ||
				attr.Priority != uint32(tc.in.Priority) || attr.Runtime != tc.in.Runtime || attr.Size != unix.SizeofSchedAttr {
				t.Fatalf("got %+v, want policy %d flags %#x from %+v", attr, tc.policy, tc.flags, tc.in)
			}
		})
	}
}

// checkErr reports whether there was an error, failing unless it is a FieldError naming field.
func checkErr(t *testing.T, err error, field string) bool {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return false
	}
	fe, ok := err.(*FieldError)
	if !ok || fe.Field != field {
		t.Fatalf("error %v, want a FieldError for %s", err, field)
	}
	return true
}

func TestIOPrio(t *testing.T) {
	for _, tc := range []struct {
		in   specs.LinuxIOPriority
		want int
		err  string
	}{
		{specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_RT, Priority: 0}, 1 << 13, ""},
		{specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}, 2<<13 | 4, ""},
		{specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE, Priority: 7}, 3<<13 | 7, ""},
		{specs.LinuxIOPriority{Class: "IOPRIO_CLASS_NONE"}, 0, "process.ioPriority.class"},
		{specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}, 0, "process.ioPriority.priority"},
		{specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: -1}, 0, "process.ioPriority.priority"},
	} {
		got, err := IOPrio(&tc.in)
		if !checkErr(t, err, tc.err) && got != tc.want {
			t.Errorf("IOPrio(%+v) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestPersonality(t *testing.T) {
	for _, tc := range []struct {
		in   specs.LinuxPersonality
		want uintptr
		err  string
	}{
		{specs.LinuxPersonality{Domain: specs.PerLinux}, 0, ""},
		{specs.LinuxPersonality{Domain: specs.PerLinux32}, 8, ""},
		{specs.LinuxPersonality{Domain: "LINUX64"}, 0, "linux.personality.domain"},
		{specs.LinuxPersonality{}, 0, "linux.personality.domain"},
		{specs.LinuxPersonality{Domain: specs.PerLinux, Flags: []specs.LinuxPersonalityFlag{"ADDR_NO_RANDOMIZE"}}, 0, "linux.personality.flags"},
	} {
		got, err := Personality(&tc.in)
		if !checkErr(t, err, tc.err) && got != tc.want {
			t.Errorf("Personality(%+v) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestMemPolicy(t *testing.T) {
	flags := func(f ...specs.MemoryPolicyFlagType) []specs.MemoryPolicyFlagType { return f }
	for _, tc := range []struct {
		name  string
		in    specs.LinuxMemoryPolicy
		mode  int
		nodes []int
		err   string
	}{
		{"default", specs.LinuxMemoryPolicy{Mode: specs.MpolDefault}, unix.MPOL_DEFAULT, nil, ""},
		{"local", specs.LinuxMemoryPolicy{Mode: specs.MpolLocal}, unix.MPOL_LOCAL, nil, ""},
		{"preferred without nodes", specs.LinuxMemoryPolicy{Mode: specs.MpolPreferred}, unix.MPOL_PREFERRED, nil, ""},
		{"preferred", specs.LinuxMemoryPolicy{Mode: specs.MpolPreferred, Nodes: "1"}, unix.MPOL_PREFERRED, []int{1}, ""},
		{"bind static", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0-1,3", Flags: flags(specs.MpolFStaticNodes)}, unix.MPOL_BIND | unix.MPOL_F_STATIC_NODES, []int{0, 1, 3}, ""},
		{"interleave relative", specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "2-3", Flags: flags(specs.MpolFRelativeNodes)}, unix.MPOL_INTERLEAVE | unix.MPOL_F_RELATIVE_NODES, []int{2, 3}, ""},
		{"weighted interleave", specs.LinuxMemoryPolicy{Mode: specs.MpolWeightedInterleave, Nodes: "0"}, unix.MPOL_WEIGHTED_INTERLEAVE, []int{0}, ""},
		{"preferred many balancing", specs.LinuxMemoryPolicy{Mode: specs.MpolPreferredMany, Nodes: "0", Flags: flags(specs.MpolFNumaBalancing)}, unix.MPOL_PREFERRED_MANY | unix.MPOL_F_NUMA_BALANCING, []int{0}, ""},
		{"unknown mode", specs.LinuxMemoryPolicy{Mode: "MPOL_FOO"}, 0, nil, "linux.memoryPolicy.mode"},
		{"bind without nodes", specs.LinuxMemoryPolicy{Mode: specs.MpolBind}, 0, nil, "linux.memoryPolicy.nodes"},
		{"default with nodes", specs.LinuxMemoryPolicy{Mode: specs.MpolDefault, Nodes: "0"}, 0, nil, "linux.memoryPolicy.nodes"},
		{"bad nodes", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0-x"}, 0, nil, "linux.memoryPolicy.nodes"},
		{"unknown flag", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: flags("MPOL_F_FOO")}, 0, nil, "linux.memoryPolicy.flags[0]"},
		{"static and relative", specs.LinuxMemoryPolicy{Mode: specs.MpolBind, Nodes: "0", Flags: flags(specs.MpolFStaticNodes, specs.MpolFRelativeNodes)}, 0, nil, "linux.memoryPolicy.flags"},
		{"balancing with interleave", specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0", Flags: flags(specs.MpolFNumaBalancing)}, 0, nil, "linux.memoryPolicy.flags"},
		{"flags with local", specs.LinuxMemoryPolicy{Mode: specs.MpolLocal, Flags: flags(specs.MpolFStaticNodes)}, 0, nil, "linux.memoryPolicy.flags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, nodes, err := MemPolicy(&tc.in)
			if checkErr(t, err, tc.err) {
				return
			}
			if mode != tc.mode {
				t.Errorf("mode %#x, want %#x", mode, tc.mode)
			}
			if got := members(nodes); !equalInts(got, tc.nodes) {
				t.Errorf("nodes %v, want %v", got, tc.nodes)
			}
		})
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  string // part of the error
	}{
		{"", nil, ""},
		{"  ", nil, ""},
		{"7", []int{7}, ""},
		{"0-3,7", []int{0, 1, 2, 3, 7}, ""},
		{" 1 , 3-4", []int{1, 3, 4}, ""},
		{"1023", []int{1023}, ""},
		{"1024", nil, "above the largest"},
		{"3-1", nil, "backwards"},
		{"a", nil, "not a number"},
		{"1,", nil, "not a number"},
		{"-1", nil, "not a number"},
	} {
		set, err := ParseCPUList(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseCPUList(%q) error %v, want one with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCPUList(%q): %v", tc.in, err)
			continue
		}
		if got := members(set); !equalInts(got, tc.want) {
			t.Errorf("ParseCPUList(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestExecCPUAffinity(t *testing.T) {
	initial, final, err := ExecCPUAffinity(&specs.CPUAffinity{Initial: "7", Final: "0-3,7"})
	if err != nil || !equalInts(members(initial), []int{7}) || !equalInts(members(final), []int{0, 1, 2, 3, 7}) {
		t.Fatalf("got %v %v %v", members(initial), members(final), err)
	}
	_, _, err = ExecCPUAffinity(&specs.CPUAffinity{Final: "x"})
	checkErr(t, err, "process.execCPUAffinity.final")
	_, _, err = ExecCPUAffinity(&specs.CPUAffinity{Initial: "2-1"})
	checkErr(t, err, "process.execCPUAffinity.initial")
}

func members(s *unix.CPUSet) []int {
	if s == nil {
		return nil
	}
	var out []int
	for i := 0; i < len(s)*64; i++ {
		if s.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

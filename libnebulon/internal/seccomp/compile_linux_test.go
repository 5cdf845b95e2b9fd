//go:build cgo

package seccomp

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func uintp(v uint) *uint { return &v }

func allowExcept(rules ...specs.LinuxSyscall) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: rules}
}

func TestCompileErrorsNameTheFieldAndValue(t *testing.T) {
	getppid := []string{"getppid"}
	tests := []struct {
		name string
		s    *specs.LinuxSeccomp
		want string
	}{
		{"no default action", &specs.LinuxSeccomp{Syscalls: []specs.LinuxSyscall{{Names: getppid, Action: specs.ActErrno}}},
			"defaultAction: missing"},
		{"unknown default action", &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_FOO"},
			`defaultAction: unknown action "SCMP_ACT_FOO"`},
		{"notify default action", &specs.LinuxSeccomp{DefaultAction: specs.ActNotify, ListenerPath: "/run/agent.sock"},
			"defaultAction: SCMP_ACT_NOTIFY cannot be the default action"},
		{"errno on an action without one", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: uintp(1)},
			"defaultErrnoRet: SCMP_ACT_ALLOW takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"},
		{"errno wider than the return data", &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(70000)},
			"defaultErrnoRet: 70000 is out of range (0 to 65535)"},
		{"unknown architecture", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, "SCMP_ARCH_FOO"}},
			`architectures[1]: unknown architecture "SCMP_ARCH_FOO"`},
		{"unknown flag", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "X"}},
			`flags[1]: unknown flag "X"`},
		{"metadata without listener", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerMetadata: "m"},
			"listenerMetadata: set without listenerPath"},
		{"unknown rule action", allowExcept(
			specs.LinuxSyscall{Names: getppid, Action: specs.ActErrno},
			specs.LinuxSyscall{Names: getppid, Action: specs.ActLog},
			specs.LinuxSyscall{Names: getppid, Action: "SCMP_ACT_FOO"}),
			`syscalls[2].action: unknown action "SCMP_ACT_FOO"`},
		{"errno on a kill rule", allowExcept(specs.LinuxSyscall{Names: getppid, Action: specs.ActKill, ErrnoRet: uintp(1)}),
			"syscalls[0].errnoRet: SCMP_ACT_KILL takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"},
		{"trace errno out of range", allowExcept(specs.LinuxSyscall{Names: getppid, Action: specs.ActTrace, ErrnoRet: uintp(1 << 16)}),
			"syscalls[0].errnoRet: 65536 is out of range (0 to 65535)"},
		{"no names", allowExcept(specs.LinuxSyscall{Action: specs.ActErrno}),
			"syscalls[0].names: must name at least one syscall"},
		{"empty name", allowExcept(specs.LinuxSyscall{Names: []string{"getppid", ""}, Action: specs.ActErrno}),
			"syscalls[0].names[1]: empty syscall name"},
		{"unknown operator", allowExcept(specs.LinuxSyscall{Names: getppid, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Value: 1, Op: "SCMP_CMP_XX"}}}),
			`syscalls[0].args[1].op: unknown operator "SCMP_CMP_XX"`},
		{"argument index past the sixth", allowExcept(specs.LinuxSyscall{Names: getppid, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 6, Value: 1, Op: specs.OpEqualTo}}}),
			"syscalls[0].args[0].index: 6 is out of range (0 to 5)"},
		{"notify on write", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock", Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActNotify}}},
			`syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for "write"`},
		{"notify without listener", allowExcept(specs.LinuxSyscall{Names: getppid, Action: specs.ActNotify}),
			"listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY"},
	}
	if kernelHasFlag(unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
		tests = append(tests, struct {
			name string
			s    *specs.LinuxSeccomp
			want string
		}{"wait-killable without a listener", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
			Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagWaitKillableRecv}},
			"flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a SCMP_ACT_NOTIFY rule"})
	}
	if native, _ := libseccomp.GetNativeArch(); native == libseccomp.ArchAMD64 || native == libseccomp.ArchARM64 {
		tests = append(tests, struct {
			name string
			s    *specs.LinuxSeccomp
			want string
		}{"big-endian architecture on a little-endian host", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchS390X}},
			"architectures[0]: SCMP_ARCH_S390X cannot be in one filter with this host's architecture: their byte orders differ"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Compile(tt.s)
			if err == nil {
				t.Fatalf("Compile = %+v, want error %q", f, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *Error", err)
			}
		})
	}
}

func TestCompileWithoutDefaultActionOrSyscallsIsDisabled(t *testing.T) {
	for _, s := range []*specs.LinuxSeccomp{nil, {}, {Architectures: []specs.Arch{specs.ArchX86}}} {
		f, err := Compile(s)
		if f != nil || err != nil {
			t.Errorf("Compile(%+v) = %+v, %v; want nil, nil", s, f, err)
		}
	}
}

func mustCompile(t *testing.T, s *specs.LinuxSeccomp) *Filter {
	t.Helper()
	f, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// returns lists the values the program's BPF_RET|BPF_K instructions return.
func returns(p Program) []uint32 {
	var rets []uint32
	for _, insn := range p {
		if insn.Code == unix.BPF_RET|unix.BPF_K {
			rets = append(rets, insn.K)
		}
	}
	return rets
}

func TestDefaultErrnoRetIsTheDefaultReturn(t *testing.T) {
	getppid := specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActAllow}
	f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(38), Syscalls: []specs.LinuxSyscall{getppid}})
	if !slices.Contains(returns(f.Program), unix.SECCOMP_RET_ERRNO|38) {
		t.Errorf("returns %#x, want ERRNO(38) among them", returns(f.Program))
	}
	f = mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{getppid}})
	if !slices.Contains(returns(f.Program), unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM)) {
		t.Errorf("returns %#x, want ERRNO(EPERM) among them when defaultErrnoRet is unset", returns(f.Program))
	}
}

func TestRuleWithTheDefaultActionIsSkipped(t *testing.T) {
	none := mustCompile(t, allowExcept())
	same := mustCompile(t, allowExcept(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActAllow}))
	if !reflect.DeepEqual(none.Program, same.Program) {
		t.Errorf("an ALLOW rule under an ALLOW default changed the program:\n%v\n%v", none.Program, same.Program)
	}
	// ERRNO(38) is not the default ERRNO(EPERM): that rule stays.
	def := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno, ErrnoRet: uintp(38)}}}
	if rets := returns(mustCompile(t, def).Program); !slices.Contains(rets, unix.SECCOMP_RET_ERRNO|38) {
		t.Errorf("returns %#x, want the ERRNO(38) rule kept under an ERRNO(EPERM) default", rets)
	}
}

func TestUnknownSyscallIsSkipped(t *testing.T) {
	known := mustCompile(t, allowExcept(specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActErrno}))
	both := mustCompile(t, allowExcept(specs.LinuxSyscall{Names: []string{"nebulon_no_such_syscall", "getppid"}, Action: specs.ActErrno}))
	if !reflect.DeepEqual(known.Program, both.Program) {
		t.Errorf("an unknown syscall changed the program:\n%v\n%v", known.Program, both.Program)
	}
}

func TestArchitecturesAreChecked(t *testing.T) {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		t.Fatal(err)
	}
	if native != libseccomp.ArchAMD64 {
		t.Skipf("the audit arch values below are x86's; native is %v", native)
	}
	f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActErrno}}})
	var ks []uint32
	for _, insn := range f.Program {
		ks = append(ks, insn.K)
	}
	const x32Bit = 0x40000000 // __X32_SYSCALL_BIT: x32 shares x86_64's audit arch
	for _, want := range []uint32{unix.AUDIT_ARCH_X86_64, unix.AUDIT_ARCH_I386, unix.SYS_GETPPID, x32Bit | unix.SYS_GETPPID, 64 /* i386 getppid */} {
		if !slices.Contains(ks, want) {
			t.Errorf("program compares with %#x, want %#x among them: %v", ks, want, f.Program)
		}
	}
}

func TestFlags(t *testing.T) {
	wantDefault := uint(0)
	if kernelHasFlag(unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW) {
		wantDefault = unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
	}
	notify := specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActNotify}
	tests := []struct {
		name       string
		s          *specs.LinuxSeccomp
		flags      uint
		wantNotify bool
	}{
		{"unset is runc's SPEC_ALLOW", allowExcept(), wantDefault, false},
		{"empty is none", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{}}, 0, false},
		{"TSYNC is dropped", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{flagTsync, specs.LinuxSeccompFlagLog}},
			unix.SECCOMP_FILTER_FLAG_LOG, false},
		{"notify asks for a listener", &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{}, ListenerPath: "/run/agent.sock",
			Syscalls: []specs.LinuxSyscall{notify}}, unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustCompile(t, tt.s)
			if f.Flags != tt.flags || f.Notify != tt.wantNotify {
				t.Errorf("flags %#x notify %v, want %#x %v", f.Flags, f.Notify, tt.flags, tt.wantNotify)
			}
		})
	}
}

func TestFilterJSONRoundTrip(t *testing.T) {
	f := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock",
		Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}}})
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var back Filter
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*f, back) {
		t.Errorf("round trip through %s:\n%+v\n%+v", data, *f, back)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["program"].(string); !ok {
		t.Errorf("program encodes as %T, want a base64 string", raw["program"])
	}
	if err := json.Unmarshal([]byte(`{"program":"AAAA"}`), &back); err == nil {
		t.Error("a 3-byte program decoded without error")
	}
}

func TestFeaturesListWhatCompileAccepts(t *testing.T) {
	enabled, actions, operators, archs, flags := Features()
	if !enabled {
		t.Error("seccomp not enabled in a cgo build")
	}
	if len(actions) != 9 || !slices.Contains(actions, string(specs.ActNotify)) || !slices.Contains(actions, string(specs.ActKillProcess)) {
		t.Errorf("actions = %v, want the spec's nine", actions)
	}
	if len(operators) != 7 || !slices.Contains(operators, string(specs.OpMaskedEqual)) {
		t.Errorf("operators = %v, want the spec's seven", operators)
	}
	if !slices.Contains(archs, string(specs.ArchX86_64)) || !slices.Contains(archs, string(specs.ArchAARCH64)) {
		t.Errorf("archs = %v, want SCMP_ARCH_X86_64 and SCMP_ARCH_AARCH64 among them", archs)
	}
	for _, a := range archs {
		// Compile recognizes every listed name; a big-endian one cannot join a little-endian
		// host's filter, and says so.
		_, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.Arch(a)}})
		if err != nil && !strings.Contains(err.Error(), "byte orders differ") {
			t.Errorf("Features lists %s but Compile refuses it: %v", a, err)
		}
	}
	if major, minor, _ := libseccomp.GetLibraryVersion(); major == 2 && minor < 6 && slices.Contains(archs, string(specs.ArchSH)) {
		t.Errorf("archs = %v lists SCMP_ARCH_SH, which libseccomp %d.%d lacks", archs, major, minor)
	}
	known := KnownFlags()
	if len(known) != 4 {
		t.Errorf("KnownFlags() = %v, want the spec's four", known)
	}
	for _, f := range []string{string(flagTsync), string(specs.LinuxSeccompFlagLog)} {
		if !slices.Contains(flags, f) {
			t.Errorf("flags = %v, want %s (Linux 4.14) among them", flags, f)
		}
	}
	for _, f := range flags {
		if !slices.Contains(known, f) {
			t.Errorf("supported flag %s is not a known flag %v", f, known)
		}
		if _, err := Compile(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock",
			Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlag(f)}, Syscalls: []specs.LinuxSyscall{{Names: []string{"getppid"}, Action: specs.ActNotify}}}); err != nil {
			t.Errorf("Features lists flag %s but Compile refuses it: %v", f, err)
		}
	}
}

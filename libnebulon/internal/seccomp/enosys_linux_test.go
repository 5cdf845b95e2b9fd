package seccomp

import (
	"encoding/binary"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// run interprets a classic-BPF seccomp program for one syscall, as the kernel would: only the
// instructions these filters hold (loads of seccomp_data words, K jumps, AND, returns).
func run(t *testing.T, prog Program, arch, nr uint32) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdAbsW:
			a = binary.LittleEndian.Uint32(data[in.K:])
		case bpfJmpJa:
			pc += int(in.K)
		case bpfJmpJeqK, bpfJmpJgtK, 0x35 /* JGE */, bpfJmpJsetK:
			var ok bool
			switch in.Code {
			case bpfJmpJeqK:
				ok = a == in.K
			case bpfJmpJgtK:
				ok = a > in.K
			case 0x35:
				ok = a >= in.K
			default:
				ok = a&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case 0x54: // BPF_ALU | BPF_AND | BPF_K
			a &= in.K
		case bpfRetK:
			return in.K
		default:
			t.Fatalf("instruction %d: opcode %#x not interpreted", pc, in.Code)
		}
	}
	t.Fatal("program fell off its end")
	return 0
}

// A deny-by-default profile answers ENOSYS for syscalls newer than every one it names, and its
// own default for older ones it leaves out; x32 syscalls and allowing defaults keep the plain
// filter.
func TestENOSYSStub(t *testing.T) {
	f, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read", "write", "openat"}, Action: specs.ActAllow}},
	})
	if err != nil {
		t.Fatal(err)
	}
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for _, tc := range []struct {
		name string
		nr   uint32
		want uint32
	}{
		{"read, allowed", unix.SYS_READ, unix.SECCOMP_RET_ALLOW},
		{"openat, the newest named, allowed", unix.SYS_OPENAT, unix.SECCOMP_RET_ALLOW},
		{"getpid, older and left out: the default", unix.SYS_GETPID, eperm},
		{"clone3, newer than the profile: ENOSYS", unix.SYS_CLONE3, enosys},
		{"close_range, newer: ENOSYS", unix.SYS_CLOSE_RANGE, enosys},
		// The filter has no x32: libseccomp kills a syscall of an architecture it does not list.
		{"an x32 syscall: the filter's own answer", x32SyscallBit | 500, unix.SECCOMP_RET_KILL_THREAD},
	} {
		if got := run(t, f.Program, unix.AUDIT_ARCH_X86_64, tc.nr); got != tc.want {
			t.Errorf("%s: returned %#x, want %#x", tc.name, got, tc.want)
		}
	}

	allow, err := Compile(&specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := run(t, allow.Program, unix.AUDIT_ARCH_X86_64, unix.SYS_CLONE3); got != unix.SECCOMP_RET_ALLOW {
		t.Errorf("allowing default: clone3 returned %#x, want allow", got)
	}
}

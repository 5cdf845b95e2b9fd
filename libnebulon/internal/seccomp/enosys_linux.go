package seccomp

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// A profile is written against the syscalls of its day. A deny-by-default profile therefore
// denies, with its default errno (EPERM), every syscall newer than itself, and programs that
// probe a new syscall and fall back to an old one on ENOSYS (glibc's clone3, close_range,
// openat2, faccessat2) take EPERM as a real failure. As runc does (libcontainer/seccomp/patchbpf),
// a stub in front of the filter answers ENOSYS for a syscall numbered above every syscall the
// profile names for that architecture: the kernel's answer for a syscall it does not have.
// Syscalls the profile could have named and did not are left to its default action.

// auditArchs are the architectures the stub knows, by libseccomp's name; others keep the plain
// filter. x32 shares x86_64's audit architecture and is told apart by a bit of the syscall
// number: its syscalls skip the stub.
var auditArchs = map[libseccomp.ScmpArch]uint32{
	libseccomp.ArchAMD64: unix.AUDIT_ARCH_X86_64,
	libseccomp.ArchX86:   unix.AUDIT_ARCH_I386,
	libseccomp.ArchARM64: unix.AUDIT_ARCH_AARCH64,
	libseccomp.ArchARM:   unix.AUDIT_ARCH_ARM,
}

const x32SyscallBit = 0x40000000

// needsENOSYSStub reports whether the default action denies: an allowing default lets new
// syscalls run anyway.
func needsENOSYSStub(def libseccomp.ScmpAction) bool {
	switch def.SetReturnCode(0) {
	case libseccomp.ActAllow, libseccomp.ActLog, libseccomp.ActTrace, libseccomp.ActNotify:
		return false
	}
	return true
}

// highestSyscalls is, per architecture of the filter, the highest number among the syscalls
// the rules name.
func highestSyscalls(archs []specs.Arch, rules []rule) map[uint32]uint32 {
	native, err := libseccomp.GetNativeArch()
	if err != nil {
		return nil
	}
	all := []libseccomp.ScmpArch{native}
	for _, a := range archs {
		if arch, ok := scmpArchs[a]; ok {
			all = append(all, arch)
		}
	}
	highest := map[uint32]uint32{}
	for _, arch := range all {
		audit, ok := auditArchs[arch]
		if !ok {
			continue
		}
		for _, r := range rules {
			nr, err := libseccomp.GetSyscallFromNameByArch(r.name, arch)
			if err != nil || nr < 0 {
				continue
			}
			if n := uint32(nr) &^ x32SyscallBit; n > highest[audit] {
				highest[audit] = n
			}
		}
	}
	return highest
}

// BPF opcodes (linux/filter.h, linux/bpf_common.h) the stub uses.
const (
	bpfLdAbsW   = 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJmpJa    = 0x05 // BPF_JMP | BPF_JA
	bpfJmpJeqK  = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJmpJgtK  = 0x25 // BPF_JMP | BPF_JGT | BPF_K
	bpfJmpJsetK = 0x45 // BPF_JMP | BPF_JSET | BPF_K
	bpfRetK     = 0x06 // BPF_RET | BPF_K
	offsetNr    = 0    // struct seccomp_data: int nr
	offsetArch  = 4    // __u32 arch
)

// withENOSYSStub puts the stub in front of prog. For each architecture with a known highest
// syscall:
//
//	ld arch; jeq AUDIT ? next : skip-block
//	ld nr; [x86_64: jset x32-bit ? filter : next]; jgt HIGHEST ? enosys : filter
//
// then "ja filter", "enosys: ret ERRNO(ENOSYS)", and the filter, whose jumps are relative to
// its own instructions and stay right.
func withENOSYSStub(prog Program, highest map[uint32]uint32) Program {
	if len(highest) == 0 {
		return prog
	}
	audits := make([]uint32, 0, len(highest))
	for a := range highest {
		audits = append(audits, a)
	}
	// Deterministic output.
	for i := 1; i < len(audits); i++ {
		for j := i; j > 0 && audits[j] < audits[j-1]; j-- {
			audits[j], audits[j-1] = audits[j-1], audits[j]
		}
	}
	blockLen := func(a uint32) int {
		if a == unix.AUDIT_ARCH_X86_64 {
			return 5
		}
		return 4
	}
	total := 0
	for _, a := range audits {
		total += blockLen(a)
	}
	// Instruction indexes: the blocks, then ja, then enosys, then the filter.
	jaAt := total
	enosysAt, filterAt := jaAt+1, jaAt+2
	var stub Program
	for _, a := range audits {
		start := len(stub)
		end := start + blockLen(a) // the next block
		stub = append(stub, unix.SockFilter{Code: bpfLdAbsW, K: offsetArch})
		stub = append(stub, unix.SockFilter{Code: bpfJmpJeqK, K: a, Jt: 0, Jf: uint8(end - (start + 2))})
		stub = append(stub, unix.SockFilter{Code: bpfLdAbsW, K: offsetNr})
		if a == unix.AUDIT_ARCH_X86_64 {
			at := len(stub)
			stub = append(stub, unix.SockFilter{Code: bpfJmpJsetK, K: x32SyscallBit, Jt: uint8(filterAt - (at + 1)), Jf: 0})
		}
		at := len(stub)
		stub = append(stub, unix.SockFilter{Code: bpfJmpJgtK, K: highest[a], Jt: uint8(enosysAt - (at + 1)), Jf: uint8(filterAt - (at + 1))})
	}
	stub = append(stub,
		unix.SockFilter{Code: bpfJmpJa, K: uint32(filterAt - (jaAt + 1))},
		unix.SockFilter{Code: bpfRetK, K: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	)
	return append(stub, prog...)
}

//go:build cgo

package main

import (
	"fmt"
	"strconv"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// errNoSyscallNames is nil: libseccomp names syscalls.
var errNoSyscallNames error

// scmpArchs maps seccomp_data.arch, an AUDIT_ARCH_* value, to libseccomp's architectures. A
// filter sees the syscalls of every ABI the kernel runs (i386 ones on x86_64, for one), each
// numbered in its own table.
var scmpArchs = map[uint32]libseccomp.ScmpArch{
	unix.AUDIT_ARCH_I386:        libseccomp.ArchX86,
	unix.AUDIT_ARCH_X86_64:      libseccomp.ArchAMD64,
	unix.AUDIT_ARCH_ARM:         libseccomp.ArchARM,
	unix.AUDIT_ARCH_AARCH64:     libseccomp.ArchARM64,
	unix.AUDIT_ARCH_PPC64:       libseccomp.ArchPPC64,
	unix.AUDIT_ARCH_PPC64LE:     libseccomp.ArchPPC64LE,
	unix.AUDIT_ARCH_S390:        libseccomp.ArchS390,
	unix.AUDIT_ARCH_S390X:       libseccomp.ArchS390X,
	unix.AUDIT_ARCH_RISCV64:     libseccomp.ArchRISCV64,
	unix.AUDIT_ARCH_LOONGARCH64: libseccomp.ArchLOONGARCH64,
	unix.AUDIT_ARCH_MIPS:        libseccomp.ArchMIPS,
	unix.AUDIT_ARCH_MIPSEL:      libseccomp.ArchMIPSEL,
	unix.AUDIT_ARCH_MIPS64:      libseccomp.ArchMIPS64,
	unix.AUDIT_ARCH_MIPSEL64:    libseccomp.ArchMIPSEL64,
}

// x32SyscallBit marks an x32 syscall, which comes as AUDIT_ARCH_X86_64 (arch/x86/include/uapi/
// asm/unistd.h, __X32_SYSCALL_BIT); libseccomp's x32 numbers include it.
const x32SyscallBit = 0x40000000

// syscallName names syscall nr of the ABI arch, or returns "#NR" for one libseccomp does not
// know.
func syscallName(arch uint32, nr int32) string {
	a, ok := scmpArchs[arch]
	if arch == unix.AUDIT_ARCH_X86_64 && nr&x32SyscallBit != 0 {
		a = libseccomp.ArchX32
	}
	if ok {
		if name, err := libseccomp.ScmpSyscall(nr).GetNameByArch(a); err == nil {
			return name
		}
	}
	return "#" + strconv.Itoa(int(nr))
}

// checkSyscallName makes sure that libseccomp knows name, so that a misspelt --errno or --allow
// fails rather than never matching.
func checkSyscallName(name string) error {
	if _, err := libseccomp.GetSyscallFromName(name); err != nil {
		return fmt.Errorf("unknown syscall %q", name)
	}
	return nil
}

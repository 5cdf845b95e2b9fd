package seccomp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// flagTsync is in the spec's list of flags but has no constant in specs-go.
const flagTsync specs.LinuxSeccompFlag = "SECCOMP_FILTER_FLAG_TSYNC"

// flagBits maps the spec's flag names to seccomp(2) filter flags.
//
// TSYNC is accepted and dropped, as runc does (libcontainer/seccomp/config.go): the filter is
// loaded by the init right before execve, which ends every other thread, so only the calling
// thread's filter ever applies; and TSYNC with NEW_LISTENER is EINVAL on kernels without
// TSYNC_ESRCH (kernel/seccomp.c, seccomp_set_mode_filter).
var flagBits = map[specs.LinuxSeccompFlag]uint{
	flagTsync:                              unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:              unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow:        unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
	specs.LinuxSeccompFlagWaitKillableRecv: unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
}

// KnownFlags lists the linux.seccomp.flags names this build recognizes (features.json
// "knownFlags"); Features lists those this kernel also supports.
func KnownFlags() []string {
	names := make([]string, 0, len(flagBits))
	for name := range flagBits {
		names = append(names, string(name))
	}
	slices.Sort(names)
	return names
}

// supportedFlags lists the flags this kernel supports (features.json "supportedFlags").
func supportedFlags() []string {
	var names []string
	for _, name := range KnownFlags() {
		bit := flagBits[specs.LinuxSeccompFlag(name)]
		if bit == unix.SECCOMP_FILTER_FLAG_TSYNC || kernelHasFlag(bit) {
			names = append(names, name)
		}
	}
	return names
}

// flagName names a filter flag for an error message.
func flagName(bit uint) string {
	if bit == unix.SECCOMP_FILTER_FLAG_NEW_LISTENER {
		return "SECCOMP_FILTER_FLAG_NEW_LISTENER"
	}
	for name, b := range flagBits {
		if b == bit {
			return string(name)
		}
	}
	return fmt.Sprintf("seccomp filter flag %#x", bit)
}

// kernelFlags caches, per flag, whether the kernel knows it: probes run once (flags cannot
// appear in a running kernel).
var kernelFlags sync.Map // uint -> bool

// kernelHasFlag reports whether seccomp(2) accepts a filter flag. The kernel validates the flags
// before it reads the filter, so a NULL filter fails with EFAULT for a known flag and EINVAL for
// an unknown one, and installs nothing (kernel/seccomp.c, seccomp_set_mode_filter).
func kernelHasFlag(bit uint) bool {
	if known, ok := kernelFlags.Load(bit); ok {
		return known.(bool)
	}
	probe := bit
	// WAIT_KILLABLE_RECV alone is EINVAL on every kernel: it needs NEW_LISTENER.
	if bit == unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV {
		probe |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(probe), 0)
	known := errno == unix.EFAULT
	kernelFlags.Store(bit, known)
	return known
}

// actionRets maps the spec's action names to the kernel's SECCOMP_RET_* values.
var actionRets = map[specs.LinuxSeccompAction]uint32{
	specs.ActKill:        unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillThread:  unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillProcess: unix.SECCOMP_RET_KILL_PROCESS,
	specs.ActTrap:        unix.SECCOMP_RET_TRAP,
	specs.ActErrno:       unix.SECCOMP_RET_ERRNO,
	specs.ActTrace:       unix.SECCOMP_RET_TRACE,
	specs.ActAllow:       unix.SECCOMP_RET_ALLOW,
	specs.ActLog:         unix.SECCOMP_RET_LOG,
	specs.ActNotify:      unix.SECCOMP_RET_USER_NOTIF,
}

var kernelActions sync.Map // uint32 -> bool

// kernelHasAction reports whether the kernel implements a filter return action, asked with
// SECCOMP_GET_ACTION_AVAIL (Linux 4.14). A kernel without that operation predates KILL_PROCESS,
// LOG and USER_NOTIF but has the original five actions.
func kernelHasAction(ret uint32) bool {
	if avail, ok := kernelActions.Load(ret); ok {
		return avail.(bool)
	}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&ret)))
	avail := errno == 0
	if errno == unix.EINVAL {
		switch ret {
		case unix.SECCOMP_RET_KILL_THREAD, unix.SECCOMP_RET_TRAP, unix.SECCOMP_RET_ERRNO,
			unix.SECCOMP_RET_TRACE, unix.SECCOMP_RET_ALLOW:
			avail = true
		}
	}
	kernelActions.Store(ret, avail)
	return avail
}

// bpfMaxInsns is the kernel's limit on one classic-BPF program (BPF_MAXINSNS).
const bpfMaxInsns = 4096

// Load installs f on the calling thread with seccomp(SECCOMP_SET_MODE_FILTER) and returns the
// listener fd, or -1 when f has no SCMP_ACT_NOTIFY rule. The listener fd is close-on-exec (the
// kernel makes it so): it must reach the runtime before the init execs.
//
// The filter applies to the calling thread only, so the caller must hold a locked OS thread and
// execve from it. It must also have no_new_privs set or CAP_SYS_ADMIN (seccomp(2)); Load does
// not set no_new_privs, which is process.noNewPrivileges's to decide. Once Load returns, every
// syscall the thread makes is filtered: call it last before execve.
func Load(f *Filter) (notifyFd int, err error) {
	if len(f.Program) == 0 {
		return -1, errors.New("load seccomp filter: empty program")
	}
	if len(f.Program) > bpfMaxInsns {
		return -1, fmt.Errorf("load seccomp filter: %d instructions is over the kernel's limit of %d", len(f.Program), bpfMaxInsns)
	}
	flags := f.Flags
	if f.Notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	prog := unix.SockFprog{Len: uint16(len(f.Program)), Filter: &f.Program[0]}
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f.Program)
	if errno != 0 {
		return -1, loadError(flags, errno)
	}
	if flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
		return -1, nil
	}
	return int(fd), nil
}

// loadError explains a failed seccomp(2): EINVAL is most often a flag this kernel lacks, which
// the errno alone does not say.
func loadError(flags uint, errno unix.Errno) error {
	err := os.NewSyscallError("seccomp", errno)
	switch errno {
	case unix.EINVAL:
		var missing []string
		for bit := uint(1); bit != 0 && bit <= flags; bit <<= 1 {
			if flags&bit != 0 && !kernelHasFlag(bit) {
				missing = append(missing, flagName(bit))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("load seccomp filter: the kernel does not support %s: %w", strings.Join(missing, ", "), err)
		}
	case unix.EACCES:
		return fmt.Errorf("load seccomp filter: needs no_new_privs or CAP_SYS_ADMIN: %w", err)
	}
	return fmt.Errorf("load seccomp filter: %w", err)
}

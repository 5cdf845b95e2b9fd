package initproc

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
)

// ioprioWhoProcess is ioprio_set(2)'s IOPRIO_WHO_PROCESS: with who 0, the calling thread.
const ioprioWhoProcess = 1

// applyKernelAttrs applies process.scheduler, process.ioPriority, linux.personality and
// linux.memoryPolicy to the calling thread, the init's locked main thread, which execs: each is
// per task, kept across execve(2) and inherited by the process's children. It runs while the
// init is still root with every capability (a real-time policy, a lower nice value or the RT I/O
// class need CAP_SYS_NICE or CAP_SYS_ADMIN) and before any seccomp filter, which may deny these
// calls, as runc orders them. l may be nil.
//
// A SCHED_DEADLINE thread cannot fork (sched(7)) unless SCHED_FLAG_RESET_ON_FORK: the Go runtime
// is unaffected (a locked thread's new threads are cloned by the template thread), but
// startContainer hooks, which the init forks, need that flag.
func applyKernelAttrs(p *specs.Process, l *specs.Linux) error {
	if p.Scheduler != nil {
		attr, err := linuxspec.SchedAttr(p.Scheduler)
		if err != nil {
			return err
		}
		if err := unix.SchedSetAttr(0, attr, 0); err != nil {
			hint := ""
			if err == unix.EPERM && (attr.Policy == 1 || attr.Policy == 2) {
				// With RT group scheduling, a cgroup's real-time tasks share its
				// cpu.rt_runtime_us, which is 0 unless set (sched-rt-group.rst).
				hint = " (a real-time policy needs a real-time budget: linux.resources.cpu.realtimeRuntime)"
			}
			return fmt.Errorf("process.scheduler %s%s: %w", p.Scheduler.Policy, hint, os.NewSyscallError("sched_setattr", err))
		}
	}
	if p.IOPriority != nil {
		prio, err := linuxspec.IOPrio(p.IOPriority)
		if err != nil {
			return err
		}
		if _, _, errno := unix.Syscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); errno != 0 {
			return fmt.Errorf("process.ioPriority %s %d: %w", p.IOPriority.Class, p.IOPriority.Priority, os.NewSyscallError("ioprio_set", errno))
		}
	}
	if l == nil {
		return nil
	}
	if l.Personality != nil {
		persona, err := linuxspec.Personality(l.Personality)
		if err != nil {
			return err
		}
		if _, _, errno := unix.Syscall(unix.SYS_PERSONALITY, persona, 0, 0); errno != 0 {
			return fmt.Errorf("linux.personality %s: %w", l.Personality.Domain, os.NewSyscallError("personality", errno))
		}
	}
	if l.MemoryPolicy != nil {
		mode, nodes, err := linuxspec.MemPolicy(l.MemoryPolicy)
		if err != nil {
			return err
		}
		if err := setMempolicy(mode, nodes); err != nil {
			return fmt.Errorf("linux.memoryPolicy %s nodes %q: %w", l.MemoryPolicy.Mode, l.MemoryPolicy.Nodes, err)
		}
	}
	return nil
}

// setMempolicy is set_mempolicy(2); nodes nil is the empty mask (a NULL nodemask).
func setMempolicy(mode int, nodes *unix.CPUSet) error {
	for {
		err := unix.SetMemPolicy(mode, nodes)
		if err != unix.EINTR {
			return os.NewSyscallError("set_mempolicy", err)
		}
	}
}

// applyFinalAffinity gives an exec'd process the CPU affinity process.execCPUAffinity.final
// names, once it is in the container's cgroups (runtime-spec config.md: "after the transition to
// container's cgroup"). Without final or initial, the affinity is reset to every CPU, as runc
// does: the runtime's own (an engine may pin it) must not leak into the container; the kernel
// then leaves the cgroup's cpuset. With only initial, the kernel's choice stands.
func applyFinalAffinity(a *specs.CPUAffinity) error {
	var initial, final *unix.CPUSet
	if a != nil {
		var err error
		if initial, final, err = linuxspec.ExecCPUAffinity(a); err != nil {
			return err
		}
	}
	if final != nil {
		if err := unix.SchedSetaffinity(0, final); err != nil {
			return fmt.Errorf("process.execCPUAffinity.final %q: %w", a.Final, os.NewSyscallError("sched_setaffinity", err))
		}
		return nil
	}
	if initial == nil {
		resetAffinity()
	}
	return nil
}

// resetAffinity allows every CPU a CPUSet can name; sched_setaffinity(2) clamps the mask to the
// CPUs the kernel supports and the cgroup's cpuset. A failure only leaves the inherited affinity,
// which is what a kernel without cpusets gives, so it is ignored.
func resetAffinity() {
	var all unix.CPUSet
	for i := range all {
		all[i] = ^all[i]
	}
	unix.SchedSetaffinity(0, &all)
}

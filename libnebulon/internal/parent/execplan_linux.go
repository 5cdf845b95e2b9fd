package parent

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"unsafe"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// bpfMaxInsns is the kernel's limit on one classic-BPF program (BPF_MAXINSNS).
const bpfMaxInsns = 4096

// execPlan resolves the process of an exec to what the C stage's syscalls take
// (syncmsg.ExecPlan): everything that can be checked is checked here, before anything starts,
// and what the container's init would have logged (capabilities it cannot give) is logged here.
func (e *Exec) execPlan(cgMemory bool) (*syncmsg.ExecPlan, error) {
	plan, err := processPlan(e.Spec, e.Seccomp, e.PreserveFds)
	if err != nil {
		return nil, err
	}
	plan.CgroupMemory = cgMemory
	p := e.Spec.Process
	initial, err := planAffinity(plan, p.ExecCPUAffinity)
	if err != nil {
		return nil, err
	}
	e.InitialCPUs = initial // stage0 is born on these CPUs
	if p.Terminal {
		t := &syncmsg.Terminal{}
		if sz := p.ConsoleSize; sz != nil {
			t.HasSize, t.Rows, t.Cols = true, uint16(sz.Height), uint16(sz.Width)
		}
		plan.Terminal = t
	}
	return plan, nil
}

// processPlan is the part of a process's plan that an exec'd process and a container's C init
// share (syncmsg's step 6-, when the C init is on): arguments, environment, user, capabilities,
// rlimits, kernel attributes, LSM labels and the seccomp filter. The cgroups, the CPU affinity
// and the terminal are an exec's only: a C init joins its cgroups (but the memory hierarchy, last)
// and resets its affinity itself, and takes the terminal its Go helper made.
func processPlan(s *specs.Spec, filter *seccomp.Filter, preserveFds int) (*syncmsg.ExecPlan, error) {
	p := s.Process
	plan := &syncmsg.ExecPlan{
		Args: p.Args, Cwd: p.Cwd, UID: p.User.UID, GID: p.User.GID, Umask: 0o022, // runc's default
		NoNewPrivs: p.NoNewPrivileges, PreserveFds: uint32(preserveFds), AppArmor: p.ApparmorProfile,
	}
	plan.Env, plan.HomeFromUser = execEnv(p.Env)
	plan.Groups = p.User.AdditionalGids
	if p.User.Umask != nil {
		plan.Umask = *p.User.Umask
	}
	if p.SelinuxLabel != "" && selinux.GetEnabled() {
		plan.SELinux = p.SelinuxLabel
	}
	if err := planCaps(plan, p.Capabilities); err != nil {
		return nil, err
	}
	for _, rl := range p.Rlimits {
		res, ok := linuxspec.Rlimits[rl.Type]
		if !ok {
			return nil, linuxspec.Errorf("process.rlimits", "unknown type %q", rl.Type)
		}
		plan.Rlimits = append(plan.Rlimits, syncmsg.Rlimit{Resource: uint32(res), Soft: rl.Soft, Hard: rl.Hard, What: "process.rlimits " + rl.Type})
	}
	if err := planKernelAttrs(plan, p, s.Linux); err != nil {
		return nil, err
	}
	if filter != nil {
		if err := planSeccomp(plan, filter); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

// execEnv is process.env as the process gets it: each KEY=VALUE once, with the last value of a
// key at its first place; an entry without "=" is the key with an empty value, and one with an
// empty key or a NUL byte is dropped (Go's os.Setenv, which the init used to build it with).
// homeFromUser says HOME is missing or empty.
func execEnv(env []string) (out []string, homeFromUser bool) {
	at := map[string]int{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" || strings.ContainsRune(kv, 0) {
			continue
		}
		if i, ok := at[k]; ok {
			out[i] = k + "=" + v
			continue
		}
		at[k] = len(out)
		out = append(out, k+"="+v)
	}
	i, ok := at["HOME"]
	return out, !ok || out[i] == "HOME="
}

// planCaps sets the capability masks, of the capabilities both the library and the running
// kernel know; the others are logged, as runc does: a config for a newer kernel
// (CAP_CHECKPOINT_RESTORE on 5.8-) or with a typo still runs, without them (config.md: runtimes
// SHOULD NOT fail).
func planCaps(plan *syncmsg.ExecPlan, c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	unknown := map[string]bool{}
	mask := func(names []string) uint64 {
		var m uint64
		for _, n := range names {
			cp, ok := linuxspec.Capabilities[strings.ToUpper(n)]
			if !ok || cp > last || cp > 63 {
				unknown[n] = true
				continue
			}
			m |= 1 << uint(cp)
		}
		return m
	}
	plan.Bounding, plan.Effective = mask(c.Bounding), mask(c.Effective)
	plan.Permitted, plan.Inheritable = mask(c.Permitted), mask(c.Inheritable)
	ambient := mask(c.Ambient)
	if len(unknown) > 0 {
		slog.Warn(fmt.Sprintf("ignoring unknown or unavailable capabilities: %v", slices.Sorted(maps.Keys(unknown))))
	}
	for _, n := range c.Ambient {
		cp, ok := linuxspec.Capabilities[strings.ToUpper(n)]
		if !ok || ambient&(1<<uint(cp)) == 0 {
			continue // warned about above
		}
		// PR_CAP_AMBIENT_RAISE needs it in both (capabilities(7)); like runc, a config such as
		// `runc spec`'s that lists it without both still runs, without it.
		switch bit := uint64(1) << uint(cp); {
		case plan.Inheritable&bit == 0:
			slog.Warn(fmt.Sprintf("ambient capability not raised: %s is not in the inheritable set", n))
		case plan.Permitted&bit == 0:
			slog.Warn(fmt.Sprintf("ambient capability not raised: %s is not in the permitted set", n))
		default:
			plan.Ambient = append(plan.Ambient, syncmsg.Capability{Nr: uint32(cp), Name: n})
		}
	}
	return nil
}

// planKernelAttrs resolves process.scheduler, process.ioPriority, linux.personality and
// linux.memoryPolicy: the last two are per process, and an exec'd process gets them too, as in
// runc.
func planKernelAttrs(plan *syncmsg.ExecPlan, p *specs.Process, l *specs.Linux) error {
	if s := p.Scheduler; s != nil {
		attr, err := linuxspec.SchedAttr(s)
		if err != nil {
			return err
		}
		plan.Sched = &syncmsg.Raw{Data: schedAttrBytes(attr), What: fmt.Sprintf("process.scheduler %s", s.Policy)}
	}
	if io := p.IOPriority; io != nil {
		prio, err := linuxspec.IOPrio(io)
		if err != nil {
			return err
		}
		plan.IOPrio = &syncmsg.Value{N: uint32(prio), What: fmt.Sprintf("process.ioPriority %s %d", io.Class, io.Priority)}
	}
	if l == nil {
		return nil
	}
	if pe := l.Personality; pe != nil {
		persona, err := linuxspec.Personality(pe)
		if err != nil {
			return err
		}
		plan.Personality = &syncmsg.Value{N: uint32(persona), What: fmt.Sprintf("linux.personality %s", pe.Domain)}
	}
	if m := l.MemoryPolicy; m != nil {
		mode, nodes, err := linuxspec.MemPolicy(m)
		if err != nil {
			return err
		}
		mp := &syncmsg.MemPolicy{Mode: uint32(mode), What: fmt.Sprintf("linux.memoryPolicy %s nodes %q", m.Mode, m.Nodes)}
		if nodes != nil {
			mp.Nodes = cpuSetBytes(nodes)
		}
		plan.MemPolicy = mp
	}
	return nil
}

// planAffinity: process.execCPUAffinity.final once in the container's cgroups (runtime-spec:
// "after the transition to container's cgroup"); without final or initial, every CPU, as runc
// does, so that the runtime's own affinity (an engine may pin it) does not leak into the
// container; with only initial, the kernel's choice stands. It returns initial, the affinity
// stage0 is born with ("before the transition to container's cgroup").
func planAffinity(plan *syncmsg.ExecPlan, a *specs.CPUAffinity) (initial *unix.CPUSet, err error) {
	var final *unix.CPUSet
	if a != nil {
		if initial, final, err = linuxspec.ExecCPUAffinity(a); err != nil {
			return nil, err
		}
	}
	switch {
	case final != nil:
		plan.Affinity = &syncmsg.Raw{Data: cpuSetBytes(final), What: fmt.Sprintf("process.execCPUAffinity.final %q", a.Final)}
	case initial == nil:
		plan.Affinity = &syncmsg.Raw{}
	}
	return initial, nil
}

// planSeccomp passes the compiled filter, with NEW_LISTENER when it notifies.
func planSeccomp(plan *syncmsg.ExecPlan, f *seccomp.Filter) error {
	if len(f.Program) == 0 {
		return fmt.Errorf("linux.seccomp: load seccomp filter: empty program")
	}
	if len(f.Program) > bpfMaxInsns {
		return fmt.Errorf("linux.seccomp: load seccomp filter: %d instructions is over the kernel's limit of %d", len(f.Program), bpfMaxInsns)
	}
	plan.SeccompFlags = uint32(f.Flags)
	if f.Notify {
		plan.SeccompFlags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	}
	prog := make([]byte, 0, 8*len(f.Program))
	for _, in := range f.Program {
		prog = binary.NativeEndian.AppendUint16(prog, in.Code)
		prog = append(prog, in.Jt, in.Jf)
		prog = binary.NativeEndian.AppendUint32(prog, in.K)
	}
	plan.SeccompProgram = prog
	return nil
}

// schedAttrBytes is struct sched_attr as the kernel reads it.
func schedAttrBytes(a *unix.SchedAttr) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(a)), unsafe.Sizeof(*a))
}

// cpuSetBytes is a CPU or node mask as the kernel reads it.
func cpuSetBytes(s *unix.CPUSet) []byte {
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(s)), unsafe.Sizeof(*s))...)
}

package syncmsg

import (
	"encoding/json"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
)

// What the runtime hands stage0 at exec, beyond the socket. Stage0 finds everything through the
// environment: fd 0-2 are the process's stdio, then come the preserved fds (--preserve-fds), then,
// in this order:
//
//	fd                       what                             named by
//	3+preserved              the sync socket                  EnvInitPipe
//	next (create only)       exec.fifo                        EnvFifoFd (start.go)
//	next (a terminal only)   the console socket               EnvConsoleFd
//	the last EnvCgroupFds    v1 cgroup `tasks` files          EnvCgroupFds (see CgroupMemory)
const (
	EnvInitPipe  = "_NEBULON_INITPIPE"
	EnvFifoFd    = "_NEBULON_FIFOFD"
	EnvConsoleFd = "_NEBULON_CONSOLEFD"
	EnvCgroupFds = "_NEBULON_CGROUPFDS"
	// EnvJoinLate: the init is not born in its cgroup v2 cgroup; it asks to be moved there
	// (JoinCgroup): a container's at the end of its setup, an exec'd process's first of all.
	EnvJoinLate = "_NEBULON_JOIN_LATE"
	// EnvExec: the init of an exec'd process, which the C stage sets up from an ExecPlan and
	// execs without starting the Go runtime.
	EnvExec = "_NEBULON_EXEC"
	// EnvDebug: the runtime logs debug records; the init sends its own (the steps of its
	// setup, for make bench-breakdown).
	EnvDebug = "_NEBULON_DEBUG"
)

// What the runtime tells the C stage of a container's init for it to stay the init (nsexec's
// init_process): it joins the cgroups and the keyring, takes the process's plan (ExecPlan, step
// 6-), forks the Go part as a helper that makes the root (initproc), sets the process up as an
// exec'd one's, reports Ready, waits on exec.fifo (start.go) and execs it. A created container
// then holds a C process, not a Go runtime. Without EnvCInit (parent's Init.cInit says when),
// the init is Go from the fork on.
const (
	EnvCInit = "_NEBULON_CINIT"
	// EnvCgroupNS: a new cgroup namespace (InitConfig.CgroupNS).
	EnvCgroupNS = "_NEBULON_CGROUPNS"
	// EnvCgroupMemory: the last two cgroup fds are the memory pair (InitConfig.CgroupMemory).
	EnvCgroupMemory = "_NEBULON_CGROUPMEMORY"
	// EnvCgroupPids: the last cgroup fd before the memory pair is the v1 pids hierarchy's, which
	// the C init joins after it forked its Go helper, unless it makes a cgroup namespace: a pids
	// limit counts the helper and its threads otherwise (cgroups.Entry.Pids).
	EnvCgroupPids = "_NEBULON_CGROUPPIDS"
	// EnvKeyring: the name of the session keyring to join (unset: --no-new-keyring), and
	// EnvKeyLabel its SELinux label.
	EnvKeyring  = "_NEBULON_KEYRING"
	EnvKeyLabel = "_NEBULON_KEYLABEL"
)

// EnvSayUp: the Go init says Up once its Go runtime is up, before it reads its config, and
// the runtime waits for it before the systemd driver's unit is made around the init (parent's
// Init.sayUp says why).
const EnvSayUp = "_NEBULON_SAYUP"

// ExecComm is the command name an exec'd process's init gives itself. execve gives a process the
// base name of the file it runs, which cannot hold a '/': a process that still has this name
// never exec'd.
const ExecComm = "nebulon/exec"

// Env lists every variable above, for the init to clear before the container's process sees them.
var Env = []string{EnvInitPipe, EnvFifoFd, EnvConsoleFd, EnvCgroupFds, EnvJoinLate, EnvExec, EnvDebug,
	EnvCInit, EnvCgroupNS, EnvCgroupMemory, EnvCgroupPids, EnvKeyring, EnvKeyLabel, EnvSayUp}

// InitConfig (runtime -> init) is what a container's init sets up: the spec with every path
// made absolute on the host (the part the init reads: initSpec), and what the runtime learnt
// while creating the init.
type InitConfig struct {
	ID           string            `json:"id"`
	Bundle       string            `json:"bundle"`
	Rootfs       string            `json:"rootfs"`
	Spec         *specs.Spec       `json:"spec"`
	NoPivot      bool              `json:"no_pivot"`
	NoNewKeyring bool              `json:"no_new_keyring"`
	PreserveFds  int               `json:"preserve_fds"`
	InitPid      int               `json:"init_pid"` // in the runtime's pid namespace, for hook state
	CgroupPaths  map[string]string `json:"cgroup_paths"`
	// The host's v1 hierarchies, read by the runtime: in a new cgroup namespace the init's
	// mountinfo shows the cgroup mounts' roots relative to that namespace.
	CgroupHierarchies []cgroups.Hierarchy `json:"cgroup_hierarchies"`
	CgroupNS          bool                `json:"cgroup_ns"` // a new cgroup namespace
	// CgroupMemory: the last two cgroup fds are the memory hierarchy's tasks file and the
	// runtime's own memory cgroup's, for the late memory join (cgroups.Entry).
	CgroupMemory bool `json:"cgroup_memory"`
	// MemoryFds: the memory pair comes in a MemoryFds message, which follows the config, rather
	// than with the init: the systemd driver's unit is made around the init (cgroups.Attacher).
	MemoryFds bool `json:"memory_fds,omitempty"`
	UserNS    bool `json:"user_ns"` // in a user namespace (new or joined)
	// MountNS is false when the container shares the runtime's mount namespace: then nothing
	// outside the rootfs is touched and the init chroots instead of pivoting.
	MountNS bool `json:"mount_ns"`
	// Seccomp is linux.seccomp compiled by the runtime (nil: no filter); Spec carries no
	// linux.seccomp.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
	// MountFds: a MountFds message follows, with the id-mapped mounts the runtime made.
	MountFds bool `json:"mount_fds,omitempty"`
}

// SeccompAtStart reports whether the init loads the filter at start, after the startContainer
// hooks, rather than at create. With noNewPrivileges the filter is the last thing before execve,
// and the hooks, which the init forks at start, would run under it: a profile that kills a
// syscall a hook makes would kill the hook. The hooks are the runtime's, not the container
// process's; the filter is for the container process. Without noNewPrivileges the filter goes
// on before the capabilities are dropped, at create, and the hooks run under it.
func (m *InitConfig) SeccompAtStart() bool {
	h := m.Spec.Hooks
	return m.Seccomp != nil && m.Spec.Process.NoNewPrivileges && h != nil && len(h.StartContainer) > 0
}

func (*InitConfig) msgType() Type { return typeInitConfig }

// initConfigJSON is InitConfig on the wire: its Spec is an initSpec, which shadows InitConfig's.
type initConfigJSON struct {
	*initConfigFields
	Spec *initSpec `json:"spec"`
}

// initConfigFields is InitConfig without its methods, for initConfigJSON to embed.
type initConfigFields InitConfig

func (m *InitConfig) encode() ([]byte, error) {
	return json.Marshal(initConfigJSON{(*initConfigFields)(m), toInitSpec(m.Spec)})
}

func (m *InitConfig) decode(p []byte) error {
	w := initConfigJSON{initConfigFields: (*initConfigFields)(m)}
	if err := json.Unmarshal(p, &w); err != nil {
		return err
	}
	m.Spec = w.Spec.spec()
	return nil
}

// initSpec is the part of the spec a container's init reads: what InitConfig carries of it.
// The rest (linux.resources, linux.seccomp, which comes compiled, linux.intelRdt, netDevices,
// the other platforms) is the runtime's alone.
//
// encoding/json builds its codecs for every type a target type reaches on the first decode in
// a process, whatever the data holds: for specs.Spec that costs the init about 2 ms on the 2-CPU
// VM of docs/bench, for this view half as much, on every create.
type initSpec struct {
	Version     string            `json:"ociVersion"`
	Process     *specs.Process    `json:"process,omitempty"`
	Root        *specs.Root       `json:"root,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Linux       *initLinux        `json:"linux,omitempty"`
}

// initLinux is the part of specs.Linux the init reads.
type initLinux struct {
	UIDMappings       []specs.LinuxIDMapping   `json:"uidMappings,omitempty"`
	GIDMappings       []specs.LinuxIDMapping   `json:"gidMappings,omitempty"`
	Sysctl            map[string]string        `json:"sysctl,omitempty"`
	Namespaces        []specs.LinuxNamespace   `json:"namespaces,omitempty"`
	Devices           []specs.LinuxDevice      `json:"devices,omitempty"`
	RootfsPropagation string                   `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string                 `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string                 `json:"readonlyPaths,omitempty"`
	MountLabel        string                   `json:"mountLabel,omitempty"`
	Personality       *specs.LinuxPersonality  `json:"personality,omitempty"`
	MemoryPolicy      *specs.LinuxMemoryPolicy `json:"memoryPolicy,omitempty"`
}

func toInitSpec(s *specs.Spec) *initSpec {
	if s == nil {
		return nil
	}
	v := &initSpec{
		Version: s.Version, Process: s.Process, Root: s.Root, Hostname: s.Hostname, Domainname: s.Domainname,
		Mounts: s.Mounts, Hooks: s.Hooks, Annotations: s.Annotations,
	}
	if l := s.Linux; l != nil {
		v.Linux = &initLinux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl, Namespaces: l.Namespaces,
			Devices: l.Devices, RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths,
			ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel, Personality: l.Personality,
			MemoryPolicy: l.MemoryPolicy,
		}
	}
	return v
}

func (v *initSpec) spec() *specs.Spec {
	if v == nil {
		return nil
	}
	s := &specs.Spec{
		Version: v.Version, Process: v.Process, Root: v.Root, Hostname: v.Hostname, Domainname: v.Domainname,
		Mounts: v.Mounts, Hooks: v.Hooks, Annotations: v.Annotations,
	}
	if l := v.Linux; l != nil {
		s.Linux = &specs.Linux{
			UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings, Sysctl: l.Sysctl, Namespaces: l.Namespaces,
			Devices: l.Devices, RootfsPropagation: l.RootfsPropagation, MaskedPaths: l.MaskedPaths,
			ReadonlyPaths: l.ReadonlyPaths, MountLabel: l.MountLabel, Personality: l.Personality,
			MemoryPolicy: l.MemoryPolicy,
		}
	}
	return s
}

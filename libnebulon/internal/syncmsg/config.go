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

// ExecComm is the command name an exec'd process's init gives itself. execve gives a process the
// base name of the file it runs, which cannot hold a '/': a process that still has this name
// never exec'd.
const ExecComm = "nebulon/exec"

// Env lists every variable above, for the init to clear before the container's process sees them.
var Env = []string{EnvInitPipe, EnvFifoFd, EnvConsoleFd, EnvCgroupFds, EnvJoinLate, EnvExec, EnvDebug}

// InitConfig (runtime -> init) is what a container's init sets up: the spec with every path
// made absolute on the host, and what the runtime learnt while creating the init.
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
	UserNS       bool `json:"user_ns"` // in a user namespace (new or joined)
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

func (*InitConfig) msgType() Type             { return typeInitConfig }
func (m *InitConfig) encode() ([]byte, error) { return json.Marshal(m) }
func (m *InitConfig) decode(p []byte) error   { return json.Unmarshal(p, m) }

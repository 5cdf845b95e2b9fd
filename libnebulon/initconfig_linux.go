package libnebulon

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
)

// Environment variables that tell `nebulon init` where its fds are. The fds follow the
// preserved ones: 3+preserveFds is the sync socket, then the exec fifo, the status fifo, the
// console socket if any, and envCgroupFds v1 cgroup `tasks` files (see initConfig.CgroupMemory).
const (
	envInitPipe  = "_NEBULON_INITPIPE"
	envFifoFd    = "_NEBULON_FIFOFD"
	envStatusFd  = "_NEBULON_STATUSFD"
	envCgroupFds = "_NEBULON_CGROUPFDS"
	// envJoinLate: the init is not born in its cgroup v2 cgroup; it asks to be moved there
	// (syncmsg.JoinCgroup) once its Go runtime is up. See lateV2Join.
	envJoinLate = "_NEBULON_JOIN_LATE"
	// envExec: the init of an exec'd process: only the sync socket and the cgroup fds follow
	// the preserved fds, and the namespaces are joined, not made.
	envExec = "_NEBULON_EXEC"
	// envConsoleFd: the socket to send the pty master to (process.terminal); it is the last fd
	// before the cgroup fds.
	envConsoleFd = "_NEBULON_CONSOLEFD"
)

// initConfig is what the parent sends the init (syncmsg.Config): the spec with every path made
// absolute on the host, and what the parent learnt while creating the init.
type initConfig struct {
	ID           string            `json:"id"`
	Bundle       string            `json:"bundle"`
	Rootfs       string            `json:"rootfs"`
	Spec         *specs.Spec       `json:"spec"`
	NoPivot      bool              `json:"no_pivot"`
	NoNewKeyring bool              `json:"no_new_keyring"`
	PreserveFds  int               `json:"preserve_fds"`
	InitPid      int               `json:"init_pid"` // in the runtime's pid namespace, for hook state
	CgroupPaths  map[string]string `json:"cgroup_paths"`
	// The host's v1 hierarchies, read by the parent: in a new cgroup namespace the init's
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
	// Seccomp is linux.seccomp compiled by the parent (nil: no filter); Spec carries no
	// linux.seccomp.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
}

// needsHookSync reports whether the init must stop before pivot_root for the parent to run
// prestart and createRuntime hooks.
func needsHookSync(s *specs.Spec) bool {
	//nolint:staticcheck // Prestart is deprecated but still honoured.
	return s.Hooks != nil && (len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0)
}

// hookState is the state given to hooks.
func hookState(id, bundle string, pid int, status specs.ContainerState, annotations map[string]string) *specs.State {
	return &specs.State{
		Version: specs.Version, ID: id, Status: status, Pid: pid, Bundle: bundle, Annotations: annotations,
	}
}

// execStatusMsg is what the init writes to exec.status when it cannot exec after start.
type execStatusMsg struct {
	Hook  bool   `json:"hook"` // a startContainer hook failed
	Error string `json:"error"`
}

// Package parent runs in the runtime (nebulon create, run and exec): it is the parent of stage0.
// It starts stage0 from a read-only mount of this binary, in the container's cgroups, runs the
// bootstrap with it (namespaces, id maps, the init's pid), then drives the init through the rest
// of syncmsg's create or exec flow: its config, prestart and createRuntime hooks, the seccomp
// listener fd and its log lines, until the container is created or the exec'd process runs.
package parent

import (
	"errors"
	"fmt"
	"github.com/moby/sys/userns"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// Process is what the runtime starts through stage0: a container's init (Init) or a process
// exec'd into a running container (Exec).
type Process struct {
	ID     string      // the container's id
	Bundle string      // the container's bundle, absolute
	Spec   *specs.Spec // the container's spec; for an exec, with the process to run
	// Cgroup is the cgroups the process joins, made and limited by the caller.
	Cgroup cgroups.Manager
	// Namespaces is what stage0 joins and creates (NamespacePlan, ExecNamespacePlan).
	Namespaces *syncmsg.Bootstrap
	// InitPidfd is the pidfd Namespaces.Pidfd joins through, if it does; with InitPid, for an
	// exec, the running container's init.
	InitPidfd *os.File
	InitPid   int
	// Stdin, Stdout and Stderr become the process's stdio; nil means the runtime's own.
	Stdin, Stdout, Stderr *os.File
	PreserveFds           int // fds 3 to 3+PreserveFds-1 are passed on (--preserve-fds)
	// Console is the socket the init sends its pty master to (process.terminal), or nil.
	Console *os.File
	Seccomp *seccomp.Filter // linux.seccomp, compiled; nil without a filter
	// InitialCPUs is the CPU affinity stage0 is born with (process.execCPUAffinity.initial, an
	// exec's only), or nil for the runtime's.
	InitialCPUs *unix.CPUSet

	// exeUserNS is the user namespace joined by path whose maps protectedExe weighed.
	exeUserNS *joinedNS
}

// launched is a process stage0 forked: its pid, the runtime's end of the sync socket, and
// whether its cgroup fds end with the memory pair (syncmsg.InitConfig.CgroupMemory).
type launched struct {
	pid       int
	startTime uint64
	conn      *syncmsg.Conn
	cgMemory  bool
	joinLate  bool // the init asks to be moved into its cgroup v2 cgroup (step 5a)
}

// launch starts stage0 with the sync socket, the files given and the cgroup fds, runs the
// bootstrap (steps 1-5 of syncmsg's flows) and reaps stage0. stageEnv is its environment, which
// names the files for the init (syncmsg's config.go), given whether the init joins late: joinLate
// leaves the cgroup v2 join to the init (lateV2Join). A cgroup
// whose pids limit is reached refuses a birth in it (EAGAIN) but not a move: then the init joins
// late too, as an exec'd process joins a container that uses all of its pids.max under runc.
// The process stage0 forked (a container's init, or an exec'd process's) is killed if anything
// failed. exec says the process is an exec'd one, which a rootless caller may start outside
// the container's cgroup.
func (p *Process) launch(exec, joinLate bool, stageEnv func(joinLate bool) []string, files ...*os.File) (*launched, error) {
	entry, err := p.Cgroup.Entry()
	if err != nil {
		return nil, err
	}
	defer entry.Close()
	runtimeEnd, child, err := syncmsg.Pair()
	if err != nil {
		return nil, err
	}
	conn := syncmsg.NewConn(runtimeEnd)
	conn.SetTimeout(answerWait)
	cgFds := entry.Tasks
	var cgEnv []string
	if entry.Memory {
		cgFds = append(cgFds, entry.MemoryHome)
		cgEnv = append(cgEnv, syncmsg.EnvCgroupMemory+"=1")
	}
	if entry.Pids {
		cgEnv = append(cgEnv, syncmsg.EnvCgroupPids+"=1")
	}
	env := func(joinLate bool) []string {
		e := append(stageEnv(joinLate), cgEnv...)
		if joinLate {
			e = append(e, syncmsg.EnvJoinLate+"=1")
		}
		return e
	}
	if p.Console != nil {
		files = append(files, p.Console) // last before the cgroup fds (syncmsg's config.go)
	}
	extra := append(append([]*os.File{child}, files...), cgFds...)
	if j := p.Namespaces.Pidfd; j != nil {
		// Last, after the fds the init finds by position: stage0 closes it once it has joined.
		j.Fd = 3 + p.PreserveFds + len(extra) // as startStage0 lays them out
		extra = append(extra, p.InitPidfd)
	}
	var s0 stage0
	outside := false
	if !joinLate && entry.V2Dir != nil {
		s0, err = p.spawn(env(false), extra, len(cgFds), entry.V2Dir)
		joinLate = errors.Is(err, unix.EAGAIN)
		// An unprivileged caller may be refused the cgroup of its own container: the one a
		// user's systemd made in its delegated subtree, when the caller runs outside it (a move
		// needs write access to the common ancestor's cgroup.procs, cgroup-v2.rst). As runc's
		// rootless exec, an exec'd process then stays in the caller's cgroup. Not the init on
		// cgroup v2: as runc's, create fails rather than run a container whose limits bind an
		// empty cgroup. On a hybrid host the cgroup2 hierarchy is one of the v1 manager's, which
		// a rootless container goes without where the user may not use it, as it goes without
		// the others (cgroups' CreateRootless): there the init stays out of it too.
		refused := errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
		rootless := os.Geteuid() != 0 || userns.RunningInUserNS()
		outside = refused && rootless && (exec || cgroups.DetectMode() == cgroups.Hybrid)
	}
	if joinLate || outside || entry.V2Dir == nil {
		s0, err = p.spawn(env(joinLate), extra, len(cgFds), nil)
	}
	child.Close()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("start nsexec stage: %w", err)
	}
	l, err := p.bootstrap(s0.pid, conn)
	if err != nil {
		// Stage0 may be waiting for a message from us: closing the socket ends its recv.
		conn.Close()
	}
	// Stage0 exits after reporting the pid, or on its own error; reap it either way.
	if werr := s0.wait(); err == nil && werr != nil {
		conn.Close()
		err = fmt.Errorf("nsexec stage: %w", werr)
	}
	if err == nil && p.exeUserNS != nil {
		if err = checkJoinedUserNS(p.exeUserNS.path, p.exeUserNS.nsID); err != nil {
			conn.Close()
		}
	}
	if err != nil {
		if l != nil {
			unix.Kill(l.pid, unix.SIGKILL)
		}
		return nil, err
	}
	l.conn, l.cgMemory, l.joinLate = conn, entry.Memory, joinLate
	return l, nil
}

// joinLate moves an exec'd process into its cgroup v2 cgroup when it asks (step 5a).
func (p *Process) joinLate(l *launched) error {
	if _, err := syncmsg.Expect[*syncmsg.JoinCgroup](l.conn); err != nil {
		return err
	}
	if err := p.Cgroup.EnterV2(l.pid); err != nil {
		return err
	}
	return l.conn.Send(&syncmsg.CgroupMoved{})
}

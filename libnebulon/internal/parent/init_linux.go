package parent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/moby/sys/userns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/hooks"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// Init is a container's init to start.
type Init struct {
	Process
	Rootfs                string // root.path, absolute
	NoPivot, NoNewKeyring bool   // --no-pivot, --no-new-keyring
	CgroupPaths           map[string]string
	// Fifo is exec.fifo, open read-write: the init keeps it (syncmsg's start.go).
	Fifo *os.File
	// Started is called once the init exists, with its pid and start time, before it gets its
	// config (and, when sayUp, once its Go runtime is up): the caller saves them, so that a
	// create that fails or is killed from then on can still be cleaned up, init included.
	Started func(pid int, startTime uint64) error
}

// StartInit starts a container's init and drives it through syncmsg's create flow. When it
// returns nil the container is created: its init waits for start. A failed createContainer,
// prestart or createRuntime hook comes back as a *hooks.Error.
func StartInit(in *Init) error {
	slog.Debug("starting init", "id", in.ID)
	base := 3 + in.PreserveFds // the sync socket; the fifo follows it
	env := func(joinLate bool) []string {
		e := append([]string{syncmsg.EnvFifoFd + "=" + strconv.Itoa(base+1)}, in.cInitEnv(joinLate)...)
		if in.sayUp(joinLate) {
			e = append(e, syncmsg.EnvSayUp+"=1")
		}
		return e
	}
	_, attached := in.Cgroup.(cgroups.Attacher) // the systemd driver's unit, made around the init
	l, err := in.launch(false, !attached && lateV2Join(in.Spec), env, in.Fifo)
	if err != nil {
		return err
	}
	defer l.conn.Close()
	slog.Debug("namespaces ready", "id", in.ID, "pid", l.pid)
	if in.sayUp(l.joinLate) {
		if err := awaitUp(l); err != nil {
			// stage0 is gone: the pid is the init's only while it lives, with its start time.
			if fd, perr := proc.PidfdFor(l.pid, l.startTime); perr == nil {
				unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
				unix.Close(fd)
			}
			return err
		}
	}
	if err := in.Started(l.pid, l.startTime); err != nil {
		return err
	}
	slog.Debug("state saved with the init's pid", "id", in.ID)
	return in.configure(l)
}

// cInit reports whether the init's C stage stays the init (syncmsg.EnvCInit), given whether the
// init joins its cgroup v2 cgroup late. Not with startContainer hooks, which an init runs at
// start, in Go; nor with a late join and a new cgroup namespace or createContainer hooks: the
// init is moved then before the root is made, which only an init in Go asks for; nor with a new
// cgroup namespace and a pids limit under lateJoinPidsBelow, which the C init, rooting the
// namespace in the container's cgroups, would meet forking its Go helper; nor, for the same
// reason, with the systemd driver and small limits (smallLimits): its unit is made around the
// init before the helper is forked, which the limits would then count.
func (in *Init) cInit(joinLate bool) bool {
	s := in.Spec
	if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
		return false
	}
	_, attached := in.Cgroup.(cgroups.Attacher)
	createHooks := s.Hooks != nil && len(s.Hooks.CreateContainer) > 0
	cgroupNS := linuxspec.NewNamespace(s.Linux, specs.CgroupNamespace)
	switch {
	case joinLate && (createHooks || cgroupNS), cgroupNS && smallPidsLimit(s), attached && smallLimits(s):
		return false
	}
	return true
}

// sayUp reports whether the runtime waits for the Go init's runtime to be up (syncmsg.Up) before
// the systemd driver's unit is made around the init (Started), on cgroup v1.
//
// v1 charges a page to the memory cgroup its process is in when the page is first touched, and
// the charge stays there. systemd moves the init into every hierarchy of the unit, memory too;
// the runtime moves it back out of memory at once (LeaveMemory), for it to join last. A Go init
// that started its runtime meanwhile had part of it charged to the container, more the busier
// the machine: 4 KiB idle, 64 KiB with two guests on two CPUs, 2 MiB once, against a limit of
// a few MiB (the systemd driver's init is in Go for small limits, cInit). The threads it
// started in the pids cgroup meanwhile counted against a pids limit of a few. Once its runtime
// is up the Go init waits for its config and touches nothing: the unit is made around a process
// whose runtime is the runtime's, as the cgroupfs driver's init is. On v2 the init stays in the
// unit's cgroup and its setup is charged there either way.
func (in *Init) sayUp(joinLate bool) bool {
	_, attached := in.Cgroup.(cgroups.Attacher)
	return attached && !in.cInit(joinLate) && cgroups.DetectMode() != cgroups.Unified
}

// awaitUp waits for the Go init's Up (step 5'), passing on its log records, bounded by the
// socket's timeout (answerWait).
func awaitUp(l *launched) error {
	for {
		m, err := l.conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			return fmt.Errorf("the init (pid %d) exited before its Go runtime was up", l.pid)
		}
		if errors.Is(err, syncmsg.ErrTimeout) {
			return fmt.Errorf("the init (pid %d): its Go runtime was not up: %w", l.pid, err)
		}
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *syncmsg.Up:
			return nil
		case *syncmsg.Log:
			logFromInit(m)
		case *syncmsg.Error:
			return m
		default:
			return fmt.Errorf("sync: unexpected %s from init before it was up", syncmsg.Name(m))
		}
	}
}

// cInitEnv is what the C stage of the init needs to stay the init (cInit), or nothing.
func (in *Init) cInitEnv(joinLate bool) []string {
	s := in.Spec
	if !in.cInit(joinLate) {
		return nil
	}
	env := []string{syncmsg.EnvCInit + "=1"}
	if linuxspec.NewNamespace(s.Linux, specs.CgroupNamespace) {
		env = append(env, syncmsg.EnvCgroupNS+"=1")
	}
	if !in.NoNewKeyring {
		env = append(env, syncmsg.EnvKeyring+"=_ses."+in.ID)
		if l := s.Process.SelinuxLabel; l != "" && selinux.GetEnabled() {
			env = append(env, syncmsg.EnvKeyLabel+"="+l)
		}
	}
	return env
}

// lateJoinBelow is the memory limit, and lateJoinPidsBelow the pids limit, under which a cgroup
// v2 init joins its cgroup late.
const (
	lateJoinBelow     = 16 << 20
	lateJoinPidsBelow = 16
)

// lateV2Join reports whether the init should be moved into its cgroup v2 cgroup at the end of its
// setup, rather than be born there (CLONE_INTO_CGROUP).
//
// On v2 a page is charged to the cgroup its process is in when the page is first touched, and
// the charge stays there. An init born in the cgroup has its namespaces, its Go runtime and its
// setup charged to the container: about 3 MiB, which a small memory limit cannot hold (v1 does
// without, see cgroups.Entry). An init that joins late does its setup in the runtime's cgroup
// and is moved in just before anything of the container's runs (initproc's lateJoin), so that
// the container is charged for little more than its process. Moving a running process costs
// an RCU grace period (several ms), so only containers whose memory limit is small pay it:
// with a 16 MiB limit or more, the runtime's share is noise, and starting fast matters more.
//
// Tasks are counted the same way: being born in the cgroup (stage0, then the init and the
// threads of its Go runtime, about 8) is a fork the pids limit refuses, while a move is not (the
// pids controller charges a migration without checking the limit). A pids limit under 16, 0
// included (runtime-spec 1.3), is met by moving the init in, as runc moves its init.
func lateV2Join(s *specs.Spec) bool {
	return cgroups.DetectMode() == cgroups.Unified && smallLimits(s)
}

// smallLimits reports whether the spec has a memory limit under lateJoinBelow, or a pids limit
// under lateJoinPidsBelow: limits the runtime's own share of a container's start would meet.
func smallLimits(s *specs.Spec) bool {
	if smallPidsLimit(s) {
		return true
	}
	r := s.Linux.Resources
	if r == nil || r.Memory == nil {
		return false
	}
	l := r.Memory.Limit
	return l != nil && *l > 0 && *l < lateJoinBelow
}

// smallPidsLimit reports whether the spec has a pids limit under lateJoinPidsBelow, 0 included.
func smallPidsLimit(s *specs.Spec) bool {
	r := s.Linux.Resources
	return r != nil && r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit >= 0 && *r.Pids.Limit < lateJoinPidsBelow
}

// configure runs steps 5a-9 of the create flow: sends the init its config, runs prestart and
// createRuntime hooks when it reaches them, passes on its seccomp listener, and waits until it
// is ready.
func (in *Init) configure(l *launched) error {
	if in.cInit(l.joinLate) {
		// Step 6-: the process, which the C init takes before it forks its Go helper.
		plan, err := processPlan(in.Spec, in.Seccomp, in.PreserveFds)
		if err != nil {
			return err
		}
		if err := l.conn.Send(plan); err != nil {
			return err
		}
	}
	cfg, err := in.initConfig(l)
	if err != nil {
		return err
	}
	if err := in.sendConfig(l, cfg); err != nil {
		return err
	}
	slog.Debug("config sent to the init", "id", in.ID)
	phase := "setting up its mounts and devices"
	l.conn.SetTimeout(initWait(in.Spec))
	for {
		m, err := l.conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			return in.exitedEarly()
		}
		if errors.Is(err, syncmsg.ErrTimeout) {
			return in.noAnswer(l.pid, phase, err)
		}
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *syncmsg.SeccompFd:
			err = in.passSeccompFd(l.conn, m, l.pid, l.pid, specs.StateCreating)
			phase = "finishing its setup after loading linux.seccomp"
		case *syncmsg.Hooks:
			if err = in.runCreateHooks(l.pid); err == nil {
				err = l.conn.Send(&syncmsg.HooksDone{})
			}
			phase = "running createContainer hooks, pivot_root and setting up the process"
		case *syncmsg.JoinCgroup:
			err = in.moveLate(l, in.Cgroup.EnterV2)
		case *syncmsg.LeaveCgroup:
			err = in.moveLate(l, cgroups.EnterOwnV2)
		case *syncmsg.Log:
			logFromInit(m)
		case *syncmsg.Ready:
			slog.Debug("init ready", "id", in.ID)
			return nil
		case *syncmsg.Error:
			return m
		case *syncmsg.HookError:
			return &hooks.Error{Err: m}
		default:
			return fmt.Errorf("sync: unexpected %s from init", syncmsg.Name(m))
		}
		if err != nil {
			return err
		}
	}
}

// moveLate moves an init that joins its cgroup v2 cgroup late, as it asks, and tells it so.
func (in *Init) moveLate(l *launched, move func(pid int) error) error {
	if !l.joinLate {
		return fmt.Errorf("sync: the init asked to move cgroups, but it was born in its own")
	}
	if err := move(l.pid); err != nil {
		return err
	}
	return l.conn.Send(&syncmsg.CgroupMoved{})
}

// answerWait bounds each wait of the runtime for a message from stage0 or the init: none of
// their steps takes more than milliseconds but the hooks the init runs, whose timeouts add to it.
const answerWait = 60 * time.Second

// initWait is how long the runtime waits for each message of a container's init: answerWait,
// plus the timeouts of the createContainer hooks, which the init runs between two messages. It
// is 0, no bound, when one of them has no timeout: a hook may then run as long as it likes
// (runtime-spec config.md#posix-platform-hooks), and the wait is the hook's to bound.
func initWait(s *specs.Spec) time.Duration {
	d := answerWait
	if s.Hooks == nil {
		return d
	}
	for _, h := range s.Hooks.CreateContainer {
		if h.Timeout == nil {
			return 0
		}
		d += time.Duration(*h.Timeout) * time.Second
	}
	return d
}

// noAnswer is the error for an init that said nothing for as long as it was given.
func (in *Init) noAnswer(pid int, phase string, err error) error {
	msg := fmt.Sprintf("container init (pid %d) did not answer while %s: %v", pid, phase, err)
	if in.Seccomp != nil && in.Seccomp.Notify {
		msg += "; is a syscall the init makes notified by linux.seccomp, with no agent answering it?"
	}
	return errors.New(msg)
}

// exitedEarly is the error for an init gone before it said why.
func (in *Init) exitedEarly() error {
	if in.Seccomp != nil {
		// Once loaded, the filter applies to the init too: a deny of write, capset or the like
		// ends it before it can say so.
		return errors.New("container init exited before it was ready, after loading linux.seccomp: does the filter deny a syscall the init makes before exec (write, capset, setresuid, execve)?")
	}
	return errors.New("container init exited before it was ready")
}

// initConfig is what the init needs (syncmsg.InitConfig).
func (in *Init) initConfig(l *launched) (*syncmsg.InitConfig, error) {
	// The init has no use for linux.resources (cgroups are the runtime's), and every struct type
	// in its input costs it reflection work on first decode.
	initSpec := *in.Spec
	linux := *in.Spec.Linux
	linux.Resources = nil
	linux.Seccomp = nil // compiled: syncmsg.InitConfig.Seccomp
	initSpec.Linux = &linux
	// The runtime's own user namespace counts too (rootless podman runs nebulon as root of one):
	// mknod(2) of a device is refused there as in a new one (runc: RunningInUserNS).
	userNS := linuxspec.HasNamespace(in.Spec.Linux, specs.UserNamespace) || userns.RunningInUserNS()
	cfg := &syncmsg.InitConfig{
		ID: in.ID, Bundle: in.Bundle, Rootfs: in.Rootfs, Spec: &initSpec,
		NoPivot: in.NoPivot, NoNewKeyring: in.NoNewKeyring, PreserveFds: in.PreserveFds,
		InitPid: l.pid, CgroupPaths: in.CgroupPaths,
		CgroupNS:     linuxspec.NewNamespace(in.Spec.Linux, specs.CgroupNamespace),
		CgroupMemory: l.cgMemory,
		UserNS:       userNS,
		MountNS:      linuxspec.HasNamespace(in.Spec.Linux, specs.MountNamespace),
		// For an init in Go; a C stage that stays the init (syncmsg.EnvCInit) gets it with the
		// process's plan, and its Go helper ignores it.
		Seccomp: in.Seccomp,
	}
	if cgroups.DetectMode() != cgroups.Unified && hasCgroupMount(in.Spec) {
		var err error
		if cfg.CgroupHierarchies, err = cgroups.V1Hierarchies(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// rootfsNames are the names of the container's root filesystem: as resolved, and as the config
// names it (a bundle reached through a symlink names its rootfs by another path).
func (in *Init) rootfsNames() []string {
	names := []string{in.Rootfs, in.Spec.Root.Path}
	if !filepath.IsAbs(in.Spec.Root.Path) {
		names[1] = filepath.Join(in.Bundle, in.Spec.Root.Path)
	}
	return names
}

// sendConfig sends the init its config (step 6), the bind mounts made for it (6a) and the
// seccomp agent's connection for a filter loaded at start (6b).
func (in *Init) sendConfig(l *launched, cfg *syncmsg.InitConfig) error {
	var msgs []syncmsg.Message
	if a, ok := in.Cgroup.(cgroups.Attacher); ok && !in.cInit(l.joinLate) {
		// systemd put the whole init in the unit's memory cgroup: its Go runtime and setup
		// would be charged there. It joins last, as the cgroupfs driver's init does.
		e, err := a.LeaveMemory(l.pid)
		if err != nil {
			return err
		}
		if e != nil {
			defer e.Close()
			cfg.CgroupMemory, cfg.MemoryFds = true, true
			msgs = append(msgs, &syncmsg.MemoryFds{Fds: []int{int(e.Tasks[0].Fd()), int(e.MemoryHome.Fd())}})
		}
	}
	fds, err := hostMounts(in.Spec, in.rootfsNames(), l.pid)
	if err != nil {
		return err
	}
	if fds != nil {
		defer closeAll(fds.Fds)
		msgs = append(msgs, fds)
	}
	if cfg.SeccompAtStart() && cfg.Seccomp.Notify {
		agent, conn, err := in.seccompAgent(l.pid)
		if err != nil {
			return err
		}
		defer conn.Close()
		msgs = append(msgs, agent)
	}
	cfg.MountFds = fds != nil
	for _, m := range append([]syncmsg.Message{cfg}, msgs...) {
		if err := l.conn.Send(m); err != nil {
			return err
		}
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func (in *Init) runCreateHooks(pid int) error {
	h := in.Spec.Hooks
	st := hooks.State(in.ID, in.Bundle, pid, specs.StateCreating, in.Spec.Annotations)
	//nolint:staticcheck // Prestart is deprecated but still honoured, before createRuntime.
	if err := hooks.Run("prestart", h.Prestart, st); err != nil {
		return err
	}
	return hooks.Run("createRuntime", h.CreateRuntime, st)
}

func hasCgroupMount(s *specs.Spec) bool {
	for _, m := range s.Mounts {
		if m.Type == "cgroup" {
			return true
		}
	}
	return false
}

package initproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"unicode/utf8"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/hooks"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/rootfs"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// containerInit is a container's init: steps 6 to 9 of syncmsg's create flow, then the wait for
// `start` on exec.fifo (syncmsg's start.go) and the exec of the container's process. As the Go
// helper of the C stage that stays the init (syncmsg.EnvCInit), it makes the root only, hands it
// to that stage and exits 0: its success is its exit, as the init's is its execve. Failures
// before Ready are create's, reported on the sync socket; later ones are start's, reported on
// exec.fifo. It returns only with an error.
func containerInit(f *files) error {
	c, err := setupContainer(f)
	if err != nil {
		return report(f.conn, err)
	}
	defer closeMemory(c.memory)
	if f.helper != nil {
		if err := handRoot(f.helper, c.slave); err != nil {
			return report(f.conn, err)
		}
		os.Exit(0)
	}
	s := c.cfg.Spec
	path, err := applyProcess(s.Process, s.Linux, c.cfg.PreserveFds, c.filter, f.conn, c.memory, c.late.join)
	if err != nil {
		return report(f.conn, err)
	}
	slog.Debug("process set up: ids, capabilities, seccomp")
	if err := f.conn.Send(&syncmsg.Ready{}); err != nil {
		return err
	}
	f.conn.Close()
	// From here on the runtime is gone; failures are reported to `start` through exec.fifo.
	err = waitAndExec(f.fifo, path, c.cfg, c.agent)
	if _, werr := f.fifo.Write(startFailure(err)); werr == nil {
		return fmt.Errorf("%w: %w", ErrReported, err)
	}
	return err
}

// startFailure is err as the StartFailure the init writes to exec.fifo, its message cut so
// that the whole fits in syncmsg.MaxStartFailure bytes.
func startFailure(err error) []byte {
	var hookErr *hooks.Error
	text := err.Error()
	msg := syncmsg.StartFailure{Hook: errors.As(err, &hookErr)}
	cut := min(len(text), syncmsg.MaxStartFailure)
	for {
		for cut > 0 && cut < len(text) && !utf8.RuneStart(text[cut]) {
			cut--
		}
		msg.Error = text[:cut]
		if cut < len(text) {
			msg.Error += "..."
		}
		b, _ := json.Marshal(msg)
		if len(b) <= syncmsg.MaxStartFailure {
			return b
		}
		// Cut in proportion (escapes make some bytes longer in JSON), by one byte at least.
		cut = max(min(cut-1, cut*syncmsg.MaxStartFailure/len(b)), 0)
	}
}

// setup is what setupContainer leaves for the process's own setup.
type setup struct {
	cfg    *syncmsg.InitConfig
	filter *seccomp.Filter       // loaded at create (an init in Go only)
	agent  *syncmsg.SeccompAgent // for a filter loaded at start that notifies (step 6b)
	memory *os.File              // the v1 memory hierarchy's tasks file, joined last, or nil
	late   *lateJoin
	slave  *os.File // the helper's: the process's terminal, for the C stage (setupConsole)
}

// setupContainer does everything but the process that can fail before the container is
// "created", so that such failures are create's errors. On failure the init exits, which closes
// what it got.
func setupContainer(f *files) (*setup, error) {
	conn := f.conn
	if f.sayUp {
		// Last before the wait for the config: from here on nothing is touched until the
		// config comes (syncmsg.EnvSayUp).
		if err := conn.Send(&syncmsg.Up{}); err != nil {
			return nil, err
		}
	}
	cfg, err := syncmsg.Expect[*syncmsg.InitConfig](conn)
	if err != nil {
		return nil, err
	}
	c := &setup{cfg: cfg, filter: cfg.Seccomp, late: &lateJoin{conn: conn, pending: f.joinLate}}
	// Steps 6', 6a and 6b: what the runtime sends with the config, before anything is asked of
	// it.
	if cfg.MemoryFds {
		m, err := syncmsg.Expect[*syncmsg.MemoryFds](conn)
		if err != nil {
			return nil, err
		}
		for _, fd := range m.Fds {
			f.cgroups = append(f.cgroups, os.NewFile(uintptr(fd), "cgroup tasks"))
		}
	}
	var mountFds *syncmsg.MountFds
	if cfg.MountFds { // the id-mapped mounts the runtime made
		if mountFds, err = syncmsg.Expect[*syncmsg.MountFds](conn); err != nil {
			return nil, err
		}
	}
	if cfg.SeccompAtStart() {
		c.filter = nil // waitAndExec loads it
		if cfg.Seccomp.Notify {
			if c.agent, err = syncmsg.Expect[*syncmsg.SeccompAgent](conn); err != nil {
				return nil, err
			}
		}
	}
	if f.helper != nil {
		// The C stage joined the keyring and the cgroups, and reset the affinity: the helper was
		// forked with them.
		return c, setupRoot(f, c, mountFds)
	}
	if err := joinKeyring(cfg); err != nil {
		return nil, err
	}
	// Everything from here on, hooks included, happens in the container's cgroups, but for the
	// v1 memory hierarchy, and the v2 cgroup of an init that joins late: the init's memory is
	// the container's only from joinMemory or lateJoin on, at the end of its setup.
	late := c.late
	if late.pending && cfg.CgroupNS {
		// The namespace is rooted in the cgroup the init is in when it unshares it.
		if err := late.move(&syncmsg.JoinCgroup{}); err != nil {
			return nil, err
		}
	}
	if c.memory, err = joinCgroups(f.cgroups, cfg.CgroupMemory, cfg.CgroupNS); err != nil {
		return nil, err
	}
	if late.pending && cfg.CgroupNS {
		if err := late.move(&syncmsg.LeaveCgroup{}); err != nil {
			return nil, err
		}
	}
	slog.Debug("config read, cgroups joined")
	// The init's affinity is the cgroup's, not the runtime's (process.execCPUAffinity is for
	// exec'd processes only, runtime-spec config.md).
	resetAffinity()
	if err := setupRoot(f, c, mountFds); err != nil {
		return nil, err
	}
	return c, nil
}

// setupRoot makes the container's root: mounts, devices, hooks, pivot_root, and what is set up
// inside it.
func setupRoot(f *files, c *setup, mountFds *syncmsg.MountFds) error {
	r := rootfs.New(c.cfg)
	if mountFds != nil {
		r.UseMountFds(mountFds)
	}
	if err := buildRoot(f.conn, r, c.cfg, c.late); err != nil {
		return err
	}
	slog.Debug("mounts and devices made, hooks run")
	if err := r.Pivot(); err != nil {
		return err
	}
	slave, err := setupInRoot(c.cfg.Spec, c.cfg.MountNS, f.console, f.helper == nil)
	if err != nil {
		return err
	}
	c.slave = slave
	slog.Debug("root pivoted, set up inside")
	return nil
}

// lateJoin is the move of an init that joins its cgroup v2 cgroup late (syncmsg.EnvJoinLate)
// into that cgroup, which the runtime makes when asked: at the end of the init's setup, so that
// the setup is charged to the runtime's cgroup (see parent's lateV2Join), but before anything
// runs that is the container's: createContainer hooks, or a seccomp filter that might deny the
// messages it takes.
type lateJoin struct {
	conn    *syncmsg.Conn
	pending bool
}

// join moves the init into its cgroup, once; it does nothing when the init was born there.
func (l *lateJoin) join() error {
	if !l.pending {
		return nil
	}
	l.pending = false
	return l.move(&syncmsg.JoinCgroup{})
}

// move asks the runtime for a move (JoinCgroup or LeaveCgroup) and waits until it is made.
func (l *lateJoin) move(m syncmsg.Message) error {
	if err := l.conn.Send(m); err != nil {
		return err
	}
	_, err := syncmsg.Expect[*syncmsg.CgroupMoved](l.conn)
	return err
}

// joinKeyring gives the container a session keyring of its own, so it cannot read the host's
// keys (unless --no-new-keyring).
func joinKeyring(cfg *syncmsg.InitConfig) error {
	if cfg.NoNewKeyring {
		return nil
	}
	if err := setKeyLabel(cfg.Spec.Process.SelinuxLabel); err != nil {
		return err
	}
	if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("join session keyring: %w", err)
	}
	return nil
}

// buildRoot makes the container's mounts and devices, lets the runtime run prestart and
// createRuntime hooks (steps 7 and 8), runs createContainer hooks, and makes the working
// directory: all before pivot_root, as the spec orders them.
func buildRoot(conn *syncmsg.Conn, r *rootfs.Root, cfg *syncmsg.InitConfig, late *lateJoin) error {
	s := cfg.Spec
	if err := r.Prepare(); err != nil {
		return err
	}
	if err := r.CreateDevices(); err != nil {
		return err
	}
	if needsHookSync(s) {
		if err := conn.Send(&syncmsg.Hooks{}); err != nil {
			return err
		}
		if _, err := syncmsg.Expect[*syncmsg.HooksDone](conn); err != nil {
			return err
		}
	}
	if s.Hooks != nil && len(s.Hooks.CreateContainer) > 0 {
		// The hooks run in the container's cgroup, as the container's process will.
		if err := late.join(); err != nil {
			return err
		}
		// In the container's namespaces the pid is the one seen there, as runc gives it: the
		// init's, whose helper this process may be.
		st := hooks.State(cfg.ID, cfg.Bundle, initPid(), specs.StateCreating, s.Annotations)
		if err := hooks.Run("createContainer", s.Hooks.CreateContainer, st); err != nil {
			return err
		}
	}
	// A missing working directory is made, as runc does, inside the root.
	if err := r.MkdirAll(s.Process.Cwd); err != nil {
		return fmt.Errorf("process.cwd %s: %w", s.Process.Cwd, err)
	}
	return nil
}

// needsHookSync reports whether the init must stop before pivot_root for the runtime to run
// prestart and createRuntime hooks.
func needsHookSync(s *specs.Spec) bool {
	//nolint:staticcheck // Prestart is deprecated but still honoured.
	return s.Hooks != nil && (len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0)
}

// setupInRoot sets up, after pivot_root, what needs the container's own root and namespaces:
// hostname, sysctls, loopback, the terminal, then masked and read-only paths.
//
// With process.terminal, the pty's slave becomes this process's terminal (own), or is returned
// for the C stage of the init to take (a helper's).
func setupInRoot(s *specs.Spec, mountNS bool, console *os.File, own bool) (slave *os.File, err error) {
	if err := setKernelNames(s); err != nil {
		return nil, err
	}
	if linuxspec.NewNamespace(s.Linux, specs.NetworkNamespace) {
		if err := loopbackUp(); err != nil {
			return nil, err
		}
	}
	if s.Process.Terminal {
		// Before rootfs.Finish: /dev/console is made and mounted on while / is still writable.
		// Without a mount namespace of its own, the host's /dev/console is left alone.
		if slave, err = setupConsole(console, s.Process, mountNS, own); err != nil {
			return nil, err
		}
	}
	return slave, rootfs.Finish(s)
}

// waitAndExec blocks until `start` writes to the exec fifo, runs startContainer hooks and execs
// the container's process. It returns only with an error.
//
// The hooks run as the container's process will, in its namespaces and root, with its user,
// capabilities and no_new_privs; with noNewPrivileges, before its seccomp filter
// (InitConfig.SeccompAtStart). A hook without env gets the process's environment, as runc gives
// it.
func waitAndExec(fifo *os.File, path string, cfg *syncmsg.InitConfig, agent *syncmsg.SeccompAgent) error {
	buf := make([]byte, 1)
	if _, err := fifo.Read(buf); err != nil {
		return fmt.Errorf("wait for start: %w", err)
	}
	s := cfg.Spec
	if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
		st := hooks.State(cfg.ID, cfg.Bundle, os.Getpid(), specs.StateCreated, s.Annotations)
		if err := hooks.Run("startContainer", withEnv(s.Hooks.StartContainer, os.Environ()), st); err != nil {
			return err
		}
	}
	if cfg.SeccompAtStart() {
		if err := loadAtStart(cfg.Seccomp, agent); err != nil {
			return err
		}
	}
	return execve(path, s.Process.Args, os.Environ())
}

// withEnv gives env to the hooks that have none.
func withEnv(hs []specs.Hook, env []string) []specs.Hook {
	out := make([]specs.Hook, len(hs))
	for i, h := range hs {
		if len(h.Env) == 0 {
			h.Env = env
		}
		out[i] = h
	}
	return out
}

// loadAtStart loads the filter held back for the startContainer hooks, and sends its listener
// fd, if it has one, to the agent the runtime connected to at create (syncmsg.SeccompAgent).
// The send is made on another thread: the filter is this thread's only (a listener excludes
// TSYNC), and it may notify sendmsg(2), which would then wait for an agent that has not got the
// fd yet.
func loadAtStart(filter *seccomp.Filter, agent *syncmsg.SeccompAgent) error {
	return loadFilter(filter, func(fd int) error {
		sent := make(chan error, 1)
		go func() { // not locked to this thread, so on another one
			sent <- unix.Sendmsg(agent.Conn, agent.State, unix.UnixRights(fd), nil, 0)
		}()
		if err := <-sent; err != nil {
			return linuxspec.Errorf("linux.seccomp.listenerPath", "send the seccomp fd to the agent: %v", os.NewSyscallError("sendmsg", err))
		}
		return unix.Close(agent.Conn)
	})
}

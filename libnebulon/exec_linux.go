package libnebulon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// ExecOpts are `exec`'s options beyond the process.
type ExecOpts struct {
	PreserveFds  int
	IgnorePaused bool
	// Cgroup is a sub-cgroup of the container's to run in: "path" for every hierarchy, or
	// "controller:path" (repeatable) on v1.
	Cgroup []string
	// Stdin, Stdout and Stderr become the process's stdio; nil means the runtime's own.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket and Foreground are CreateOpts's, for a process with a terminal.
	ConsoleSocket string
	Foreground    bool
}

// nsFile names each namespace type's file under /proc/<pid>/ns.
var nsFile = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// Exec starts p inside the running container: in each of its namespaces (user and mount
// included), its cgroups, with p's user, capabilities, rlimits, no_new_privs and environment.
// It returns the process's pid (in the runtime's pid namespace) once the process has exec'd, and
// the pty master of its terminal when the caller relays it (opts.Foreground); an error means it
// never ran. The caller must be a child subreaper to wait for it: the process is
// the child of a stage that exits at once. Exec only reads the container's state and may run
// without its lock (a container that goes away meanwhile makes it fail).
func (c *Container) Exec(p *specs.Process, opts ExecOpts) (int, *os.File, error) {
	switch c.Status() {
	case specs.StateStopped:
		return 0, nil, errors.New("cannot exec in a stopped container")
	case StatePaused:
		if !opts.IgnorePaused {
			return 0, nil, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	}
	if err := checkExecProcess(p); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Source = "exec" // the flags or --process, not the bundle's config.json
		}
		return 0, nil, err
	}
	spec, err := c.Spec()
	if err != nil {
		return 0, nil, err
	}
	boot, err := c.joinData(spec)
	if err != nil {
		return 0, nil, err
	}
	paths, err := subCgroup(c.state.CgroupPaths, opts.Cgroup)
	if err != nil {
		return 0, nil, err
	}
	execSpec := *spec
	execSpec.Process = p
	filter, err := c.execSeccomp(spec)
	if err != nil {
		return 0, nil, err
	}
	sock, keep, err := terminalSocket(p.Terminal, opts.Foreground, opts.ConsoleSocket)
	if err != nil {
		return 0, nil, err
	}
	if sock != nil {
		defer sock.Close()
	}
	if keep != nil {
		defer keep.Close()
	}
	ip := &initProcess{c: c, spec: &execSpec, cg: cgroups.Load(paths), boot: boot, exec: true, console: sock, seccomp: filter,
		opts: CreateOpts{PreserveFds: opts.PreserveFds, Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr}}
	pid, err := ip.startExec()
	if err != nil || keep == nil {
		return pid, nil, err
	}
	// Sent before the process exec'd, which closed the init's end of the socket.
	master, err := RecvConsole(keep)
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		return 0, nil, err
	}
	return pid, master, nil
}

func checkExecProcess(p *specs.Process) error {
	if err := validateProcess(p); err != nil {
		return err
	}
	return checkLSM(p.ApparmorProfile, p.SelinuxLabel, "")
}

// joinData is the bootstrap for an exec: every namespace of the container, joined through its
// init's /proc/<pid>/ns files; the init's start time is checked after, so a reused pid is never
// joined.
func (c *Container) joinData(spec *specs.Spec) (*syncmsg.Bootstrap, error) {
	b := &syncmsg.Bootstrap{}
	for _, ns := range spec.Linux.Namespaces {
		b.Join = append(b.Join, syncmsg.NsJoin{
			Flag: NamespaceFlags[ns.Type],
			Path: fmt.Sprintf("/proc/%d/ns/%s", c.state.InitPid, nsFile[ns.Type]),
		})
	}
	if !alive(c.state.InitPid, c.state.InitStartTime) {
		return nil, ErrNotRunning
	}
	return b, nil
}

// subCgroup applies exec's --cgroup to the container's cgroup paths; the sub-cgroup must exist.
func subCgroup(paths map[string]string, subs []string) (map[string]string, error) {
	if len(subs) == 0 {
		return paths, nil
	}
	out := map[string]string{}
	for k, v := range paths {
		out[k] = v
	}
	for _, s := range subs {
		ctrl, sub, ok := strings.Cut(s, ":")
		if !ok {
			ctrl, sub = "", s
		}
		if sub == "" || filepath.IsAbs(sub) || strings.Contains("/"+sub+"/", "/../") {
			return nil, fmt.Errorf("--cgroup %q: want a path below the container's cgroup, such as sub or memory:sub", s)
		}
		matched := false
		for key, dir := range paths {
			if ctrl != "" && !containsString(strings.Split(key, ","), ctrl) {
				continue
			}
			matched = true
			p := filepath.Join(dir, sub)
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("--cgroup %q: no cgroup %s", s, p)
			}
			out[key] = p
		}
		if !matched {
			return nil, fmt.Errorf("--cgroup %q: the container has no %s hierarchy", s, ctrl)
		}
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// startExec runs the sync protocol for an exec: bootstrap (joins only), the process's config,
// then waits until the process execs (its end of the socket closes on exec) or reports why not.
func (p *initProcess) startExec() (int, error) {
	entry, err := p.cg.Entry()
	if err != nil {
		return 0, err
	}
	defer entry.Close()
	conn, pid, err := p.launch(entry)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	err = conn.Send(&syncmsg.ExecConfig{Process: p.spec.Process, PreserveFds: p.opts.PreserveFds, CgroupMemory: entry.Memory, Seccomp: p.seccomp})
	if err == nil {
		err = p.waitExec(conn, pid)
	}
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		return 0, err
	}
	slog.Debug("exec'd", "id", p.c.ID, "pid", pid)
	return pid, nil
}

// waitExec waits for the exec'd process's init to exec (the socket closes) or fail.
func (p *initProcess) waitExec(conn *syncmsg.Conn, pid int) error {
	for {
		m, err := conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *syncmsg.SeccompFd:
			if err := p.passSeccompFd(conn, m, pid, p.c.Status()); err != nil {
				return err
			}
		case *syncmsg.Log:
			logFromInit(m)
		case *syncmsg.Error:
			return m
		default:
			return fmt.Errorf("sync: unexpected %s from exec", m)
		}
	}
}

// reap waits for a child (reparented to this subreaper) that was killed.
func reap(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// execInit is the Go half of an exec'd process's init: it joins the container's cgroups (the C
// stage joined its namespaces), sets up the process as the container's init does, and execs.
// It returns only on failure, after telling the parent why.
func execInit(conn *syncmsg.Conn, fds []*os.File, console *os.File) error {
	path, cfg, err := setupExec(conn, fds, console)
	if err != nil {
		if conn.Send(syncmsg.NewError(err)) == nil {
			return fmt.Errorf("%w: %w", ErrReported, err)
		}
		return err
	}
	// The sync socket is close-on-exec: its closing tells the parent the process runs.
	err = unix.Exec(path, cfg.Process.Args, os.Environ())
	err = fmt.Errorf("exec %s: %w", path, os.NewSyscallError("execve", err))
	if conn.Send(syncmsg.NewError(err)) == nil {
		return fmt.Errorf("%w: %w", ErrReported, err)
	}
	return err
}

func setupExec(conn *syncmsg.Conn, fds []*os.File, console *os.File) (string, *syncmsg.ExecConfig, error) {
	cfg, err := syncmsg.Expect[*syncmsg.ExecConfig](conn)
	if err != nil {
		return "", nil, err
	}
	// The container's cgroup namespace was joined by the C stage: nothing to unshare.
	memory, err := joinCgroups(fds, &syncmsg.InitConfig{CgroupMemory: cfg.CgroupMemory})
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if memory != nil {
			memory.Close()
		}
	}()
	if cfg.Process.Terminal {
		if err := setupConsole(console, cfg.Process, false); err != nil {
			return "", nil, err
		}
	}
	path, err := setupProcess(cfg.Process, cfg.PreserveFds, cfg.Seccomp, conn)
	if err != nil {
		return "", nil, err
	}
	err = joinMemory(memory)
	memory = nil
	return path, cfg, err
}

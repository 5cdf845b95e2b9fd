package parent

import (
	"errors"
	"fmt"
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// Exec is a process to start in a running container.
type Exec struct {
	Process
	// InitPid and Status are the container's init and status, for the state a seccomp agent
	// gets with the process's listener.
	InitPid int
	Status  specs.ContainerState
}

// StartExec starts the process through syncmsg's exec flow: a bootstrap that only joins, the
// process's config, then a wait until the process execs (its end of the socket closes on exec)
// or reports why not. It returns the process's pid; the caller must be a child subreaper to wait
// for it, as stage0, its parent, exits at once.
func StartExec(e *Exec) (int, error) {
	if a := e.Spec.Process.ExecCPUAffinity; a != nil {
		initial, _, err := linuxspec.ExecCPUAffinity(a)
		if err != nil {
			return 0, err
		}
		e.InitialCPUs = initial
	}
	l, err := e.launch(false, []string{syncmsg.EnvExec + "=1"})
	if err != nil {
		return 0, err
	}
	defer l.conn.Close()
	if l.joinLate {
		if err := e.joinLate(l); err != nil {
			Kill(l.pid)
			return 0, err
		}
	}
	cfg := &syncmsg.ExecConfig{Process: e.Spec.Process, PreserveFds: e.PreserveFds, CgroupMemory: l.cgMemory, Seccomp: e.Seccomp}
	if e.Spec.Linux != nil {
		cfg.Personality, cfg.MemoryPolicy = e.Spec.Linux.Personality, e.Spec.Linux.MemoryPolicy
	}
	err = l.conn.Send(cfg)
	if err == nil {
		err = e.wait(l)
	}
	if err != nil {
		Kill(l.pid)
		return 0, err
	}
	slog.Debug("exec'd", "id", e.ID, "pid", l.pid)
	return l.pid, nil
}

// wait waits for the exec'd process's init to exec (the socket closes) or fail.
func (e *Exec) wait(l *launched) error {
	for {
		m, err := l.conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *syncmsg.SeccompFd:
			if err := e.passSeccompFd(l.conn, m, l.pid, e.InitPid, e.Status); err != nil {
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

// Kill kills a process StartExec started and reaps it: it was reparented to this subreaper.
func Kill(pid int) {
	unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

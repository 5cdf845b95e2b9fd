package parent

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// Exec is a process to start in a running container.
type Exec struct {
	Process
	// Status is the container's status, for the state a seccomp agent gets with the process's
	// listener (with the init's pid, Process.InitPid).
	Status specs.ContainerState
}

// StartExec starts the process through syncmsg's exec flow: a bootstrap that only joins, the
// process's plan, which the C stage sets up and execs (no Go runtime starts in the container),
// then a wait until the process execs (its end of the socket closes on exec) or reports why not.
// It returns the process's pid; the caller must be a child subreaper to wait for it, as stage0,
// its parent, exits at once.
func StartExec(e *Exec) (int, error) {
	// Checked and resolved before anything starts (InitialCPUs too); CgroupMemory is known
	// once launched.
	plan, err := e.execPlan(false)
	if err != nil {
		return 0, err
	}
	// The LSM labels are written through the runtime's /proc, which stage0 opens before it
	// joins the container's mount namespace.
	e.Namespaces.OpenProc = plan.AppArmor != "" || plan.SELinux != ""
	slog.Debug("starting exec", "id", e.ID)
	l, err := e.launch(true, false, func(bool) []string { return []string{syncmsg.EnvExec + "=1"} })
	if err != nil {
		return 0, err
	}
	slog.Debug("namespaces ready", "id", e.ID, "pid", l.pid)
	defer l.conn.Close()
	if l.joinLate {
		if err := e.joinLate(l); err != nil {
			Kill(l.pid)
			return 0, err
		}
	}
	plan.CgroupMemory = l.cgMemory
	err = l.conn.Send(plan)
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

// execOutcome tells, once the init's end of the socket has closed, whether the process exec'd:
// the close comes with execve (the socket is close-on-exec) or with its death. execve renames
// the process after closing its close-on-exec files, so a process that still bears the init's
// name (syncmsg.ExecComm) is either between the two or dying: one that is dying (an exit status
// set, or dead) never exec'd (a seccomp filter that kills execve, a SIGKILL, the OOM killer).
// One whose /proc entry is gone already (reaped: a detached exec has no subreaper) exec'd if it
// said it was about to (execing).
func execOutcome(pid int, execing bool) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := proc.ReadStat(pid)
		switch {
		case err != nil && execing:
			return nil
		case err != nil:
			return fmt.Errorf("exec: the process (pid %d) ended before it could exec; how is not known: it is gone", pid)
		case st.Comm != syncmsg.ExecComm:
			return nil
		case st.ExitCode != 0 || st.State == 'Z' || st.State == 'X':
			return diedBeforeExec(pid, st)
		case time.Now().After(deadline):
			return fmt.Errorf("exec: the process (pid %d) closed its sync socket but neither exec'd nor exited within 5s", pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// diedBeforeExec is the error for an exec'd process that ended before execve, with how it ended
// (its exit status is set before it closes its files).
func diedBeforeExec(pid int, st proc.Stat) error {
	ws := unix.WaitStatus(st.ExitCode)
	how := fmt.Sprintf("exit status %d", ws.ExitStatus())
	if ws.Signaled() {
		how = "killed by signal " + unix.SignalName(ws.Signal())
		if ws.Signal() == unix.SIGSYS {
			how += " (its seccomp filter?)"
		}
	}
	return fmt.Errorf("exec: the process (pid %d) ended before it could exec: %s", pid, how)
}

// wait waits for the exec'd process's init to exec or fail. Success is positive: the init says
// it is about to execve (Execing), its end of the socket closes, and the process no longer bears
// the init's name (execOutcome).
func (e *Exec) wait(l *launched) error {
	execing := false
	for {
		m, err := l.conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			return execOutcome(l.pid, execing)
		}
		if errors.Is(err, syncmsg.ErrTimeout) {
			return fmt.Errorf("exec: the process (pid %d) did not answer while setting up: %w", l.pid, err)
		}
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *syncmsg.Execing:
			execing = true
		case *syncmsg.SeccompFd:
			if err := e.passSeccompFd(l.conn, m, l.pid, e.InitPid, e.Status); err != nil {
				return err
			}
		case *syncmsg.Log:
			logFromInit(m)
		case *syncmsg.Error:
			return m
		default:
			return fmt.Errorf("sync: unexpected %s from exec", syncmsg.Name(m))
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

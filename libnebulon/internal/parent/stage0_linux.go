package parent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// stage0 is the process of the C stage (internal/nsexec). It is started with syscall.StartProcess, not os/exec:
// the os package's first start of a process probes pidfd support by forking a throwaway child,
// a cost on every create and exec for a process that is only ever waited for once.
type stage0 struct{ pid int }

// wait reaps stage0; anything but exit status 0 is an error.
func (s stage0) wait() error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(s.pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("wait4", err)
		}
		break
	}
	switch {
	case ws.Signaled():
		return fmt.Errorf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	case ws.ExitStatus() != 0:
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	}
	return nil
}

// spawn starts stage0 in the v2 cgroup (when there is one) with clone3 CLONE_INTO_CGROUP.
// Kernels before 5.7 lack it: then stage0 starts outside and is migrated, before it does
// anything, the slower way.
func (p *Process) spawn(env []string, extra []*os.File, ncg int, v2dir *os.File) (stage0, error) {
	exe, joined, err := protectedExe(p)
	if err != nil {
		return stage0{}, err
	}
	p.exeUserNS = joined
	// The last close of a detached mount (readonlyExe's) dissolves it, which waits for an RCU
	// grace period (synchronize_rcu_expedited: 0.3 to 0.7 ms on this project's VM). stage0 no
	// longer needs the fd once it has exec'd: the close goes on while this process waits for
	// stage0's first message.
	defer func() { go exe.Close() }()
	s, err := p.startStage0(exe, env, extra, ncg, v2dir)
	if !errors.Is(err, unix.ENOSYS) || v2dir == nil {
		return s, err
	}
	if s, err = p.startStage0(exe, env, extra, ncg, nil); err != nil {
		return s, err
	}
	if err := p.Cgroup.EnterV2(s.pid); err != nil {
		unix.Kill(s.pid, unix.SIGKILL)
		s.wait()
		return stage0{}, err
	}
	return s, nil
}

// startStage0 starts stage0 from exe (readonlyExe): extra are its fds after stdio and the
// preserved ones (the sync socket, the fifos, the console socket, then ncg v1 cgroup tasks
// files), which env names as syncmsg's config.go lays out; v2dir, when not nil, is the cgroup
// v2 directory it is born in.
func (p *Process) startStage0(exe *os.File, env []string, extra []*os.File, ncg int, v2dir *os.File) (stage0, error) {
	files := []uintptr{
		orDefault(p.Stdin, os.Stdin).Fd(),
		orDefault(p.Stdout, os.Stdout).Fd(),
		orDefault(p.Stderr, os.Stderr).Fd(),
	}
	for i := 0; i < p.PreserveFds; i++ {
		files = append(files, uintptr(3+i))
	}
	base := 3 + p.PreserveFds
	for _, f := range extra {
		files = append(files, f.Fd())
	}
	env = append([]string{
		syncmsg.EnvInitPipe + "=" + strconv.Itoa(base),
		syncmsg.EnvCgroupFds + "=" + strconv.Itoa(ncg),
		// The init runs one thing at a time; fewer Ps mean fewer threads for execve to kill.
		"GOMAXPROCS=1",
	}, env...)
	if slog.Default().Enabled(context.Background(), slog.LevelDebug) {
		env = append(env, syncmsg.EnvDebug+"=1")
	}
	if p.Console != nil {
		for i, f := range extra { // before the cgroup fds; an exec's init pidfd may follow them
			if f == p.Console {
				env = append(env, syncmsg.EnvConsoleFd+"="+strconv.Itoa(base+i))
				break
			}
		}
	}
	sys := &syscall.SysProcAttr{}
	if v2dir != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, int(v2dir.Fd())
	}
	// The child execs /proc/self/fd/N after moving the files into place: N must be above every
	// fd that fork shuffles them through, which start above both len(files) and the largest of
	// them (syscall's forkAndExecInChild).
	top := len(files)
	for _, f := range files {
		top = max(top, int(f))
	}
	fd, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, top+len(files)+2)
	if err != nil {
		return stage0{}, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	defer unix.Close(fd)
	path := fmt.Sprintf("/proc/self/fd/%d", fd)
	pid, err := forkExecOn(p.InitialCPUs, path, []string{"nebulon:[0:PARENT]", "init"},
		&syscall.ProcAttr{Env: env, Files: files, Sys: sys})
	runtime.KeepAlive(extra)
	if err != nil {
		return stage0{}, &os.PathError{Op: "fork/exec", Path: "/proc/self/exe (read-only)", Err: err}
	}
	return stage0{pid: pid}, nil
}

// forkExecOn is syscall.ForkExec, from a thread of its own whose CPU affinity is cpus (when not
// nil): the child inherits it, so stage0 runs on those CPUs from its first instruction
// (process.execCPUAffinity.initial: "before the transition to container's cgroup"). The thread
// is left locked, so the Go runtime ends it rather than reuse it with that affinity.
func forkExecOn(cpus *unix.CPUSet, path string, argv []string, attr *syscall.ProcAttr) (int, error) {
	if cpus == nil {
		return syscall.ForkExec(path, argv, attr)
	}
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.SchedSetaffinity(0, cpus); err != nil {
			done <- result{err: fmt.Errorf("process.execCPUAffinity.initial: %w", os.NewSyscallError("sched_setaffinity", err))}
			return
		}
		pid, err := syscall.ForkExec(path, argv, attr)
		done <- result{pid, err}
	}()
	r := <-done
	return r.pid, r.err
}

func orDefault(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

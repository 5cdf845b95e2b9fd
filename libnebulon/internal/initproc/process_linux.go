package initproc

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// setupProcess applies process: rlimits, the scheduler, I/O priority, personality and memory
// policy (applyKernelAttrs), user and groups, capabilities, no_new_privs, umask and
// cwd, finds the program in the container's PATH, and loads the seccomp filter. It needs the
// init's locked main thread: credentials, capabilities, no_new_privs and the filter are per
// thread, and that thread execs.
//
// The filter goes on as late as it can: with no_new_privs, last of all; without, loading one
// needs CAP_SYS_ADMIN, so before the capabilities are dropped. A listener fd (SCMP_ACT_NOTIFY)
// goes to the parent at once, which passes it on to linux.seccomp.listenerPath: until then a
// notified syscall of the init's would wait for an agent that does not have the fd.
func setupProcess(p *specs.Process, l *specs.Linux, preserveFds int, filter *seccomp.Filter, conn *syncmsg.Conn, lateJoin func() error) (string, error) {
	for _, rl := range p.Rlimits {
		lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := unix.Prlimit(0, linuxspec.Rlimits[rl.Type], &lim, nil); err != nil {
			return "", fmt.Errorf("process.rlimits %s: %w", rl.Type, os.NewSyscallError("prlimit", err))
		}
	}
	if err := applyKernelAttrs(p, l); err != nil {
		return "", err
	}
	os.Clearenv()
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	// runc's rule: an empty HOME is no HOME either (libcontainer/env.go).
	if home, ok := os.LookupEnv("HOME"); !ok || home == "" {
		os.Setenv("HOME", homeOf(int(p.User.UID)))
	}
	// Before the filter: close_range is newer than many profiles, which deny it.
	if err := closeExecFrom(3 + preserveFds); err != nil {
		return "", err
	}
	// Change directory before dropping privileges, and again after if root could not see it.
	// Checked at once, before a seccomp filter may deny getcwd.
	cwdErr := unix.Chdir(p.Cwd)
	if cwdErr == nil {
		if err := checkCwd(p.Cwd); err != nil {
			return "", err
		}
	}
	if err := applyExecLabels(p); err != nil {
		return "", err
	}
	// Before the filter, which may deny the messages the move takes.
	if err := lateJoin(); err != nil {
		return "", err
	}
	if filter != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(filter, conn); err != nil {
			return "", err
		}
	}
	if err := setUserAndCaps(p); err != nil {
		return "", err
	}
	if cwdErr != nil {
		if err := unix.Chdir(p.Cwd); err != nil {
			return "", fmt.Errorf("process.cwd %s: %w", p.Cwd, &os.PathError{Op: "chdir", Path: p.Cwd, Err: err})
		}
		if err := checkCwd(p.Cwd); err != nil {
			return "", err
		}
	}
	umask := 0o022 // runc's default, not whatever the caller of the runtime had
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", fmt.Errorf("process.noNewPrivileges: %w", os.NewSyscallError("prctl", err))
		}
	}
	// Unwrapped: exec.LookPath's words are runc's (`exec: "x": executable file not found in
	// $PATH`), which engines match to answer 127 or 126.
	path, err := exec.LookPath(p.Args[0])
	if err != nil {
		return "", err
	}
	if filter != nil && p.NoNewPrivileges {
		if err := loadSeccomp(filter, conn); err != nil {
			return "", err
		}
	}
	return path, nil
}

// loadSeccomp loads the filter on this thread and hands its listener fd, if any, to the parent:
// by number, for the parent to copy (see syncmsg.SeccompFd).
func loadSeccomp(filter *seccomp.Filter, conn *syncmsg.Conn) error {
	return loadFilter(filter, func(fd int) error {
		if err := conn.Send(syncmsg.NewSeccompFd(fd)); err != nil {
			return err
		}
		_, err := syncmsg.Expect[*syncmsg.SeccompFdDone](conn)
		return err
	})
}

// loadFilter loads the filter on this thread and, if it has a listener fd, hands that over with
// handOver, keeping it open until handOver returns.
func loadFilter(filter *seccomp.Filter, handOver func(fd int) error) error {
	fd, err := seccomp.Load(filter)
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	return handOver(fd)
}

// checkCwd refuses a working directory outside the root. A cwd such as /proc/self/fd/N reaches
// whatever that fd is, outside the root too (CVE-2024-21626); getcwd has no path for it, and
// x/sys's Getwd returns ENOENT for the kernel's "(unreachable)". Any other failure is refused
// too, as runc does: a cwd that cannot be named cannot be shown to be inside.
func checkCwd(cwd string) error {
	if _, err := unix.Getwd(); err != nil {
		return fmt.Errorf("process.cwd %s: not a directory inside the container (CVE-2024-21626): %w", cwd, err)
	}
	return nil
}

// closeExecFrom marks every fd from minFd up close-on-exec, so nothing of the runtime's leaks
// into the container (CVE-2024-21626). close_range(2) needs no /proc, which after pivot_root is
// the container's to fake.
func closeExecFrom(minFd int) error {
	if err := unix.CloseRange(uint(minFd), ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark fds from %d close-on-exec: %w", minFd, os.NewSyscallError("close_range", err))
	}
	return nil
}

// homeOf is HOME for a process that has none, or an empty one, in process.env: the user's
// home in the container's /etc/passwd, or /.
func homeOf(uid int) string {
	users, err := user.ParsePasswdFileFilter("/etc/passwd", func(u user.User) bool { return u.Uid == uid })
	if err != nil || len(users) == 0 || users[0].Home == "" {
		return "/"
	}
	return users[0].Home
}

// execve execs path, as runc does, with its error in runc's words: "exec <path>: <errno>",
// which engines parse. It returns only with an error.
func execve(path string, args, env []string) error {
	// No signal blocked, whatever the runtime's caller blocked: the mask survives execve, and
	// a pid 1 with SIGTERM blocked is only stopped by SIGKILL (nsexec's reset_signals; the Go
	// runtime, which made every signal it handles default again, unblocks only some).
	unix.PthreadSigmask(unix.SIG_SETMASK, &unix.Sigset_t{}, nil)
	for {
		err := unix.Exec(path, args, env)
		if err != unix.EINTR {
			return &os.PathError{Op: "exec", Path: path, Err: err}
		}
	}
}

package libnebulon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	// The init's first stage, in C, runs as a constructor before the Go runtime (see nsexec_linux.c).
	_ "github.com/nebulon-dev/nebulon/libnebulon/internal/nsexec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// IsInit reports whether this process was started by the runtime as a container's init.
func IsInit() bool { return os.Getenv(syncmsg.EnvInitPipe) != "" }

// The init's main goroutine must run on the main thread, the thread group leader: the init moves
// that thread alone into the container's cgroups, and the memory controller charges a process's
// memory to the cgroup of its leader. Locking in a package init function is what guarantees it.
func init() {
	if IsInit() {
		runtime.LockOSThread()
	}
}

// ErrReported wraps an init error that already reached the runtime (over the sync socket, or
// exec.status for start): the caller need not print it again.
var ErrReported = errors.New("reported to the runtime")

// Init is the body of `nebulon init`: the Go half of a container's init, which the C stage
// (internal/nsexec) forked inside the container's namespaces. It sets up the container and execs
// its process; it returns only on failure, after telling the parent why.
//
// It must run on one locked OS thread for its whole life: credentials, capabilities and
// no_new_privs are per thread, and execve(2) keeps those of the calling thread.
func Init() error {
	runtime.LockOSThread()
	isExec := os.Getenv(syncmsg.EnvExec) != ""
	names := []string{syncmsg.EnvInitPipe, syncmsg.EnvFifoFd, syncmsg.EnvStatusFd}
	if isExec {
		names = names[:1]
	}
	hasConsole := os.Getenv(syncmsg.EnvConsoleFd) != ""
	if hasConsole {
		names = append(names, syncmsg.EnvConsoleFd)
	}
	fds, err := initFds(names)
	if err != nil {
		return err
	}
	var console *os.File // the console socket (see setupConsole)
	if hasConsole {
		console = os.NewFile(uintptr(fds[len(fds)-1]), "console socket")
	}
	conn := syncmsg.NewConn(os.NewFile(uintptr(fds[0]), "sync"))
	slog.SetDefault(slog.New(&syncLogHandler{conn: conn}))
	ncg, err := strconv.Atoi(os.Getenv(syncmsg.EnvCgroupFds))
	if err != nil {
		return fmt.Errorf("init: bad %s: %w", syncmsg.EnvCgroupFds, err)
	}
	tasks := make([]*os.File, ncg)
	for i := range tasks {
		fd := fds[len(fds)-1] + 1 + i
		unix.CloseOnExec(fd)
		tasks[i] = os.NewFile(uintptr(fd), "cgroup tasks")
	}
	late := os.Getenv(syncmsg.EnvJoinLate) != ""
	for _, e := range syncmsg.Env {
		os.Unsetenv(e)
	}
	if isExec {
		return execInit(conn, tasks, console)
	}
	fifo := os.NewFile(uintptr(fds[1]), "exec.fifo")
	status := os.NewFile(uintptr(fds[2]), "exec.status")
	if late {
		if err := conn.Send(&syncmsg.JoinCgroup{}); err != nil {
			return err
		}
	}
	path, cfg, err := setupContainer(conn, tasks, console)
	if errors.Is(err, syncmsg.ErrClosed) {
		// The runtime gave up on this container (and said why); nobody is listening.
		return fmt.Errorf("%w: %w", ErrReported, err)
	}
	if err != nil {
		var msg syncmsg.Message = syncmsg.NewError(err)
		var hookErr *HookError
		if errors.As(err, &hookErr) {
			msg = syncmsg.NewHookError(err)
		}
		if conn.Send(msg) == nil {
			return fmt.Errorf("%w: %w", ErrReported, err)
		}
		return err
	}
	if err := conn.Send(&syncmsg.Ready{}); err != nil {
		return err
	}
	conn.Close()
	// From here on the parent is gone; failures are reported to `start` through exec.status.
	err = waitAndExec(fifo, path, cfg)
	var hookErr *HookError
	msg, _ := json.Marshal(syncmsg.StartFailure{Hook: errors.As(err, &hookErr), Error: err.Error()})
	if _, werr := status.Write(msg); werr == nil {
		return fmt.Errorf("%w: %w", ErrReported, err)
	}
	return err
}

func initFds(names []string) ([]int, error) {
	fds := make([]int, len(names))
	for i, e := range names {
		fd, err := strconv.Atoi(os.Getenv(e))
		if err != nil {
			return fds, fmt.Errorf("init: bad %s: %w", e, err)
		}
		fds[i] = fd
		unix.CloseOnExec(fd)
	}
	return fds, nil
}

// setupContainer does everything that can fail before the container is "created", so that such
// failures are create's errors. It returns the resolved program path.
func setupContainer(conn *syncmsg.Conn, tasks []*os.File, console *os.File) (string, *syncmsg.InitConfig, error) {
	cfg, err := syncmsg.Expect[*syncmsg.InitConfig](conn)
	if err != nil {
		return "", nil, err
	}
	s := cfg.Spec
	if !cfg.NoNewKeyring {
		if err := setKeyLabel(s.Process.SelinuxLabel); err != nil {
			return "", nil, err
		}
		// A session keyring of its own, so the container cannot read the host's keys.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) {
			return "", nil, fmt.Errorf("join session keyring: %w", err)
		}
	}
	// Everything from here on, hooks included, happens in the container's cgroups, but for the
	// v1 memory hierarchy: the init's memory is the container's only from joinMemory on, after
	// the hooks.
	memory, err := joinCgroups(tasks, cfg)
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if memory != nil {
			memory.Close()
		}
	}()
	r := &rootfs{cfg: cfg}
	if err := r.prepare(); err != nil {
		return "", nil, err
	}
	if err := r.createDevices(); err != nil {
		return "", nil, err
	}
	if needsHookSync(s) {
		if err := conn.Send(&syncmsg.Hooks{}); err != nil {
			return "", nil, err
		}
		if _, err := syncmsg.Expect[*syncmsg.HooksDone](conn); err != nil {
			return "", nil, err
		}
	}
	if s.Hooks != nil {
		// In the container's namespaces the pid is the one seen there, as runc gives it.
		st := hookState(cfg.ID, cfg.Bundle, os.Getpid(), specs.StateCreating, s.Annotations)
		if err := runHooks("createContainer", s.Hooks.CreateContainer, st); err != nil {
			return "", nil, err
		}
	}
	// A missing working directory is made, as runc does, inside the root.
	if cwd, err := r.target(s.Process.Cwd, true); err != nil {
		return "", nil, fmt.Errorf("process.cwd %s: %w", s.Process.Cwd, err)
	} else {
		cwd.Close()
	}
	if err := r.pivot(); err != nil {
		return "", nil, err
	}
	if err := setKernelNames(s); err != nil {
		return "", nil, err
	}
	if newNamespace(s.Linux, specs.NetworkNamespace) {
		if err := loopbackUp(); err != nil {
			return "", nil, err
		}
	}
	if s.Process.Terminal {
		// Before finishRootfs: /dev/console is made and mounted on while / is still writable.
		// Without a mount namespace of its own, the host's /dev/console is left alone.
		if err := setupConsole(console, s.Process, cfg.MountNS); err != nil {
			return "", nil, err
		}
	}
	if err := finishRootfs(s); err != nil {
		return "", nil, err
	}
	path, err := setupProcess(s.Process, cfg.PreserveFds, cfg.Seccomp, conn)
	if err != nil {
		return "", nil, err
	}
	err = joinMemory(memory)
	memory = nil
	if err != nil {
		return "", nil, err
	}
	return path, cfg, nil
}

// joinCgroups moves this thread into the container's v1 cgroups, writing "0" (itself) to each
// `tasks` file the runtime opened (see cgroups.Manager), then makes the new cgroup namespace, if
// the container has one, rooted there. Both apply to this locked thread only: it is the one that
// mounts, forks hooks and execs, and execve(2) keeps its cgroups and namespaces for the whole
// new process. Needs the locked main thread (see init).
//
// The memory hierarchy is left for joinMemory, just before exec (cgroups.Entry says why). With a
// cgroup namespace the thread must be in the container's memory cgroup when it unshares, for the
// namespace to be rooted there; it then steps back to the runtime's memory cgroup. joinCgroups
// returns the memory hierarchy's tasks file, for joinMemory.
func joinCgroups(fds []*os.File, cfg *syncmsg.InitConfig) (memory *os.File, err error) {
	tasks := fds
	if cfg.CgroupMemory {
		n := len(fds)
		memory, tasks = fds[n-2], fds[:n-2]
		home := fds[n-1]
		defer home.Close()
		if cfg.CgroupNS {
			tasks = append(tasks[:len(tasks):len(tasks)], memory)
			defer func() {
				if err == nil {
					err = enterTasks(home, "the runtime's memory cgroup")
				}
			}()
		}
	}
	for i, f := range tasks {
		err := enterTasks(f, fmt.Sprintf("v1 hierarchy %d of %d", i+1, len(tasks)))
		if f != memory {
			f.Close()
		}
		if err != nil {
			return nil, err
		}
	}
	if cfg.CgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return nil, fmt.Errorf("create cgroup namespace: %w", os.NewSyscallError("unshare", err))
		}
	}
	return memory, nil
}

// joinMemory moves this thread, the thread group leader, into the container's memory cgroup; from
// then on the process's memory is charged there (see cgroups.Entry).
func joinMemory(memory *os.File) error {
	if memory == nil {
		return nil
	}
	defer memory.Close()
	return enterTasks(memory, "memory hierarchy")
}

func enterTasks(f *os.File, what string) error {
	if _, err := f.WriteString("0"); err != nil {
		return fmt.Errorf("join cgroup (%s): %w", what, err)
	}
	return nil
}

func setKernelNames(s *specs.Spec) error {
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", s.Hostname, os.NewSyscallError("sethostname", err))
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", s.Domainname, os.NewSyscallError("setdomainname", err))
		}
	}
	if len(s.Linux.Sysctl) == 0 {
		return nil
	}
	// A procfs of our own, checked: the container's /proc is whatever its config mounted, and a
	// mount over /proc/sys/... would take the write elsewhere (CVE-2025-52881). One full handle
	// for all the sysctls (OpenProcRoot's is pid-only and would make one per file), closed
	// before anything of the container runs.
	proc, err := procfs.OpenUnsafeProcRoot()
	if err != nil {
		return fmt.Errorf("linux.sysctl: open procfs: %w", err)
	}
	defer proc.Close()
	for key, val := range s.Linux.Sysctl {
		if err := writeSysctl(proc, key, val); err != nil {
			return fmt.Errorf("linux.sysctl %s=%s: %w", key, val, err)
		}
	}
	return nil
}

func writeSysctl(proc *procfs.Handle, key, val string) error {
	h, err := proc.OpenRoot("sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return err
	}
	defer h.Close()
	return writeProc(h, val)
}

// setupProcess applies process: rlimits, user and groups, capabilities, no_new_privs, umask and
// cwd, finds the program in the container's PATH, and loads the seccomp filter. It needs the
// init's locked main thread: credentials, capabilities, no_new_privs and the filter are per
// thread, and that thread execs.
//
// The filter goes on as late as it can: with no_new_privs, last of all; without, loading one
// needs CAP_SYS_ADMIN, so before the capabilities are dropped. A listener fd (SCMP_ACT_NOTIFY)
// goes to the parent at once, which passes it on to linux.seccomp.listenerPath: until then a
// notified syscall of the init's would wait for an agent that does not have the fd.
func setupProcess(p *specs.Process, preserveFds int, filter *seccomp.Filter, conn *syncmsg.Conn) (string, error) {
	for _, rl := range p.Rlimits {
		lim := unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}
		if err := unix.Prlimit(0, Rlimits[rl.Type], &lim, nil); err != nil {
			return "", fmt.Errorf("process.rlimits %s: %w", rl.Type, os.NewSyscallError("prlimit", err))
		}
	}
	os.Clearenv()
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if _, ok := os.LookupEnv("HOME"); !ok {
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
	path, err := exec.LookPath(p.Args[0])
	if err != nil {
		return "", fmt.Errorf("process.args[0]: %w", err)
	}
	if filter != nil && p.NoNewPrivileges {
		if err := loadSeccomp(filter, conn); err != nil {
			return "", err
		}
	}
	return path, nil
}

// loadSeccomp loads the filter on this thread and hands its listener fd, if any, to the parent:
// by number, for the parent to copy (see syncmsg.SeccompFd), keeping it open until then.
func loadSeccomp(filter *seccomp.Filter, conn *syncmsg.Conn) error {
	fd, err := seccomp.Load(filter)
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if fd < 0 {
		return nil
	}
	defer unix.Close(fd)
	if err := conn.Send(syncmsg.NewSeccompFd(fd)); err != nil {
		return err
	}
	_, err = syncmsg.Expect[*syncmsg.SeccompFdDone](conn)
	return err
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

// waitAndExec blocks until `start` writes to the exec fifo, runs startContainer hooks and execs
// the container's process. It returns only with an error.
func waitAndExec(fifo *os.File, path string, cfg *syncmsg.InitConfig) error {
	buf := make([]byte, 1)
	if _, err := fifo.Read(buf); err != nil {
		return fmt.Errorf("wait for start: %w", err)
	}
	s := cfg.Spec
	if s.Hooks != nil && len(s.Hooks.StartContainer) > 0 {
		st := hookState(cfg.ID, cfg.Bundle, os.Getpid(), specs.StateCreated, s.Annotations)
		if err := runHooks("startContainer", s.Hooks.StartContainer, st); err != nil {
			return err
		}
	}
	err := unix.Exec(path, s.Process.Args, os.Environ())
	return fmt.Errorf("exec %s: %w", path, os.NewSyscallError("execve", err))
}

// homeOf is HOME for a process that has none in process.env: the user's home in the container's
// /etc/passwd, or /.
func homeOf(uid int) string {
	users, err := user.ParsePasswdFileFilter("/etc/passwd", func(u user.User) bool { return u.Uid == uid })
	if err != nil || len(users) == 0 || users[0].Home == "" {
		return "/"
	}
	return users[0].Home
}

// loopbackUp brings up lo in a new network namespace, where the kernel makes it down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", os.NewSyscallError("ioctl(SIOCGIFFLAGS)", err))
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", os.NewSyscallError("ioctl(SIOCSIFFLAGS)", err))
	}
	return nil
}

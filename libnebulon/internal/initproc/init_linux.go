// Package initproc runs in a container's init: the process stage0 (internal/nsexec) forks inside
// the container's namespaces, pid 1 of the container. It sets up the container (rootfs, devices,
// console, hostname and sysctls). With a C init (syncmsg.EnvCInit, when the runtime turns it on)
// it is that init's Go helper: it hands the root to the init and exits, and the C init joins the
// cgroups before and applies the process after, as it does an exec'd process's. Otherwise it is
// the init itself: it joins the container's cgroups,
// applies the process's user, capabilities, LSM labels and seccomp filter, waits for start and
// execs the process. It talks to the runtime over the sync socket (syncmsg), and after create to
// `start` through exec.fifo. A process exec'd into a running container is set up by the C stage
// alone (nsexec's execproc_linux.c), in the same order and with the same error words.
package initproc

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/hooks"
	// Stage0, in C, runs as a constructor before the Go runtime (see nsexec_linux.c).
	"github.com/nebulon-dev/nebulon/libnebulon/internal/nsexec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// IsInit reports whether this process was started by the runtime as an init.
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
// exec.fifo for start): the caller need not print it again.
var ErrReported = errors.New("reported to the runtime")

// Init is the body of `nebulon init`: the Go half of a container's init, which stage0 forked
// inside the container's namespaces. It sets up the container and execs its process, or, as the
// Go helper of an init whose C stage stays the init (syncmsg.EnvCInit), makes the root, hands it
// over and exits 0. It returns only on failure, after telling the runtime why. An exec'd
// process's init never gets here: the C stage sets it up and execs it (nsexec's
// execproc_linux.c).
//
// It must run on one locked OS thread for its whole life: credentials, capabilities and
// no_new_privs are per thread, and execve(2) keeps those of the calling thread.
func Init() error {
	runtime.LockOSThread()
	f, err := inheritedFiles()
	if err != nil {
		return err
	}
	slog.SetDefault(slog.New(&syncLogHandler{conn: f.conn, debug: f.debug}))
	slog.Debug("Go runtime up")
	return containerInit(f)
}

// files is what the runtime handed the init, as the environment names it (syncmsg's config.go).
type files struct {
	conn     *syncmsg.Conn
	fifo     *os.File   // exec.fifo
	console  *os.File   // the console socket (process.terminal), or nil
	cgroups  []*os.File // v1 cgroup `tasks` files (syncmsg.InitConfig.CgroupMemory)
	joinLate bool       // ask to be moved into the cgroup v2 cgroup (syncmsg.JoinCgroup)
	// helper is the socket to the init's C stage when this process is its Go helper
	// (syncmsg.EnvCInit), which makes the root only; nil when this process is the init.
	helper *os.File
	debug  bool // send debug records (syncmsg.EnvDebug)
	sayUp  bool // say Up before waiting for the config (syncmsg.EnvSayUp)
}

// inheritedFiles takes the fds the environment names, marks them close-on-exec, and clears the
// environment of the runtime's variables.
func inheritedFiles() (*files, error) {
	f := &files{joinLate: os.Getenv(syncmsg.EnvJoinLate) != "", debug: os.Getenv(syncmsg.EnvDebug) != "",
		sayUp: os.Getenv(syncmsg.EnvSayUp) != ""}
	names := []string{syncmsg.EnvInitPipe, syncmsg.EnvFifoFd}
	if os.Getenv(syncmsg.EnvConsoleFd) != "" {
		names = append(names, syncmsg.EnvConsoleFd)
	}
	names = append(names, syncmsg.EnvCgroupFds)
	fds := make(map[string]int, len(names))
	for _, e := range names {
		n, err := strconv.Atoi(os.Getenv(e))
		if err != nil {
			return nil, fmt.Errorf("init: bad %s: %w", e, err)
		}
		fds[e] = n
	}
	last := 0
	file := func(e, name string) *os.File {
		last = fds[e]
		unix.CloseOnExec(last)
		return os.NewFile(uintptr(last), name)
	}
	f.conn = syncmsg.NewConn(file(syncmsg.EnvInitPipe, "sync"))
	f.fifo = file(syncmsg.EnvFifoFd, syncmsg.ExecFifo)
	if _, ok := fds[syncmsg.EnvConsoleFd]; ok {
		f.console = file(syncmsg.EnvConsoleFd, "console socket")
	}
	if fd := nsexec.HelperFd(); fd >= 0 {
		// The C stage joined the cgroups, and asks for a late join itself: the cgroup fds and
		// the join are its own.
		f.helper = os.NewFile(uintptr(fd), "init's C stage")
		f.joinLate = false
	} else {
		// The cgroup fds are the last ones, after all the others (EnvCgroupFds is their count).
		for i := 0; i < fds[syncmsg.EnvCgroupFds]; i++ {
			fd := last + 1 + i
			unix.CloseOnExec(fd)
			f.cgroups = append(f.cgroups, os.NewFile(uintptr(fd), "cgroup tasks"))
		}
	}
	for _, e := range syncmsg.Env {
		os.Unsetenv(e)
	}
	return f, nil
}

// report tells the runtime why setup failed, as a HookError for a failed hook; the error comes
// back wrapped in ErrReported once the runtime has it.
func report(conn *syncmsg.Conn, err error) error {
	if errors.Is(err, syncmsg.ErrClosed) {
		// The runtime gave up on this process (and said why); nobody is listening.
		return fmt.Errorf("%w: %w", ErrReported, err)
	}
	var msg syncmsg.Message = syncmsg.NewError(err)
	var hookErr *hooks.Error
	if errors.As(err, &hookErr) {
		msg = syncmsg.NewHookError(err)
	}
	if conn.Send(msg) == nil {
		return fmt.Errorf("%w: %w", ErrReported, err)
	}
	return err
}

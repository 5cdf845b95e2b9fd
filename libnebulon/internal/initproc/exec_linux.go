package initproc

import (
	"log/slog"
	"os"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// execInit is the init of a process exec'd into a running container: steps 6 and 7 of syncmsg's
// exec flow. Stage0 joined the container's namespaces; this joins its cgroups, sets the process
// up as a container's init does, and execs. It returns only on failure, after telling the
// runtime why.
func execInit(f *files) error {
	// The runtime tells by this name whether the process died before it exec'd (parent's
	// diedBeforeExec). The init's thread is its main one: the process's name.
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&append([]byte(syncmsg.ExecComm), 0)[0])), 0, 0, 0)
	if f.joinLate {
		if err := f.conn.Send(&syncmsg.JoinCgroup{}); err != nil {
			return err
		}
	}
	path, cfg, err := setupExec(f.conn, f.cgroups, f.console)
	if err != nil {
		return report(f.conn, err)
	}
	slog.Debug("process set up: cgroups, ids, capabilities, seccomp")
	// The sync socket is close-on-exec: its closing tells the runtime the process runs.
	// After the seccomp filter: a filter that kills write ends the process here, unreported.
	if err := f.conn.Send(&syncmsg.Execing{}); err != nil {
		return err
	}
	return report(f.conn, execve(path, cfg.Process.Args, os.Environ()))
}

func setupExec(conn *syncmsg.Conn, tasks []*os.File, console *os.File) (string, *syncmsg.ExecConfig, error) {
	cfg, err := syncmsg.Expect[*syncmsg.ExecConfig](conn)
	if err != nil {
		return "", nil, err
	}
	// The container's cgroup namespace was joined by stage0: nothing to unshare.
	memory, err := joinCgroups(tasks, cfg.CgroupMemory, false)
	if err != nil {
		return "", nil, err
	}
	defer closeMemory(memory)
	if err := applyFinalAffinity(cfg.Process.ExecCPUAffinity); err != nil {
		return "", nil, err
	}
	if cfg.Process.Terminal {
		if err := setupConsole(console, cfg.Process, false); err != nil {
			return "", nil, err
		}
	}
	linux := &specs.Linux{Personality: cfg.Personality, MemoryPolicy: cfg.MemoryPolicy}
	path, err := applyProcess(cfg.Process, linux, cfg.PreserveFds, cfg.Seccomp, conn, memory)
	if err != nil {
		return "", nil, err
	}
	return path, cfg, nil
}

package initproc

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// joinCgroups moves this thread into the container's v1 cgroups, writing "0" (itself) to each
// `tasks` file the runtime opened (see cgroups.Manager), then makes the new cgroup namespace, if
// the container has one, rooted there. Both apply to this locked thread only: it is the one that
// mounts, forks hooks and execs, and execve(2) keeps its cgroups and namespaces for the whole
// new process. Needs the locked main thread (see init).
//
// The memory hierarchy is left for joinMemory, just before exec (cgroups.Entry says why). With a
// cgroup namespace the thread must be in the container's memory cgroup when it unshares, for the
// namespace to be rooted there; it then steps back to the runtime's memory cgroup. joinCgroups
// returns the memory hierarchy's tasks file, for joinMemory. memoryPair says the last two fds are
// the memory hierarchy's and the runtime's own memory cgroup's (syncmsg.InitConfig.CgroupMemory).
func joinCgroups(fds []*os.File, memoryPair, cgroupNS bool) (memory *os.File, err error) {
	tasks := fds
	if memoryPair {
		n := len(fds)
		memory, tasks = fds[n-2], fds[:n-2]
		home := fds[n-1]
		defer home.Close()
		if cgroupNS {
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
	if cgroupNS {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return nil, fmt.Errorf("create cgroup namespace: %w", os.NewSyscallError("unshare", err))
		}
	}
	return memory, nil
}

// joinMemory moves this thread, the thread group leader, into the container's memory cgroup
// (memory is its tasks file, or nil for none); from then on the process's memory is charged there
// (see cgroups.Entry).
func joinMemory(memory *os.File) error {
	if memory == nil {
		return nil
	}
	return enterTasks(memory, "memory hierarchy")
}

// applyProcess applies the process's settings (setupProcess), then, last of all, joins the
// container's memory cgroup (joinMemory), so that the init's own setup is not charged there.
// lateJoin, called before any filter is loaded, moves an init that joins its v2 cgroup late.
// It returns the path of the program to exec.
func applyProcess(p *specs.Process, l *specs.Linux, preserveFds int, filter *seccomp.Filter, conn *syncmsg.Conn, memory *os.File, lateJoin func() error) (string, error) {
	path, err := setupProcess(p, l, preserveFds, filter, conn, lateJoin)
	if err != nil {
		return "", err
	}
	return path, joinMemory(memory)
}

// closeMemory closes the memory tasks file joinCgroups returned, if any.
func closeMemory(memory *os.File) {
	if memory != nil {
		memory.Close()
	}
}

func enterTasks(f *os.File, what string) error {
	if _, err := f.WriteString("0"); err != nil {
		return fmt.Errorf("join cgroup (%s): %w", what, err)
	}
	return nil
}

package parent

import (
	"encoding/json"
	"fmt"
	"net"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// passSeccompFd takes the listener fd that process pid names in m (pidfd_getfd), passes it on
// to linux.seccomp.listenerPath, and tells the process it may close its copy. initPid and status
// are the container's.
func (p *Process) passSeccompFd(conn *syncmsg.Conn, m *syncmsg.SeccompFd, pid, initPid int, status specs.ContainerState) error {
	fd, err := takeFd(pid, m.Fd())
	if err != nil {
		return fmt.Errorf("linux.seccomp: take the listener fd of process %d: %w", pid, err)
	}
	defer fd.Close()
	if err := p.sendSeccompFd(fd, pid, initPid, status); err != nil {
		return err
	}
	return conn.Send(&syncmsg.SeccompFdDone{})
}

// takeFd copies fd number n of process pid into this process.
func takeFd(pid, n int) (*os.File, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_open", err)
	}
	defer unix.Close(pidfd)
	fd, err := unix.PidfdGetfd(pidfd, n, 0)
	if err != nil {
		return nil, os.NewSyscallError("pidfd_getfd", err)
	}
	return os.NewFile(uintptr(fd), "seccomp listener"), nil
}

// sendSeccompFd passes the listener fd of a process's seccomp filter to the agent at
// linux.seccomp.listenerPath, with the state of the container process (config-linux.md,
// "The Container Process State"): one sendmsg of the state JSON, the fd in SCM_RIGHTS.
func (p *Process) sendSeccompFd(fd *os.File, pid, initPid int, status specs.ContainerState) error {
	data, err := p.agentState(pid, initPid, status)
	if err != nil {
		return err
	}
	conn, err := p.dialAgent()
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, _, err := conn.WriteMsgUnix(data, unix.UnixRights(int(fd.Fd())), nil); err != nil {
		return linuxspec.Errorf("linux.seccomp.listenerPath", "send the seccomp fd to %s: %v", p.Spec.Linux.Seccomp.ListenerPath, err)
	}
	return nil
}

// seccompAgent connects to the agent for an init that loads its filter at start
// (syncmsg.SeccompAgent): the agent gets the listener fd then, from the init, with status
// created. The caller closes the returned file, the message's connection, once it is sent.
func (p *Process) seccompAgent(pid int) (*syncmsg.SeccompAgent, *os.File, error) {
	data, err := p.agentState(pid, pid, specs.StateCreated)
	if err != nil {
		return nil, nil, err
	}
	conn, err := p.dialAgent()
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	f, err := conn.File() // a dup, blocking, close-on-exec
	if err != nil {
		return nil, nil, linuxspec.Errorf("linux.seccomp.listenerPath", "%v", err)
	}
	return &syncmsg.SeccompAgent{State: data, Conn: int(f.Fd())}, f, nil
}

// agentState is the container process state the agent gets with the listener fd.
func (p *Process) agentState(pid, initPid int, status specs.ContainerState) ([]byte, error) {
	s := p.Spec.Linux.Seccomp
	return json.Marshal(specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: s.ListenerMetadata,
		State: specs.State{
			Version: specs.Version, ID: p.ID, Status: status, Pid: initPid,
			Bundle: p.Bundle, Annotations: p.Spec.Annotations,
		},
	})
}

func (p *Process) dialAgent() (*net.UnixConn, error) {
	path := p.Spec.Linux.Seccomp.ListenerPath
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, linuxspec.Errorf("linux.seccomp.listenerPath", "%v", err)
	}
	return conn, nil
}

package libnebulon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// compileSeccomp compiles linux.seccomp in the runtime, so that the init only loads it; nil
// means no filter. Errors name the field.
func compileSeccomp(s *specs.LinuxSeccomp) (*seccomp.Filter, error) {
	f, err := seccomp.Compile(s)
	var se *seccomp.Error
	if errors.As(err, &se) {
		return nil, fieldErr("linux.seccomp."+se.Field, "%v", se.Err)
	}
	if err != nil {
		return nil, fieldErr("linux.seccomp", "%v", err)
	}
	return f, nil
}

// saveSeccomp keeps the compiled filter in the state directory, for exec (seccompFile).
func (s *store) saveSeccomp(f *seccomp.Filter) error {
	if f == nil {
		return nil
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode seccomp filter: %w", err)
	}
	return writeFileAtomic(s.path(seccompFile), data, 0o600)
}

// execSeccomp is the filter for a process exec'd into c: the one compiled at create, or,
// for a container created without one saved, compiled now.
func (c *Container) execSeccomp(spec *specs.Spec) (*seccomp.Filter, error) {
	if spec.Linux.Seccomp == nil {
		return nil, nil
	}
	data, err := os.ReadFile(c.store.path(seccompFile))
	if errors.Is(err, os.ErrNotExist) {
		return compileSeccomp(spec.Linux.Seccomp)
	}
	if err != nil {
		return nil, err
	}
	f := &seccomp.Filter{}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", c.store.path(seccompFile), err)
	}
	return f, nil
}

// passSeccompFd takes the listener fd the process pid names in payload (pidfd_getfd), passes it
// on to linux.seccomp.listenerPath, and tells the process it may close its copy.
func (p *initProcess) passSeccompFd(conn *syncmsg.Conn, m *syncmsg.SeccompFd, pid int, status specs.ContainerState) error {
	fd, err := takeFd(pid, m.Fd())
	if err != nil {
		return fmt.Errorf("linux.seccomp: take the listener fd of process %d: %w", pid, err)
	}
	defer fd.Close()
	if err := p.sendSeccompFd(fd, pid, status); err != nil {
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
// pid is the process's, status the container's.
func (p *initProcess) sendSeccompFd(fd *os.File, pid int, status specs.ContainerState) error {
	s := p.spec.Linux.Seccomp
	c := p.c
	state := specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: s.ListenerMetadata,
		State: specs.State{
			Version: specs.Version, ID: c.ID, Status: status, Pid: c.state.InitPid,
			Bundle: c.state.Bundle, Annotations: c.state.Annotations,
		},
	}
	data, err := json.Marshal(state)
	if err != nil {
		return err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: s.ListenerPath, Net: "unix"})
	if err != nil {
		return fieldErr("linux.seccomp.listenerPath", "%v", err)
	}
	defer conn.Close()
	if _, _, err := conn.WriteMsgUnix(data, unix.UnixRights(int(fd.Fd())), nil); err != nil {
		return fieldErr("linux.seccomp.listenerPath", "send the seccomp fd to %s: %v", s.ListenerPath, err)
	}
	return nil
}

// seccompFeatures is features.json's linux.seccomp.
func seccompFeatures() (enabled bool, actions, operators, archs, knownFlags, flags []string) {
	enabled, actions, operators, archs, flags = seccomp.Features()
	return enabled, actions, operators, archs, seccomp.KnownFlags(), flags
}

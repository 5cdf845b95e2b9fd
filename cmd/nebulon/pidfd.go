package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// The --pidfd-socket protocol, runc's (create, run and exec): the runtime connects to the
// AF_UNIX stream socket the caller listens on, and sends one message:
//
//	data                 ancillary (SCM_RIGHTS)   when
//	"standard" (create)  a pidfd of the init      once the init exists, before create returns
//	"setns" (exec)       a pidfd of the process   once the process exists, before exec waits
//
// The caller can then wait for the process, or signal it, without racing pid reuse. The socket
// is dialled before the process is started, so a bad path fails before anything is made.
const (
	pidfdNameInit = "standard"
	pidfdNameExec = "setns"
)

// dialPidfdSocket connects to --pidfd-socket; an empty path is no socket (nil, nil).
func dialPidfdSocket(path string) (*net.UnixConn, error) {
	if path == "" {
		return nil, nil
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("--pidfd-socket %s: %w", path, err)
	}
	return conn, nil
}

// sendPidfd sends pidfd over conn with name as the message, and closes conn.
func sendPidfd(conn *net.UnixConn, name string, pidfd *os.File) error {
	defer conn.Close()
	_, _, err := conn.WriteMsgUnix([]byte(name), unix.UnixRights(int(pidfd.Fd())), nil)
	if err != nil {
		return fmt.Errorf("--pidfd-socket: send the pidfd: %w", err)
	}
	return nil
}

// sendPidfdOf opens a pidfd of pid, a process this runtime just started and has not reaped
// (exec: its child after stage0 exits, or the process is still the container's), and sends it.
func sendPidfdOf(conn *net.UnixConn, name string, pid int) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		conn.Close()
		return fmt.Errorf("--pidfd-socket: pidfd_open %d: %w", pid, err)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	return sendPidfd(conn, name, f)
}

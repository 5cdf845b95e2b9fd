package libnebulon

import (
	"errors"
	"fmt"
	"net"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
)

// A process with process.terminal gets a pty from the container's own devpts. Its init sends the
// master over a console socket with SCM_RIGHTS (runc's protocol, which containerd, CRI-O and
// conmon receive): one sendmsg whose data is a name and whose one fd is the master. The socket
// is the caller's --console-socket, or one end of a socket pair whose other end the runtime
// keeps to relay the terminal itself (run and exec in the foreground). The init's side is
// initproc's setupConsole.

// terminal is the runtime's side of a process's terminal (terminalSocket): sock goes to the
// init, keep receives the master when the runtime relays the terminal. The zero value is a
// process without a terminal.
type terminal struct{ sock, keep *os.File }

// openTerminal checks the rules for a process's terminal and opens its sockets.
func openTerminal(p *specs.Process, foreground bool, path string) (*terminal, error) {
	sock, keep, err := terminalSocket(p.Terminal, foreground, path)
	if err != nil {
		return nil, err
	}
	return &terminal{sock: sock, keep: keep}, nil
}

// master receives the pty master the init sent, when the runtime relays the terminal; nil
// otherwise. The init sent it before it reported ready (or exec'd) and has closed its end, so
// this does not wait.
func (t *terminal) master() (*os.File, error) {
	if t.keep == nil {
		return nil, nil
	}
	return RecvConsole(t.keep)
}

// Close closes the runtime's ends; the init has its own copy of sock.
func (t *terminal) Close() {
	for _, f := range []*os.File{t.sock, t.keep} {
		if f != nil {
			f.Close()
		}
	}
}

// terminalSocket checks runc's rules for a process's terminal and returns the socket its init
// sends the pty master to: the unix socket at path, connected, or for a foreground process one
// end of a socket pair whose other end, keep, the caller receives the master from (RecvConsole).
// Both are nil without a terminal.
func terminalSocket(terminal, foreground bool, path string) (sock, keep *os.File, err error) {
	switch {
	case terminal && !foreground && path == "":
		return nil, nil, linuxspec.Errorf("process.terminal", "true, but the process is detached and there is no --console-socket to send its terminal to")
	case path != "" && foreground:
		return nil, nil, errors.New("--console-socket: only a detached process sends its terminal to a console socket; in the foreground nebulon relays it")
	case path != "" && !terminal:
		return nil, nil, fmt.Errorf("--console-socket %s: the process has no terminal (process.terminal is false)", path)
	case !terminal:
		return nil, nil, nil
	case path != "":
		conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return nil, nil, fmt.Errorf("--console-socket: %w", err)
		}
		defer conn.Close()
		f, err := conn.File() // a dup, blocking: what the init inherits
		if err != nil {
			return nil, nil, fmt.Errorf("--console-socket %s: %w", path, err)
		}
		return f, nil, nil
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	return os.NewFile(uintptr(fds[1]), "console-init"), os.NewFile(uintptr(fds[0]), "console"), nil
}

// RecvConsole receives a pty master sent on sock (the protocol above). It fails, rather than
// waits, if the sender closed its end without sending.
func RecvConsole(sock *os.File) (*os.File, error) {
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), name, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receive the terminal: %w", os.NewSyscallError("recvmsg", err))
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("receive the terminal: got no pty master (%d bytes, %d control messages)", n, len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive the terminal: want one fd, got %d", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), string(name[:n])), nil
}

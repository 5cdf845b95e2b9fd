package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/tests/internal/scm"
)

// The console socket protocol (runc's --console-socket, as engines drive it):
//
//	step  side     what
//	1     recvtty  listen on SOCKET (AF_UNIX, SOCK_STREAM); create --ready-file
//	2     runtime  connect; allocate a pty inside the container
//	3     runtime  one sendmsg: data = the pty's name ("/dev/pts/0", "/dev/ptmx"; at most
//	               maxNameLen bytes), SCM_RIGHTS = exactly one fd, the pty master
//	4     runtime  close the connection; the container's process keeps the slave
//	5     recvtty  relay master -> stdout and stdin -> master until the master reads EOF or EIO,
//	               which it does once the last slave fd is closed (pty(7))
const (
	maxNameLen = 4096 // containerd's console.RecvFd reads the name into a buffer this size
	// maxFds leaves room in the control buffer to see, and refuse, a message carrying several
	// fds; a buffer for one would have the kernel drop the rest and set MSG_CTRUNC.
	maxFds = 8
)

// run serves one console: it receives the pty master on opts.socket and relays it until the
// container's side closes. A nil stdin relays output only.
func run(ctx context.Context, opts options, stdin io.Reader, stdout io.Writer) error {
	fd, name, err := receiveConsole(ctx, opts)
	if err != nil {
		return err
	}
	master, err := openMaster(fd, name, opts)
	if err != nil {
		return err
	}
	defer master.Close()
	return relay(ctx, master, stdin, stdout)
}

// receiveConsole listens on opts.socket, accepts one connection and receives the pty master
// from it. The socket file is gone when it returns.
func receiveConsole(ctx context.Context, opts options) (fd int, name string, retErr error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: opts.socket, Net: "unix"})
	if err != nil {
		return -1, "", err // *net.OpError: "listen unix PATH: bind: ..."
	}
	defer l.Close() // unlinks opts.socket
	if opts.readyFile != "" {
		if err := os.WriteFile(opts.readyFile, nil, 0o644); err != nil {
			return -1, "", fmt.Errorf("create ready file: %w", err)
		}
	}
	var deadline time.Time
	if opts.timeout > 0 {
		deadline = time.Now().Add(opts.timeout)
	}
	if err := l.SetDeadline(deadline); err != nil {
		return -1, "", fmt.Errorf("set deadline on %s: %w", opts.socket, err)
	}
	defer context.AfterFunc(ctx, func() { l.Close() })()

	conn, err := l.AcceptUnix()
	if err != nil {
		return -1, "", waitError(ctx, opts, err)
	}
	defer conn.Close()
	l.Close() // one console per run; a second runtime gets ECONNREFUSED, not a silent wait
	if err := conn.SetReadDeadline(deadline); err != nil {
		return -1, "", fmt.Errorf("set deadline on %s: %w", opts.socket, err)
	}
	defer context.AfterFunc(ctx, func() { conn.Close() })()

	fd, name, err = recvConsole(conn)
	if err != nil {
		return -1, "", waitError(ctx, opts, err)
	}
	return fd, name, nil
}

// waitError says why waiting for the console ended: a signal, the timeout, or err itself.
func waitError(ctx context.Context, opts options, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("wait for a console on %s: %w", opts.socket, context.Cause(ctx))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("no console on %s within %v", opts.socket, opts.timeout)
	}
	return err
}

// recvConsole reads the one message of step 3 and returns the pty master it carries and the
// name sent with it. It refuses a message with no fd, several fds, or an fd that is not a tty,
// closing whatever fds came.
func recvConsole(conn *net.UnixConn) (fd int, name string, retErr error) {
	data := make([]byte, maxNameLen)
	oob := make([]byte, unix.CmsgSpace(maxFds*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(data, oob) // sets MSG_CMSG_CLOEXEC on Linux
	if err != nil {
		return -1, "", fmt.Errorf("receive console message: %w", err)
	}
	if n == 0 && oobn == 0 {
		return -1, "", errors.New("receive console message: connection closed before a message came")
	}
	name = string(data[:n])
	fds, err := scm.UnixRights(oob[:oobn])
	defer func() {
		if retErr != nil {
			scm.CloseFds(fds)
		}
	}()
	switch {
	case err != nil:
		return -1, "", fmt.Errorf("console message %q: %w", name, err)
	case flags&unix.MSG_CTRUNC != 0:
		return -1, "", fmt.Errorf("console message %q: control data truncated: want exactly one fd, the pty master", name)
	case len(fds) == 0:
		return -1, "", fmt.Errorf("console message %q carries no fd: want the pty master in SCM_RIGHTS", name)
	case len(fds) > 1:
		return -1, "", fmt.Errorf("console message %q carries %d fds: want exactly one, the pty master", name, len(fds))
	}
	if _, err := unix.IoctlGetTermios(fds[0], unix.TCGETS); err != nil {
		return -1, "", fmt.Errorf("console message %q: received fd is not a tty: %w", name, os.NewSyscallError("ioctl TCGETS", err))
	}
	return fds[0], name, nil
}

// openMaster applies --winsize and --name-file to the received master and wraps it in a
// non-blocking *os.File, so that the runtime's poller can wake a blocked read when it is
// closed (a blocking fd would keep its reader thread until the pty produced data).
func openMaster(fd int, name string, opts options) (_ *os.File, retErr error) {
	defer func() {
		if retErr != nil {
			unix.Close(fd)
		}
	}()
	if opts.rows != 0 {
		ws := &unix.Winsize{Row: opts.rows, Col: opts.cols}
		if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
			return nil, fmt.Errorf("set window size of %s: %w", name, os.NewSyscallError("ioctl TIOCSWINSZ", err))
		}
	}
	if opts.nameFile != "" {
		if err := os.WriteFile(opts.nameFile, []byte(name), 0o644); err != nil {
			return nil, fmt.Errorf("write name file: %w", err)
		}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("set %s non-blocking: %w", name, os.NewSyscallError("fcntl", err))
	}
	return os.NewFile(uintptr(fd), name), nil
}

// relay copies master -> stdout until the master reads EOF or EIO (step 5), and stdin -> master
// meanwhile, until stdin's EOF. Output keeps flowing after stdin ends: the container may still
// be writing. The stdin copy is not waited for: it may be blocked reading a terminal.
func relay(ctx context.Context, master *os.File, stdin io.Reader, stdout io.Writer) error {
	if stdin != nil {
		go func() { _, _ = io.Copy(master, stdin) }() // fails only once the master is closed
	}
	stop := context.AfterFunc(ctx, func() { master.Close() })
	defer stop()
	_, err := io.Copy(stdout, master)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("relay %s: %w", master.Name(), context.Cause(ctx))
	case err == nil, errors.Is(err, unix.EIO):
		return nil
	}
	return fmt.Errorf("relay %s: %w", master.Name(), err)
}

package libnebulon

import (
	"errors"
	"fmt"
	"net"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A process with process.terminal gets a pty from the container's own devpts. Its init sends the
// master over a console socket with SCM_RIGHTS (runc's protocol, which containerd, CRI-O and
// conmon receive): one sendmsg whose data is a name and whose one fd is the master. The socket
// is the caller's --console-socket, or one end of a socket pair whose other end the runtime
// keeps to relay the terminal itself (run and exec in the foreground).

// consoleName is the name sent with the master, as runc sends it: the path the master was
// opened at.
const consoleName = "/dev/ptmx"

// terminalSocket checks runc's rules for a process's terminal and returns the socket its init
// sends the pty master to: the unix socket at path, connected, or for a foreground process one
// end of a socket pair whose other end, keep, the caller receives the master from (RecvConsole).
// Both are nil without a terminal.
func terminalSocket(terminal, foreground bool, path string) (sock, keep *os.File, err error) {
	switch {
	case terminal && !foreground && path == "":
		return nil, nil, fieldErr("process.terminal", "true, but the process is detached and there is no --console-socket to send its terminal to")
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

// setupConsole, in the init after pivot_root (or in an exec'd process's init), gives the process
// its terminal: a new pty in the container's devpts, sized to process.consoleSize, whose slave
// becomes the controlling terminal and fds 0-2, owned by the process's user as a login's tty is.
// With onConsole, the slave is also bind-mounted on /dev/console. The master goes to sock, which
// is closed.
func setupConsole(sock *os.File, p *specs.Process, onConsole bool) error {
	defer sock.Close()
	master, slave, err := openPty()
	if err != nil {
		return fmt.Errorf("process.terminal: %w", err)
	}
	defer master.Close()
	defer slave.Close()
	if sz := p.ConsoleSize; sz != nil {
		ws := &unix.Winsize{Row: uint16(sz.Height), Col: uint16(sz.Width)}
		if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize: %w", os.NewSyscallError("ioctl(TIOCSWINSZ)", err))
		}
	}
	if err := unix.Fchown(int(slave.Fd()), int(p.User.UID), -1); err != nil {
		return fmt.Errorf("process.terminal: chown %s to uid %d: %w", slave.Name(), p.User.UID, err)
	}
	if onConsole {
		if err := mountConsole(slave); err != nil {
			return fmt.Errorf("process.terminal: %w", err)
		}
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(int(sock.Fd()), []byte(consoleName), rights, nil, 0); err != nil {
		return fmt.Errorf("send the terminal to the console socket: %w", os.NewSyscallError("sendmsg", err))
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("process.terminal: %w", os.NewSyscallError("dup3", err))
		}
	}
	// The init leads a session of its own (nsexec); this pty becomes the session's terminal.
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("process.terminal: %w", os.NewSyscallError("ioctl(TIOCSCTTY)", err))
	}
	return nil
}

// openPty opens a new pty at /dev/ptmx, which in a container points into its own devpts. The
// slave is opened through the master (TIOCGPTPEER), never by its path: a path under /dev/pts
// is the container's to replace between the two opens.
func openPty() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: "/dev/ptmx", Err: err}
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", os.NewSyscallError("ioctl(TIOCSPTLCK)", err))
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pty number: %w", os.NewSyscallError("ioctl(TIOCGPTN)", err))
	}
	sfd, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		master.Close()
		return nil, nil, fmt.Errorf("open pty slave: %w", os.NewSyscallError("ioctl(TIOCGPTPEER)", errno))
	}
	return master, os.NewFile(sfd, fmt.Sprintf("/dev/pts/%d", n)), nil
}

// mountConsole bind-mounts the pty slave on /dev/console, made if missing. The target is opened
// without following a symlink and the mount is made on that fd, so the container's /dev cannot
// redirect it.
func mountConsole(slave *os.File) error {
	const target = "/dev/console"
	// O_PATH: a device node there (a rootfs's own /dev/console) is not opened, only named.
	f, err := os.OpenFile(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		var made *os.File
		if made, err = os.OpenFile(target, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o666); err == nil {
			made.Close()
			f, err = os.OpenFile(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: target, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%s in the container is a symlink or a directory, not a file to mount the terminal on", target)
	}
	tree, err := unix.OpenTree(int(slave.Fd()), "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("bind %s on %s: %w", slave.Name(), target, os.NewSyscallError("open_tree", err))
	}
	defer unix.Close(tree)
	if err := attachMount(tree, f); err != nil {
		return fmt.Errorf("bind %s on %s: %w", slave.Name(), target, err)
	}
	return nil
}

package initproc

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/rootfs"
)

// consoleName is the name sent with the master, as runc sends it: the path the master was
// opened at.
const consoleName = "/dev/ptmx"

// setupConsole, in the init after pivot_root (nsexec's setup_console does the same for an
// exec'd process), gives the process its terminal: a new pty in the container's devpts, sized to
// process.consoleSize, whose slave becomes the controlling terminal and fds 0-2 (own), owned by
// the process's user as a login's tty is. With onConsole, the slave is also bind-mounted on
// /dev/console. The master goes to sock, which is closed. Without own, the slave is returned
// instead, for the init's C stage to make its terminal (this process is its helper).
func setupConsole(sock *os.File, p *specs.Process, onConsole, own bool) (*os.File, error) {
	defer sock.Close()
	master, slave, err := openPty()
	if err != nil {
		return nil, fmt.Errorf("process.terminal: %w", err)
	}
	defer master.Close()
	if err := giveConsole(sock, master, slave, p, onConsole); err != nil {
		slave.Close()
		return nil, err
	}
	if !own {
		return slave, nil
	}
	defer slave.Close()
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return nil, fmt.Errorf("process.terminal: %w", os.NewSyscallError("dup3", err))
		}
	}
	// The init leads a session of its own (nsexec); this pty becomes the session's terminal.
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		return nil, fmt.Errorf("process.terminal: %w", os.NewSyscallError("ioctl(TIOCSCTTY)", err))
	}
	return nil, nil
}

// giveConsole sizes the pty, gives its slave to the process's user, mounts it on /dev/console
// (onConsole) and sends the master to the console socket.
func giveConsole(sock, master, slave *os.File, p *specs.Process, onConsole bool) error {
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
		if err := rootfs.MountConsole(slave); err != nil {
			return fmt.Errorf("process.terminal: %w", err)
		}
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(int(sock.Fd()), []byte(consoleName), rights, nil, 0); err != nil {
		return fmt.Errorf("send the terminal to the console socket: %w", os.NewSyscallError("sendmsg", err))
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

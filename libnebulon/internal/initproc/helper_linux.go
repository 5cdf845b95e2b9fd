package initproc

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/nsexec"
)

// handRoot ends the helper's part (syncmsg.EnvCInit): it sends the init's C stage the root it
// made, open, and the terminal's slave if there is one, for the C stage to chroot into and take as
// its terminal. The root moved under the C stage too when pivot_root replaced the namespace's
// (pivot_root(2)), but not when it was made with chroot (--no-pivot, or no mount namespace): an
// fd names it either way.
func handRoot(sock, slave *os.File) error {
	root, err := os.OpenFile("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("hand the root to the init: %w", err)
	}
	defer root.Close()
	fds := []int{int(root.Fd())}
	if slave != nil {
		defer slave.Close()
		fds = append(fds, int(slave.Fd()))
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte("root"), unix.UnixRights(fds...), nil, 0); err != nil {
		return fmt.Errorf("hand the root to the init: %w", os.NewSyscallError("sendmsg", err))
	}
	return nil
}

// initPid is the container's init's pid, as this process sees it: its own, or its parent's when
// it is the init's Go helper.
func initPid() int {
	if nsexec.HelperFd() >= 0 {
		return os.Getppid()
	}
	return os.Getpid()
}

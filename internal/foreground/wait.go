package foreground

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// ForwardAndWait relays signals to the container's init until it exits, reaping every child that
// is reparented to us meanwhile, and returns the init's exit code (128+N for signal N).
// SIGWINCH resizes the terminal the runtime relays, if any.
func ForwardAndWait(pid int, sigs chan os.Signal, tty *Relay) int {
	for sig := range sigs {
		s, ok := sig.(unix.Signal)
		if !ok {
			continue
		}
		if s != unix.SIGCHLD {
			if s == unix.SIGURG {
				continue // the Go runtime's preemption signal
			}
			if s == unix.SIGWINCH {
				tty.Resize()
				continue
			}
			unix.Kill(pid, s)
			continue
		}
		for {
			var ws unix.WaitStatus
			reaped, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if reaped <= 0 || errors.Is(err, unix.ECHILD) {
				break
			}
			if reaped != pid {
				continue
			}
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		}
	}
	return 1
}

// Wait reaps every child until pid exits, and returns its status (128+N for signal N). The
// caller is a subreaper that forwards no signals (nb's monitor).
func Wait(pid int) int {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 255
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

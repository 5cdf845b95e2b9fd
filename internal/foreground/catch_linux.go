package foreground

/*
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int catch_fd = -1;

// catch_handler writes the signal's number into the pipe the runtime reads. A full pipe (64 KiB
// of signals nobody read) drops it, as os/signal drops one its channel has no room for.
static void catch_handler(int sig)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	ssize_t n = write(catch_fd, &b, 1);
	(void)n;
	errno = saved;
}

// catch_signals installs catch_handler for every signal but SIGKILL and SIGSTOP, glibc's own
// (32 up to SIGRTMIN) and those the Go runtime must keep: its preemption and profiling signals,
// the faults it turns into panics, and SIGPIPE, which it raises itself on a closed stdout. It
// returns 0, or the errno of the sigaction that failed.
static int catch_signals(int fd)
{
	struct sigaction sa;
	int sig;

	catch_fd = fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = catch_handler;
	// SA_ONSTACK: a signal may land on a goroutine's small stack (os/signal, "Go programs
	// that use cgo").
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		switch (sig) {
		case SIGKILL: case SIGSTOP: case SIGURG: case SIGPROF:
		case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS:
		case SIGPIPE:
			continue;
		}
		if (sig > SIGSYS && sig < SIGRTMIN)
			continue;
		if (sigaction(sig, &sa, NULL) < 0)
			return errno;
	}
	return 0;
}
*/
import "C"

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// goSignals are the signals Catch leaves to the Go runtime and takes through os/signal.
var goSignals = []os.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGPIPE}

// Catch catches every signal a foreground runtime forwards and returns the channel they arrive
// on, as signal.Notify(c) with no signals would, but for SIGURG and SIGPROF, which stay the Go
// runtime's. Call it once, before the process it forwards to exists, so that no signal is lost
// to its default action.
//
// signal.Notify enables one signal at a time, each a round trip with the runtime's signal-mask
// goroutine, which is locked to a thread of its own: for every signal it took two thread
// hand-offs, about 130 context switches and 1.6 to 2 ms on this project's 2-CPU VM, on the
// path of every foreground run and exec. Here one C function installs a handler that writes the
// signal's number into a pipe; only the faults and SIGPIPE, which the Go runtime must keep
// handling itself, go through os/signal.
func Catch() (chan os.Signal, error) {
	sigs := make(chan os.Signal, 64)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	r := os.NewFile(uintptr(p[0]), "signal pipe")
	if errno := C.catch_signals(C.int(p[1])); errno != 0 {
		r.Close()
		unix.Close(p[1])
		return nil, fmt.Errorf("catch signals: %w", os.NewSyscallError("sigaction", syscall.Errno(errno)))
	}
	signal.Notify(sigs, goSignals...)
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := r.Read(buf)
			for _, b := range buf[:n] {
				sigs <- unix.Signal(b)
			}
			if err != nil {
				return
			}
		}
	}()
	return sigs, nil
}

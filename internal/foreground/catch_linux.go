package foreground

/*
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int catch_fd = -1;
static sigset_t caught;

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
// returns 0, 1 when one of those signals is blocked in this thread's mask (the process
// inherited it blocked: catch_unblock must run on a thread of its own), or -errno of the
// sigaction that failed, the handlers installed before it restored.
static int catch_signals(int fd)
{
	static struct sigaction old[NSIG];
	struct sigaction sa;
	sigset_t mask;
	int sig, blocked = 0;

	catch_fd = fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = catch_handler;
	// SA_ONSTACK: a signal may land on a goroutine's small stack (os/signal, "Go programs
	// that use cgo").
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	sigfillset(&sa.sa_mask);
	sigemptyset(&caught);
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	for (sig = 1; sig < NSIG; sig++) {
		switch (sig) {
		case SIGKILL: case SIGSTOP: case SIGURG: case SIGPROF:
		case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS:
		case SIGPIPE:
			continue;
		}
		if (sig > SIGSYS && sig < SIGRTMIN)
			continue;
		if (sigaction(sig, &sa, &old[sig]) < 0) {
			int err = errno;
			while (--sig > 0)
				if (sigismember(&caught, sig))
					sigaction(sig, &old[sig], NULL);
			return -err;
		}
		sigaddset(&caught, sig);
		if (sigismember(&mask, sig))
			blocked = 1;
	}
	return blocked;
}

// catch_unblock unblocks the caught signals in the calling thread, which then takes them all.
static void catch_unblock(void)
{
	pthread_sigmask(SIG_UNBLOCK, &caught, NULL);
}
*/
import "C"

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// goSignals are the signals Catch leaves to the Go runtime and takes through os/signal.
var goSignals = []os.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGPIPE}

// Catch catches every signal a foreground runtime forwards and returns the channel they arrive
// on, as signal.Notify(c) with no signals would, but for SIGURG and SIGPROF, which stay the Go
// runtime's; glibc's first real-time signal (34) and SIGSTKFLT, which os/signal left to their
// default action and to a crash, are forwarded too. Call it once, before the process it
// forwards to exists, so that no signal is lost to its default action.
//
// signal.Notify enables one signal at a time, each a round trip with the runtime's signal-mask
// goroutine, which is locked to a thread of its own: for every signal it took two thread
// hand-offs, about 130 context switches and 1.6 to 2 ms on this project's 2-CPU VM, on the
// path of every foreground run and exec. Here one C function installs a handler that writes the
// signal's number into a pipe; only the faults and SIGPIPE, which the Go runtime must keep
// handling itself, go through os/signal. Signals the caller left blocked (a supervisor that
// takes its own through signalfd) are unblocked, as os/signal's goroutine does, on the thread
// of the goroutine that reads the pipe; the process's children get the mask it started with.
func Catch() (chan os.Signal, error) {
	sigs := make(chan os.Signal, 64)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	r := os.NewFile(uintptr(p[0]), "signal pipe")
	ret := C.catch_signals(C.int(p[1]))
	if ret < 0 {
		r.Close()
		unix.Close(p[1])
		return nil, fmt.Errorf("catch signals: %w", os.NewSyscallError("sigaction", syscall.Errno(-ret)))
	}
	signal.Notify(sigs, goSignals...)
	unblock := ret == 1
	go func() {
		if unblock {
			runtime.LockOSThread() // for good: the thread keeps the signals unblocked
			C.catch_unblock()
		}
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

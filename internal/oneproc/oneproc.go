// Package oneproc runs the process on one P unless GOMAXPROCS says otherwise; importing it is
// all it takes.
//
// A nebulon command, and the init's Go helper, is one sequence of syscalls and waits with
// nothing to run in parallel. With a P per CPU the Go scheduler wakes spinning threads on the
// idle ones at every goroutine wake-up: measured on a 2-CPU VM, an exec cost 2.8 ms more CPU
// and 1.5 ms more time that way (docs/bench). It is done in a package initializer, not in main:
// the packages initialized before main (encoding/json, urfave/cli, the spec's) already ran on
// two Ps, started a thread for the second and filled its caches, which a late GOMAXPROCS(1)
// then tears down, and the Go helper of a C init never reached main's call; here only the
// runtime's and syscall's initializers come first. Early against in main (perf stat, 4
// interleaved rounds, the same VM, 2026-12-07): per exec about 90 fewer page faults (515
// against 607) and 8% less CPU; per run, whose init's Go helper now runs on one P too, 175
// fewer (975 against 1150) and 10% less CPU.
package oneproc

import (
	"runtime"
	"syscall"
)

func init() {
	if _, set := syscall.Getenv("GOMAXPROCS"); !set {
		runtime.GOMAXPROCS(1)
	}
}

package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// socketActivation reports the fds systemd's socket activation passed this process (sd_listen_fds(3):
// LISTEN_FDS fds from 3 on, when LISTEN_PID is our pid), and the environment that hands them on
// to the container's process, as runc does: they come first among the fds passed from 3 on, before
// --preserve-fds, and the process is told it is their listener as pid 1. The variables are
// removed from our own environment, so they reach no other process.
func socketActivation() (n int, env []string) {
	pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	n, err := strconv.Atoi(fds)
	if err != nil || n <= 0 || pid != strconv.Itoa(os.Getpid()) {
		return 0, nil
	}
	return n, []string{"LISTEN_FDS=" + fds, "LISTEN_PID=1"}
}

// inheritedFds records which fds from 3 on this process was started with, before it opens any
// of its own: --preserve-fds must pass the caller's fds, never one the runtime reused the
// number of (a cgroup or state file of the host's, CVE-2024-21626).
var inheritedFds map[int]bool

// recordInheritedFds fills inheritedFds; it must run first thing in main.
func recordInheritedFds() {
	inheritedFds = map[int]bool{}
	for fd := 3; fd < 1024; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			if fd > 64 {
				break // past the usual range, stop at the first gap
			}
			continue
		}
		inheritedFds[fd] = true
	}
}

// checkPreservedFds checks that fds 3 .. 3+n-1 were open when this process started.
func checkPreservedFds(n int) error {
	if n < 0 {
		return fmt.Errorf("--preserve-fds %d: must not be negative", n)
	}
	for fd := 3; fd < 3+n; fd++ {
		if !inheritedFds[fd] {
			return fmt.Errorf("--preserve-fds: fd %d was not open when nebulon started", fd)
		}
	}
	return nil
}

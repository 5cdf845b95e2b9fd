package initproc

import "golang.org/x/sys/unix"

// setresuid, setresgid and setgroups change the calling thread's credentials only, like capset.
// That is what the init needs: the thread that execs is the one whose credentials the new
// program keeps. Go's own (syscall, and x/sys/unix, which calls it) change every thread of the
// runtime, by signalling each to make the call itself: three rounds of signals on every start
// and every exec, for threads execve is about to end.
func setresuid(uid int) error {
	if _, _, e := unix.RawSyscall(sysSetresuid, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return e
	}
	return nil
}

func setresgid(gid int) error {
	if _, _, e := unix.RawSyscall(sysSetresgid, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return e
	}
	return nil
}

// setgroups: x/sys/unix's Setgroups is already a plain, per-thread call.
func setgroups(gids []int) error { return unix.Setgroups(gids) }

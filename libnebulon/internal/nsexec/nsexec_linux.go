// Package nsexec is stage0: the C stage of `nebulon init`, which joins and creates namespaces
// before the Go runtime starts threads, forks the init and exits. Importing it (for its side
// effect) is enough: its constructor returns at once unless the process was started as an init
// by the runtime (_NEBULON_INITPIPE is set). It speaks steps 1 to 5 of syncmsg's protocol, with
// the numbers syncmsg generates into syncmsg.h; its bootstrap parser is tested from Go through
// parse_linux.go.
package nsexec

/*
#cgo CFLAGS: -Wall -O2
extern void nsexec(int argc, char **argv);
extern int nb_helper_fd;
#include <stdlib.h>
extern int nb_readonly_exe(const char *path, int *err, const char **step, int *sig);
// glibc passes main's arguments to constructors.
void __attribute__((constructor)) init(int argc, char **argv, char **envp) {
	nsexec(argc, argv);
}
*/
import "C"

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// HelperFd is the socket on which this process, the Go helper of a container's init whose C stage
// stays the init (syncmsg.EnvCInit), hands it the root it made; -1 in any other process.
func HelperFd() int { return int(C.nb_helper_fd) }

// ReadonlyExe returns a detached read-only bind mount of the file at path, made by a child cloned
// into a user and mount namespace of its own (roexe_linux.c): what an unprivileged runtime needs
// to exec a binary its container could write (CVE-2019-5736).
func ReadonlyExe(path string) (*os.File, error) {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var cerr, sig C.int
	var step *C.char
	fd := C.nb_readonly_exe(cpath, &cerr, &step, &sig)
	switch {
	case fd >= 0:
	case sig != 0:
		return nil, fmt.Errorf("read-only mount of %s: the child cloned to make it was killed by signal %d (%s) in %s", path, sig, syscall.Signal(sig), C.GoString(step))
	case syscall.Errno(cerr) == syscall.ENOSPC && C.GoString(step) == "clone":
		return nil, fmt.Errorf("read-only mount of %s: clone of a user namespace: %w (this user's or the host's user namespace limit is reached: /proc/sys/user/max_user_namespaces)", path, syscall.Errno(cerr))
	case syscall.Errno(cerr) == syscall.ETIMEDOUT:
		return nil, fmt.Errorf("read-only mount of %s: %s did not end within 10s (a hung filesystem?)", path, C.GoString(step))
	default:
		return nil, fmt.Errorf("read-only mount of %s: %s: %w", path, C.GoString(step), syscall.Errno(cerr))
	}
	return os.NewFile(uintptr(fd), path+" (read-only)"), nil
}

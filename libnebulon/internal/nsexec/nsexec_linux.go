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
// glibc passes main's arguments to constructors.
void __attribute__((constructor)) init(int argc, char **argv, char **envp) {
	nsexec(argc, argv);
}
*/
import "C"

// HelperFd is the socket on which this process, the Go helper of a container's init whose C stage
// stays the init (syncmsg.EnvCInit), hands it the root it made; -1 in any other process.
func HelperFd() int { return int(C.nb_helper_fd) }

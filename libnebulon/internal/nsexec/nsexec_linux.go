// Package nsexec holds the C stage of `nebulon init` that joins and creates namespaces before the Go
// runtime starts threads. Importing it (for its side effect) is enough: its constructor returns at
// once unless the process was started as an init by the runtime (_NEBULON_INITPIPE is set).
package nsexec

/*
#cgo CFLAGS: -Wall -O2
extern void nsexec(int argc, char **argv);
// glibc passes main's arguments to constructors.
void __attribute__((constructor)) init(int argc, char **argv, char **envp) {
	nsexec(argc, argv);
}
*/
import "C"

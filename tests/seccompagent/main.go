// Command seccompagent is the seccomp agent of the integration tests: it listens on SOCKET, the
// linux.seccomp.listenerPath of a container, for the listener fds the runtime sends, records the
// container process state that comes with each, and answers the syscalls that the filters
// notify (SCMP_ACT_NOTIFY).
//
//	seccompagent [--state-dir DIR] [--ready-file FILE] [--errno NAME=ERRNO]... [--allow NAME]...
//	             SOCKET
//
// For the Nth message it accepts (1, 2, ... in arrival order) it writes DIR/fds-N, the number of
// fds that came with it, then DIR/state-N.json, the state JSON exactly as received; each file
// appears whole. N restarts at 1 and DIR/log is truncated on each run, so DIR is best empty.
//
// Each notified syscall appends "NAME PID" to DIR/log (to stdout without --state-dir) before it
// is answered, so the line is there once the syscall returns. PID is the calling thread's id as
// the agent sees it, which is the process's for a single-threaded one; a syscall libseccomp
// cannot name is logged as "#NR". A syscall named in --errno fails with that errno; one named in
// --allow runs (SECCOMP_USER_NOTIF_FLAG_CONTINUE, Linux 5.5); any other returns 0 without
// running.
//
// It serves each listener until every process using its filter is gone, and runs until SIGTERM
// or SIGINT, then removes SOCKET and exits 0. It exits 1 on a setup error and 2 on bad usage. A
// message it refuses is reported on stderr, and it goes on serving. It names syscalls with
// libseccomp, so it needs a cgo build (CGO_ENABLED=1, libseccomp-dev); without, it exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		os.Exit(2)
	}
	// A signal closes the listener and the listener fds, so the socket file is still removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "seccompagent: %v\n", err)
		os.Exit(1)
	}
}

// options are seccompagent's flags and its SOCKET argument.
type options struct {
	socket    string
	stateDir  string // "": log to stdout, keep no state
	readyFile string
	policy    policy
}

// parseFlags parses the command line; usage and errors go to output. The error is only for the
// exit code: it has been printed.
func parseFlags(args []string, output io.Writer) (options, error) {
	opts := options{policy: policy{errnos: errnoRules{}, allow: allowRules{}}}
	fs := flag.NewFlagSet("seccompagent", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: seccompagent [flags] SOCKET")
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.stateDir, "state-dir", "", "write state-N.json, fds-N and log in `DIR` (created if need be)")
	fs.StringVar(&opts.readyFile, "ready-file", "", "create `FILE` once the socket is listening")
	fs.Var(opts.policy.errnos, "errno", "`NAME=ERRNO`: the notified syscall NAME fails with ERRNO, a number or a name such as EPERM (repeatable)")
	fs.Var(opts.policy.allow, "allow", "let the kernel run the notified syscall `NAME` (repeatable)")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return options{}, errors.New("want one SOCKET")
	}
	opts.socket = fs.Arg(0)
	for name := range opts.policy.allow {
		if _, ok := opts.policy.errnos[name]; ok {
			err := fmt.Errorf("syscall %q is given to both --errno and --allow", name)
			fmt.Fprintf(output, "seccompagent: %v\n", err)
			return options{}, err
		}
	}
	return opts, nil
}

// policy is how the agent answers a notified syscall, by its name.
type policy struct {
	errnos errnoRules
	allow  allowRules
}

// errnoRules is --errno: the errno each named syscall fails with.
type errnoRules map[string]unix.Errno

func (r errnoRules) String() string {
	rules := make([]string, 0, len(r))
	for name, errno := range r {
		rules = append(rules, fmt.Sprintf("%s=%d", name, int(errno)))
	}
	slices.Sort(rules)
	return strings.Join(rules, ",")
}

func (r errnoRules) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q: want NAME=ERRNO", s)
	}
	if err := checkSyscallName(name); err != nil {
		return err
	}
	errno, err := parseErrno(value)
	if err != nil {
		return err
	}
	r[name] = errno
	return nil
}

// maxErrno is the largest errno a syscall can return: the kernel's MAX_ERRNO, as return values
// from -4095 to -1 are errors (include/linux/err.h).
const maxErrno = 4095

// parseErrno reads an errno as a number from 1 to maxErrno or as a name such as ENOSPC.
func parseErrno(s string) (unix.Errno, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > maxErrno {
			return 0, fmt.Errorf("errno %d: want 1 to %d", n, maxErrno)
		}
		return unix.Errno(n), nil
	}
	if errno, ok := errnoNames()[s]; ok {
		return errno, nil
	}
	return 0, fmt.Errorf("errno %q: want a number or a name such as EPERM", s)
}

// errnoNames maps the errno names golang.org/x/sys/unix knows (its ErrnoName table, which has
// no reverse) to their values.
var errnoNames = sync.OnceValue(func() map[string]unix.Errno {
	names := map[string]unix.Errno{}
	for e := unix.Errno(1); e <= maxErrno; e++ {
		if name := unix.ErrnoName(e); name != "" {
			names[name] = e
		}
	}
	return names
})

// allowRules is --allow: the syscalls the kernel runs once notified.
type allowRules map[string]bool

func (r allowRules) String() string {
	names := make([]string, 0, len(r))
	for name := range r {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func (r allowRules) Set(name string) error {
	if err := checkSyscallName(name); err != nil {
		return err
	}
	r[name] = true
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/tests/internal/scm"
)

// The seccomp agent protocol (runtime-spec config-linux.md, "The Container Process State"):
//
//	step  side     what
//	1     agent    listen on SOCKET (AF_UNIX, SOCK_STREAM); create --ready-file
//	2     runtime  connect, once per process that loads a filter with SCMP_ACT_NOTIFY rules:
//	               the container's init at create, each exec'd process
//	3     runtime  one sendmsg: data = the JSON of a ContainerProcessState, SCM_RIGHTS = one fd
//	               per name in its "fds", in that order; "seccompFd" is the filter's listener
//	               (SECCOMP_FILTER_FLAG_NEW_LISTENER)
//	4     runtime  close the connection (the agent reads on until then or until the JSON is
//	               whole)
//	5     agent    record the state; answer notifications on the listener (seccomp_unotify(2))
//	               until it reports POLLHUP: every task using the filter is gone
//
// Connections are served concurrently: a runtime does not wait for an answer, and a listener is
// served for as long as its processes live.
const (
	// maxStateLen bounds the state JSON; annotations and listenerMetadata make its size.
	maxStateLen = 1 << 20
	// maxFds leaves room in the control buffer to see, and refuse, a message carrying more fds
	// than it names; a smaller buffer would have the kernel drop the rest and set MSG_CTRUNC.
	maxFds = 16
	// receiveTimeout is how long a connection may take to send its whole message.
	receiveTimeout = 10 * time.Second
)

// seccompFdLink is what /proc/self/fd/N links to for a seccomp listener (kernel/seccomp.c,
// init_listener: anon_inode_getfile("seccomp notify", ...)).
const seccompFdLink = "anon_inode:seccomp notify"

// agent is one run of seccompagent.
type agent struct {
	opts     options
	stderr   io.Writer
	log      *syscallLog
	bufSizes seccompNotifSizes
	accepted atomic.Int64 // messages accepted, which numbers their state files
	wg       sync.WaitGroup
}

// run serves opts.socket until ctx ends, then closes every listener fd and returns nil once all
// are closed. Refused messages and listener errors go to stderr; only a setup error or a failed
// accept ends it early.
func run(ctx context.Context, opts options, stdout, stderr io.Writer) error {
	if errNoSyscallNames != nil {
		return errNoSyscallNames
	}
	sizes, err := checkNotifSizes()
	if err != nil {
		return err
	}
	a := &agent{opts: opts, stderr: stderr, log: &syscallLog{w: stdout}, bufSizes: sizes}
	if opts.stateDir != "" {
		if err := os.MkdirAll(opts.stateDir, 0o755); err != nil {
			return fmt.Errorf("create state dir: %w", err)
		}
		// Truncated: the log is this run's, as state-1.json is.
		f, err := os.OpenFile(filepath.Join(opts.stateDir, "log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("open syscall log: %w", err)
		}
		defer f.Close()
		a.log.w = f
	}

	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: opts.socket, Net: "unix"})
	if err != nil {
		return err // *net.OpError: "listen unix PATH: bind: ..."
	}
	defer l.Close() // unlinks opts.socket
	// On return, cancel ends the connections and listener fds being served and wg.Wait waits
	// for them, before the socket and the log close.
	ctx, cancel := context.WithCancel(ctx)
	defer a.wg.Wait()
	defer cancel()
	defer closeWhenDone(ctx, l)()
	if opts.readyFile != "" {
		if err := os.WriteFile(opts.readyFile, nil, 0o644); err != nil {
			return fmt.Errorf("create ready file: %w", err)
		}
	}
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err // *net.OpError: "accept unix PATH: ..."
		}
		a.wg.Go(func() { a.handle(ctx, conn) })
	}
}

// handle receives one connection's message (step 3), records it and serves its listener.
func (a *agent) handle(ctx context.Context, conn *net.UnixConn) {
	msg, err := receiveMessage(ctx, conn)
	conn.Close()
	if err != nil && ctx.Err() != nil {
		return // shutting down: the connection was closed under the read
	}
	if err != nil {
		a.warn(fmt.Errorf("refuse message on %s: %w", a.opts.socket, err))
		return
	}
	n := a.accepted.Add(1)
	// A listener whose state could not be written is still served: its processes are not at
	// fault, and would otherwise see ENOSYS.
	if err := a.record(n, msg); err != nil {
		a.warn(err)
	}
	if err := a.serve(ctx, msg.listener); err != nil {
		a.warn(fmt.Errorf("listener %d (pid %d): %w", n, msg.state.Pid, err))
	}
}

// closeWhenDone closes c once ctx ends, as context.AfterFunc(ctx, c.Close) would. The stop it
// returns, for a defer, also waits for a close already under way. A Close that finds another
// under way returns at once, and when the first one woke a read in progress, the fd is closed
// only after that read lets go: without the wait, run could return with that close not yet
// made, and a listener fd or the socket file still there.
func closeWhenDone(ctx context.Context, c io.Closer) (stop func()) {
	done := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		c.Close()
		close(done)
	})
	return func() {
		if !stopAfter() {
			<-done
		}
	}
}

func (a *agent) warn(err error) {
	fmt.Fprintf(a.stderr, "seccompagent: %v\n", err)
}

// message is an accepted step-3 message.
type message struct {
	data     []byte // the state JSON as received
	state    specs.ContainerProcessState
	nfds     int      // fds received, all named in state.Fds
	listener *os.File // the "seccompFd" one; the others are closed
}

// receiveMessage reads the message of step 3, until the runtime closes the connection (step 4)
// or the JSON is whole, and checks it: a JSON state, as many fds as its "fds" names, one of them
// "seccompFd" and a seccomp listener. It closes every fd it received but the listener, and all
// of them when it refuses the message.
func receiveMessage(ctx context.Context, conn *net.UnixConn) (_ *message, retErr error) {
	if err := conn.SetReadDeadline(time.Now().Add(receiveTimeout)); err != nil {
		return nil, err
	}
	defer closeWhenDone(ctx, conn)()
	var (
		data      []byte
		fds       []int
		truncated bool
	)
	defer func() {
		if retErr != nil {
			scm.CloseFds(fds)
		}
	}()
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(maxFds*4))
	for {
		// The data of one sendmsg may come in several reads; its fds come with the first. The
		// message ends at the runtime's close or with its JSON, whichever is first.
		n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob) // sets MSG_CMSG_CLOEXEC on Linux
		got, perr := scm.UnixRights(oob[:oobn])
		fds = append(fds, got...)
		data = append(data, buf[:n]...)
		truncated = truncated || flags&unix.MSG_CTRUNC != 0
		if perr != nil {
			return nil, perr
		}
		if errors.Is(err, io.EOF) || (err == nil && json.Valid(data)) {
			break
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, fmt.Errorf("no whole message within %v", receiveTimeout)
		case err != nil:
			return nil, fmt.Errorf("receive message: %w", err)
		case len(data) > maxStateLen:
			return nil, fmt.Errorf("message is over %d bytes", maxStateLen)
		}
	}
	if truncated {
		return nil, fmt.Errorf("control data truncated: more than %d fds", maxFds)
	}
	if len(data) == 0 {
		return nil, errors.New("connection closed before a message came")
	}
	msg := &message{data: data, nfds: len(fds)}
	if err := json.Unmarshal(data, &msg.state); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if len(fds) != len(msg.state.Fds) {
		return nil, fmt.Errorf("message carries %d fds but its state names %d: %q", len(fds), len(msg.state.Fds), msg.state.Fds)
	}
	i := slices.Index(msg.state.Fds, specs.SeccompFdName)
	if i < 0 {
		return nil, fmt.Errorf("state's fds %q has no %q", msg.state.Fds, specs.SeccompFdName)
	}
	link, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fds[i]))
	if err != nil {
		return nil, fmt.Errorf("fd %q: %w", specs.SeccompFdName, err)
	}
	if link != seccompFdLink {
		return nil, fmt.Errorf("fd %q is %q, not a seccomp listener", specs.SeccompFdName, link)
	}
	// The spec names no fd but seccompFd: the others are of no use here.
	scm.CloseFds(slices.Delete(slices.Clone(fds), i, i+1))
	// Non-blocking, so that Go's poller can wait for notifications, and wake the wait when the
	// fd is closed at shutdown.
	if err := unix.SetNonblock(fds[i], true); err != nil {
		unix.Close(fds[i])
		fds = nil
		return nil, fmt.Errorf("set listener non-blocking: %w", os.NewSyscallError("fcntl", err))
	}
	msg.listener = os.NewFile(uintptr(fds[i]), specs.SeccompFdName)
	return msg, nil
}

// record writes the fd count and then the state of the nth message in the state dir, each file
// whole, so that a test which sees state-N.json may read fds-N too.
func (a *agent) record(n int64, msg *message) error {
	if a.opts.stateDir == "" {
		return nil
	}
	name := filepath.Join(a.opts.stateDir, fmt.Sprintf("fds-%d", n))
	if err := writeFileAtomic(name, []byte(strconv.Itoa(msg.nfds)+"\n")); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(a.opts.stateDir, fmt.Sprintf("state-%d.json", n)), msg.data)
}

// writeFileAtomic writes data to a temporary file beside name and renames it over name.
func writeFileAtomic(name string, data []byte) (retErr error) {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			os.Remove(f.Name())
		}
	}()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

// syscallLog is the "NAME PID" lines, one write each, from every listener.
type syscallLog struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *syscallLog) add(name string, pid uint32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := fmt.Fprintf(l.w, "%s %d\n", name, pid); err != nil {
		return fmt.Errorf("write syscall log: %w", err)
	}
	return nil
}

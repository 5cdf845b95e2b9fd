// Package syncmsg is the protocol between the runtime and the processes it starts: stage0 (the C
// stage in internal/nsexec, before the Go runtime) and the init that stage0 forks, a container's
// or an exec'd process's. It runs over one SOCK_SEQPACKET socket pair, one message per packet: a
// little-endian uint32 type, then the payload. Each message is a Go type of its own here
// (messages.go), encoded and decoded in this package only; the C stage's copy of the numbers is
// generated from this table (cheader.go, `go generate`).
//
// Create: a container's init.
//
//	step  direction          message        payload              meaning
//	1     runtime -> stage0  Bootstrap      records              namespaces to create and join, time offsets
//	2     stage0 -> runtime  UserMap        -                    user namespace made: write uid/gid maps
//	3     runtime -> stage0  UserMapDone    -                    maps written
//	4     stage0 -> runtime  Pid            uint32               the init's pid
//	5     runtime -> stage0  PidAck         -                    the runtime checked the init is stage0's
//	                                                             child; stage0 exits
//	5'    init -> runtime    Up             -                    only with EnvSayUp: the Go init's
//	                                                             runtime is up (before the systemd
//	                                                             driver's unit is made around it)
//	6-    runtime -> init    ExecPlan       records              a C init only (EnvCInit): the process,
//	                                                             which it sets up as an exec's once its
//	                                                             Go helper has made the root (after 8)
//	6     runtime -> init    InitConfig     JSON                 what the init must set up (with
//	                                                             EnvCInit, its Go helper: the root)
//	6'    runtime -> init    MemoryFds      JSON + SCM_RIGHTS    only if InitConfig.MemoryFds: the v1
//	                                                             memory pair of an init systemd's unit
//	                                                             was made around
//	6a    runtime -> init    MountFds       JSON + SCM_RIGHTS    only if InitConfig.MountFds: the
//	                                                             id-mapped mount trees the runtime made
//	6b    runtime -> init    SeccompAgent   JSON + SCM_RIGHTS    only if InitConfig.SeccompAtStart() and
//	                                                             the filter notifies: a connection to
//	                                                             listenerPath, for the init to send its
//	                                                             listener fd at start
//	6c    init -> runtime    JoinCgroup     -                    late cgroup v2 join (EnvJoinLate), with
//	      runtime -> init    CgroupMoved    -                    a new cgroup namespace only: into the
//	      init -> runtime    LeaveCgroup    -                    cgroup to root the namespace there,
//	      runtime -> init    CgroupMoved    -                    then back into the runtime's cgroup,
//	                                                             where the init's setup is charged
//	7     init -> runtime    Hooks          -                    mounts done, before pivot_root: run
//	                                                             prestart and createRuntime hooks
//	8     runtime -> init    HooksDone      -                    (only after step 7)
//	8-    init -> runtime    JoinCgroup     -                    late cgroup v2 join only: set up, before
//	      runtime -> init    CgroupMoved    -                    any filter is loaded: move the init in
//	8a    init -> runtime    SeccompFd      uint32 fd            the filter is loaded (SCMP_ACT_NOTIFY
//	                                                             only, and not SeccompAtStart()): the
//	                                                             runtime copies that fd with
//	                                                             pidfd_getfd, for listenerPath
//	8b    runtime -> init    SeccompFdDone  -                    the init may close the fd
//	9     init -> runtime    Ready          -                    waiting on the exec fifo (start.go)
//
// Exec: a process started in a running container.
//
//	step  direction          message        payload              meaning
//	1-5   as create, but Bootstrap only joins namespaces, and there is no UserMap
//	5a    init -> runtime    JoinCgroup     -                    late cgroup v2 join only, first of all
//	      runtime -> init    CgroupMoved    -
//	6     runtime -> init    ExecPlan       records              the process to run, which the C stage
//	                                                             sets up and execs (no Go runtime)
//	6a,b  SeccompFd, SeccompFdDone as 8a and 8b
//	6c    init -> runtime    Execing        -                    set up; the next syscall is execve
//	7     the init's end closes on execve (it is close-on-exec): the process runs. Closed
//	      without Execing, the process died before it could exec (killed, or by its filter).
//
// At any step of either:
//
//	init -> runtime    Error          text   setup failed; the sender exits
//	init -> runtime    HookError      text   a createContainer hook failed: the runtime
//	                                         goes on to poststop hooks (create only)
//	init -> runtime    Log            JSON   a line for the runtime's log; no answer
//
// The fds the init finds at start, and the environment naming them, are in config.go.
package syncmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// maxPacket bounds one message. A SEQPACKET message must fit the sender's socket buffer, whose
// default (about 208 KiB) a spec with large annotations can pass, so Pair raises it.
const maxPacket = 8 << 20

// ErrClosed means the peer closed its end: for the runtime, the init died or exec'd.
var ErrClosed = errors.New("sync socket closed by peer")

// ErrTimeout means no message came within the Conn's timeout.
var ErrTimeout = errors.New("no answer")

// Conn is one end of the sync socket.
type Conn struct {
	f       *os.File
	timeout time.Duration
}

// NewConn wraps an end of the socket pair.
func NewConn(f *os.File) *Conn { return &Conn{f: f} }

// SetTimeout bounds each Recv that follows to d (0: no bound): past it, Recv fails with an
// error that wraps ErrTimeout. Only the runtime's end (Pair's first, which is non-blocking and
// so in Go's poller) can be bounded.
func (c *Conn) SetTimeout(d time.Duration) { c.timeout = d }

// Pair makes the socket pair: the runtime keeps the first end, stage0 and the init get the second.
func Pair() (runtime, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	for _, fd := range fds {
		// SO_SNDBUFFORCE passes the rmem/wmem sysctl caps; it needs CAP_NET_ADMIN, which the
		// runtime has. Without it a large config fails to send with a clear EMSGSIZE error.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, maxPacket)
	}
	// The runtime's end is non-blocking, so that os.File puts it in the poller and reads on it
	// can have a deadline (SetTimeout). The child's end stays blocking: stage0 and the init
	// read it with plain read(2).
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, os.NewSyscallError("fcntl(O_NONBLOCK)", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-runtime"), os.NewFile(uintptr(fds[1]), "sync-init"), nil
}

// Close closes this end.
func (c *Conn) Close() error { return c.f.Close() }

// Send writes one message.
func (c *Conn) Send(m Message) error {
	t := m.msgType()
	payload, err := m.encode()
	if err != nil {
		return fmt.Errorf("send %s: %w", t, err)
	}
	buf := make([]byte, 4+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(t))
	copy(buf[4:], payload)
	if wf, ok := m.(withFiles); ok {
		return c.sendFds(t, buf, wf.files())
	}
	if _, err := c.f.Write(buf); err != nil {
		return fmt.Errorf("send %s: %w", t, err)
	}
	return nil
}

// sendFds sends one packet with fds as SCM_RIGHTS.
func (c *Conn) sendFds(t Type, buf []byte, fds []int) error {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), buf, unix.UnixRights(fds...), nil, 0)
		return !errors.Is(serr, unix.EAGAIN)
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("send %s: %w", t, os.NewSyscallError("sendmsg", err))
	}
	return nil
}

// Recv reads one message, into a buffer of its size (peeked with MSG_TRUNC), and decodes it.
func (c *Conn) Recv() (Message, error) {
	if c.timeout > 0 {
		if err := c.f.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return nil, fmt.Errorf("receive from sync socket: %w", err)
		}
	}
	size, err := c.peekSize()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil, fmt.Errorf("%w within %v", ErrTimeout, c.timeout)
	}
	// A peer that died with messages of ours unread resets the socket rather than close it.
	if errors.Is(err, unix.ECONNRESET) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, err
	}
	if size > maxPacket {
		return nil, fmt.Errorf("receive from sync socket: message of %d bytes is over %d", size, maxPacket)
	}
	buf := make([]byte, max(size, 4))
	n, fds, err := c.read(buf)
	if errors.Is(err, io.EOF) || errors.Is(err, unix.ECONNRESET) || (err == nil && n == 0) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("receive from sync socket: %w", err)
	}
	if n < 4 {
		closeFds(fds)
		return nil, fmt.Errorf("receive from sync socket: short message of %d bytes", n)
	}
	m, err := decode(Type(binary.LittleEndian.Uint32(buf)), buf[4:n])
	if wf, ok := m.(withFiles); ok && err == nil {
		if err := wf.setFiles(fds); err != nil {
			closeFds(fds)
			return nil, fmt.Errorf("receive %s: %w", wf.msgType(), err)
		}
		return m, nil
	}
	closeFds(fds) // only a withFiles message carries fds: any other is closed, never leaked into the container
	return m, err
}

// maxFds bounds the fds one message carries (SCM_MAX_FD is 253).
const maxFds = 253

// read receives one packet and the fds it carries (close-on-exec).
func (c *Conn) read(buf []byte) (int, []int, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, nil, err
	}
	oob := make([]byte, unix.CmsgSpace(maxFds*4))
	var n, oobn int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, nil, os.NewSyscallError("recvmsg", err)
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return 0, nil, err
		}
		for _, cm := range cmsgs {
			if r, err := unix.ParseUnixRights(&cm); err == nil {
				fds = append(fds, r...)
			}
		}
	}
	return n, fds, nil
}

func closeFds(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

func (c *Conn) peekSize() (int, error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, fmt.Errorf("receive from sync socket: %w", os.NewSyscallError("recvfrom", err))
	}
	return n, nil
}

// Expect reads one message, which must be a T. An Error message from the peer comes back as the
// error, carrying the peer's text.
func Expect[T Message](c *Conn) (T, error) {
	var zero T
	m, err := c.Recv()
	if err != nil {
		return zero, err
	}
	if e, ok := m.(*Error); ok {
		return zero, e
	}
	got, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("sync: got %s, want %s", m.msgType(), zero.msgType())
	}
	return got, nil
}

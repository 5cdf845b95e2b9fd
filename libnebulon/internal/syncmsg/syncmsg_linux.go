// Package syncmsg is the protocol between the runtime (parent) and its init process, over one
// SOCK_SEQPACKET socket pair; every message is one packet: a little-endian uint32 type and a payload.
//
//	step  direction         message       payload                meaning
//	1     parent -> stage0  Bootstrap     records (bootstrap.go)  namespaces to join/create, time offsets
//	2     stage0 -> parent  UserMap       -                       user namespace made: write uid/gid maps
//	3     parent -> stage0  UserMapDone   -                       maps written
//	4     stage0 -> parent  Pid           uint32                  the init's pid
//	5     parent -> stage0  PidAck        -                       the parent has checked the init is
//	                                                              stage0's child; stage0 exits
//	5a    init -> parent    JoinCgroup    -                       only for a late cgroup v2 join: the
//	                                                              init's runtime is up; move it into
//	                                                              the cgroup (step 6 is the answer)
//	6     parent -> init    Config        JSON InitConfig         what the init must set up
//	7     init -> parent    Hooks         -                       mounts done, before pivot_root: run
//	                                                              prestart and createRuntime hooks
//	8     parent -> init    HooksDone     -                       (only after step 7)
//	9     init -> parent    Ready         -                       waiting on the exec fifo
//	any   init -> parent    Error         text                    setup failed; the init exits
//	any   init -> parent    HookError     text                    a createContainer hook failed: the
//	                                                              parent runs poststop hooks too
//	any   init -> parent    Log           JSON level, msg         a line for the runtime's log; the
//	                                                              parent logs it and waits on
//	8a    init -> parent    SeccompFd     uint32 fd               the seccomp filter is loaded (only
//	                                                              with SCMP_ACT_NOTIFY): the parent
//	                                                              copies that fd of the init's with
//	                                                              pidfd_getfd, for listenerPath
//	8b    parent -> init    SeccompFdDone -                       the init may close the fd
//
// Stage0 is the C code in internal/nsexec (it keeps its own copy of these numbers); the init is
// the Go process that stage0 forks.
package syncmsg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Type is a message type.
type Type uint32

// Message types; the values are shared with nsexec_linux.c.
const (
	Bootstrap   Type = 1
	UserMap     Type = 2
	UserMapDone Type = 3
	Pid         Type = 4
	Error       Type = 5
	Config      Type = 6
	Hooks       Type = 7
	HooksDone   Type = 8
	Ready       Type = 9
	HookError   Type = 10
	PidAck      Type = 11
	JoinCgroup  Type = 12
	Log         Type = 13
	// The listener fd is passed by number, never with SCM_RIGHTS: the filter is on by then, and
	// it may notify sendmsg(2), which would wait for an agent that has not got the fd yet. write
	// cannot be notified (seccomp.Compile refuses it), and the parent takes the fd itself.
	SeccompFd     Type = 14
	SeccompFdDone Type = 15
)

var names = map[Type]string{
	Bootstrap: "bootstrap", UserMap: "usermap", UserMapDone: "usermap-done", Pid: "pid",
	Error: "error", Config: "config", Hooks: "hooks", HooksDone: "hooks-done", Ready: "ready",
	HookError: "hook-error", PidAck: "pid-ack", JoinCgroup: "join-cgroup", Log: "log",
	SeccompFd: "seccomp-fd", SeccompFdDone: "seccomp-fd-done",
}

func (t Type) String() string {
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("message(%d)", uint32(t))
}

// maxPacket bounds one message. A SEQPACKET message must fit the sender's socket buffer, whose
// default (about 208 KiB) a spec with large annotations can pass, so Pair raises it.
const maxPacket = 8 << 20

// ErrClosed means the peer closed its end: for the parent, the init died.
var ErrClosed = errors.New("sync socket closed by peer")

// Conn is one end of the sync socket.
type Conn struct{ f *os.File }

// NewConn wraps an end of the socket pair.
func NewConn(f *os.File) *Conn { return &Conn{f: f} }

// Pair makes the socket pair: the parent keeps the first end, the init gets the second.
func Pair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	for _, fd := range fds {
		// SO_SNDBUFFORCE passes the rmem/wmem sysctl caps; it needs CAP_NET_ADMIN, which the
		// runtime has. Without it a large config fails to send with a clear EMSGSIZE error.
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, maxPacket)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-init"), nil
}

// Close closes this end.
func (c *Conn) Close() error { return c.f.Close() }

// Send writes one message.
func (c *Conn) Send(t Type, payload []byte) error {
	buf := make([]byte, 4+len(payload))
	binary.LittleEndian.PutUint32(buf, uint32(t))
	copy(buf[4:], payload)
	if _, err := c.f.Write(buf); err != nil {
		return fmt.Errorf("send %s: %w", t, err)
	}
	return nil
}

// Recv reads one message, into a buffer of its size (peeked with MSG_TRUNC).
func (c *Conn) Recv() (Type, []byte, error) {
	size, err := c.peekSize()
	if err != nil {
		return 0, nil, err
	}
	if size > maxPacket {
		return 0, nil, fmt.Errorf("receive from sync socket: message of %d bytes is over %d", size, maxPacket)
	}
	buf := make([]byte, max(size, 4))
	n, err := c.f.Read(buf)
	if errors.Is(err, io.EOF) || (err == nil && n == 0) {
		return 0, nil, ErrClosed
	}
	if err != nil {
		return 0, nil, fmt.Errorf("receive from sync socket: %w", err)
	}
	if n < 4 {
		return 0, nil, fmt.Errorf("receive from sync socket: short message of %d bytes", n)
	}
	return Type(binary.LittleEndian.Uint32(buf)), buf[4:n], nil
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

// Expect reads one message and checks its type. An Error message from the peer comes back as an
// error carrying the peer's text.
func (c *Conn) Expect(want Type) ([]byte, error) {
	t, payload, err := c.Recv()
	if err != nil {
		return nil, err
	}
	if t == Error {
		return nil, &PeerError{Msg: string(payload)}
	}
	if t != want {
		return nil, fmt.Errorf("sync: got %s, want %s", t, want)
	}
	return payload, nil
}

// PeerError is an error reported by the other side of the socket.
type PeerError struct{ Msg string }

func (e *PeerError) Error() string { return e.Msg }

package syncmsg

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Type is a message's number on the wire.
type Type uint32

// The message numbers. They are also the C stage's (cheader.go): never renumber one.
const (
	typeBootstrap     Type = 1
	typeUserMap       Type = 2
	typeUserMapDone   Type = 3
	typePid           Type = 4
	typeError         Type = 5
	typeInitConfig    Type = 6
	typeHooks         Type = 7
	typeHooksDone     Type = 8
	typeReady         Type = 9
	typeHookError     Type = 10
	typePidAck        Type = 11
	typeJoinCgroup    Type = 12
	typeLog           Type = 13
	typeSeccompFd     Type = 14
	typeSeccompFdDone Type = 15
	// 16 was exec-config, a JSON message the exec plan (20) replaced.
	typeMountFds     Type = 17
	typeSeccompAgent Type = 18
	typeExecing      Type = 19
	typeExecPlan     Type = 20
	typeLeaveCgroup  Type = 21
	typeCgroupMoved  Type = 22
	typeMemoryFds    Type = 23
	typeUp           Type = 24
)

// messages is every message: its number, its name (errors and the C stage use it) and a new
// value of its type, for decode.
var messages = []struct {
	t    Type
	name string
	new  func() Message
}{
	{typeBootstrap, "bootstrap", func() Message { return &Bootstrap{} }},
	{typeUserMap, "usermap", func() Message { return &UserMap{} }},
	{typeUserMapDone, "usermap-done", func() Message { return &UserMapDone{} }},
	{typePid, "pid", func() Message { return &Pid{} }},
	{typeError, "error", func() Message { return &Error{} }},
	{typeInitConfig, "init-config", func() Message { return &InitConfig{} }},
	{typeHooks, "hooks", func() Message { return &Hooks{} }},
	{typeHooksDone, "hooks-done", func() Message { return &HooksDone{} }},
	{typeReady, "ready", func() Message { return &Ready{} }},
	{typeHookError, "hook-error", func() Message { return &HookError{} }},
	{typePidAck, "pid-ack", func() Message { return &PidAck{} }},
	{typeJoinCgroup, "join-cgroup", func() Message { return &JoinCgroup{} }},
	{typeLog, "log", func() Message { return &Log{} }},
	{typeSeccompFd, "seccomp-fd", func() Message { return &SeccompFd{} }},
	{typeSeccompFdDone, "seccomp-fd-done", func() Message { return &SeccompFdDone{} }},
	{typeMountFds, "mount-fds", func() Message { return &MountFds{} }},
	{typeSeccompAgent, "seccomp-agent", func() Message { return &SeccompAgent{} }},
	{typeExecing, "execing", func() Message { return &Execing{} }},
	{typeExecPlan, "exec-plan", func() Message { return &ExecPlan{} }},
	{typeLeaveCgroup, "leave-cgroup", func() Message { return &LeaveCgroup{} }},
	{typeCgroupMoved, "cgroup-moved", func() Message { return &CgroupMoved{} }},
	{typeMemoryFds, "memory-fds", func() Message { return &MemoryFds{} }},
	{typeUp, "up", func() Message { return &Up{} }},
}

func (t Type) String() string {
	for _, m := range messages {
		if m.t == t {
			return m.name
		}
	}
	return fmt.Sprintf("message(%d)", uint32(t))
}

// Message is one of the types below.
type Message interface {
	msgType() Type
	encode() ([]byte, error)
	decode(payload []byte) error
}

// Name is m's name on the wire ("ready", "pid"), for errors.
func Name(m Message) string { return m.msgType().String() }

func decode(t Type, payload []byte) (Message, error) {
	for _, m := range messages {
		if m.t == t {
			msg := m.new()
			if err := msg.decode(payload); err != nil {
				return nil, fmt.Errorf("sync: decode %s: %w", t, err)
			}
			return msg, nil
		}
	}
	return nil, fmt.Errorf("sync: unknown %s", t)
}

// signal is the payload of a message that carries none.
type signal struct{}

func (signal) encode() ([]byte, error) { return nil, nil }
func (signal) decode(p []byte) error {
	if len(p) != 0 {
		return fmt.Errorf("%d bytes where none were expected", len(p))
	}
	return nil
}

// UserMap (stage0 -> runtime): stage0 made the user namespace; the runtime writes its maps.
type UserMap struct{ signal }

// UserMapDone (runtime -> stage0): the maps are written.
type UserMapDone struct{ signal }

// PidAck (runtime -> stage0): the runtime has checked the init; stage0 may exit.
type PidAck struct{ signal }

// JoinCgroup (init -> runtime): move me into the container's cgroup v2 cgroup now. The runtime
// answers CgroupMoved.
type JoinCgroup struct{ signal }

// LeaveCgroup (init -> runtime): move me back into the runtime's own cgroup v2 cgroup, where my
// setup is charged (a container's init that joins late, once it made its cgroup namespace
// rooted in the container's cgroup). The runtime answers CgroupMoved.
type LeaveCgroup struct{ signal }

// CgroupMoved (runtime -> init): the init is in the cgroup it asked for.
type CgroupMoved struct{ signal }

// Up (init -> runtime): the Go init's runtime is up, and it waits for its config (EnvSayUp).
type Up struct{ signal }

// Hooks (init -> runtime): run prestart and createRuntime hooks now.
type Hooks struct{ signal }

// HooksDone (runtime -> init): they ran.
type HooksDone struct{ signal }

// Ready (init -> runtime): the container is created; the init waits for start.
type Ready struct{ signal }

// Execing (exec'd process's init -> runtime): everything is set up, the next syscall is execve.
// Without it, the socket closing means the process died before it could exec.
type Execing struct{ signal }

func (*Execing) msgType() Type { return typeExecing }

// SeccompFdDone (runtime -> init): the listener fd is passed on; the init may close it.
type SeccompFdDone struct{ signal }

func (*UserMap) msgType() Type       { return typeUserMap }
func (*UserMapDone) msgType() Type   { return typeUserMapDone }
func (*PidAck) msgType() Type        { return typePidAck }
func (*JoinCgroup) msgType() Type    { return typeJoinCgroup }
func (*LeaveCgroup) msgType() Type   { return typeLeaveCgroup }
func (*CgroupMoved) msgType() Type   { return typeCgroupMoved }
func (*Up) msgType() Type            { return typeUp }
func (*Hooks) msgType() Type         { return typeHooks }
func (*HooksDone) msgType() Type     { return typeHooksDone }
func (*Ready) msgType() Type         { return typeReady }
func (*SeccompFdDone) msgType() Type { return typeSeccompFdDone }

// number is a message whose payload is one little-endian uint32.
type number struct{ n uint32 }

func (m *number) encode() ([]byte, error) { return binary.LittleEndian.AppendUint32(nil, m.n), nil }
func (m *number) decode(p []byte) error {
	if len(p) != 4 {
		return fmt.Errorf("payload of %d bytes, want 4", len(p))
	}
	m.n = binary.LittleEndian.Uint32(p)
	return nil
}

// Pid (stage0 -> runtime): the pid of the init stage0 forked, in the runtime's pid namespace.
type Pid struct{ number }

// NewPid makes a Pid message.
func NewPid(pid int) *Pid { return &Pid{number{uint32(pid)}} }

// Pid is the init's pid.
func (m *Pid) Pid() int { return int(m.n) }

func (*Pid) msgType() Type { return typePid }

// SeccompFd (init -> runtime): the init's seccomp listener is its fd number Fd. It is passed by
// number, never with SCM_RIGHTS: the filter is on by then and may notify sendmsg(2), which would
// wait for an agent that has not got the fd yet. write cannot be notified (seccomp.Compile
// refuses it), and the runtime copies the fd itself (pidfd_getfd).
type SeccompFd struct{ number }

// NewSeccompFd makes a SeccompFd message.
func NewSeccompFd(fd int) *SeccompFd { return &SeccompFd{number{uint32(fd)}} }

// Fd is the listener's fd number in the init.
func (m *SeccompFd) Fd() int { return int(m.n) }

func (*SeccompFd) msgType() Type { return typeSeccompFd }

// text is a message whose payload is a string.
type text struct{ Msg string }

func (m *text) encode() ([]byte, error) { return []byte(m.Msg), nil }
func (m *text) decode(p []byte) error   { m.Msg = string(p); return nil }

// Error (init or stage0 -> runtime): setup failed, for the reason given; the sender exits. It is
// also the error Expect returns for it.
type Error struct{ text }

// NewError makes an Error message from err.
func NewError(err error) *Error { return &Error{text{err.Error()}} }

func (e *Error) Error() string { return e.Msg }
func (*Error) msgType() Type   { return typeError }

// HookError (init -> runtime): a createContainer hook failed; the runtime goes on to poststop.
type HookError struct{ text }

// NewHookError makes a HookError message from err.
func NewHookError(err error) *HookError { return &HookError{text{err.Error()}} }

func (e *HookError) Error() string { return e.Msg }
func (*HookError) msgType() Type   { return typeHookError }

// Log (init -> runtime): a line for the runtime's log (--log, --log-format). The init's stderr is
// the container's, which engines keep as the container's output.
type Log struct {
	Level slog.Level `json:"level"`
	Msg   string     `json:"msg"`
	Time  time.Time  `json:"time"` // when the init logged it
}

func (*Log) msgType() Type             { return typeLog }
func (m *Log) encode() ([]byte, error) { return json.Marshal(m) }
func (m *Log) decode(p []byte) error   { return json.Unmarshal(p, m) }

// MountFds (runtime -> init) carries detached mount trees the runtime made because the init
// cannot: id-mapped mounts, which need CAP_SYS_ADMIN in the user namespace of the source's
// filesystem (the host's), and, in a user namespace, bind mounts whose sources its root may not
// reach. Mounts[i] is the index in mounts[] of the tree in Fds[i]; the fds travel as SCM_RIGHTS,
// the indexes as JSON.
type MountFds struct {
	Mounts []int `json:"mounts"`
	Fds    []int `json:"-"`
}

func (*MountFds) msgType() Type             { return typeMountFds }
func (m *MountFds) encode() ([]byte, error) { return json.Marshal(m) }
func (m *MountFds) decode(p []byte) error   { return json.Unmarshal(p, m) }
func (m *MountFds) files() []int            { return m.Fds }

func (m *MountFds) setFiles(fds []int) error {
	if len(fds) != len(m.Mounts) {
		return fmt.Errorf("%d fds for %d mounts", len(fds), len(m.Mounts))
	}
	m.Fds = fds
	return nil
}

// MemoryFds (runtime -> init) is the memory pair of an init whose cgroups systemd made around it
// (InitConfig.MemoryFds): the v1 memory hierarchy's `tasks` file of the container's cgroup,
// then the runtime's own, as the last two cgroup fds are otherwise (InitConfig.CgroupMemory).
// The fds travel as SCM_RIGHTS.
type MemoryFds struct {
	Fds []int `json:"-"`
}

func (*MemoryFds) msgType() Type             { return typeMemoryFds }
func (m *MemoryFds) encode() ([]byte, error) { return json.Marshal(m) }
func (m *MemoryFds) decode(p []byte) error   { return json.Unmarshal(p, m) }
func (m *MemoryFds) files() []int            { return m.Fds }

func (m *MemoryFds) setFiles(fds []int) error {
	if len(fds) != 2 {
		return fmt.Errorf("%d fds for the memory pair of 2", len(fds))
	}
	m.Fds = fds
	return nil
}

// SeccompAgent (runtime -> init) is the agent at linux.seccomp.listenerPath, for a filter the
// init loads only at start (InitConfig.SeccompAtStart): Conn is a socket connected to it, and
// State the container process state to send it with the listener fd, but for the pid of the
// process that loads the filter, which is the init's and known here already. The runtime is gone
// by start, so it connects at create and the init sends.
type SeccompAgent struct {
	State json.RawMessage `json:"state"`
	Conn  int             `json:"-"`
}

func (*SeccompAgent) msgType() Type             { return typeSeccompAgent }
func (m *SeccompAgent) encode() ([]byte, error) { return json.Marshal(m) }
func (m *SeccompAgent) decode(p []byte) error   { return json.Unmarshal(p, m) }
func (m *SeccompAgent) files() []int            { return []int{m.Conn} }

func (m *SeccompAgent) setFiles(fds []int) error {
	if len(fds) != 1 {
		return fmt.Errorf("%d fds for one agent connection", len(fds))
	}
	m.Conn = fds[0]
	return nil
}

// withFiles is a message that carries fds, as SCM_RIGHTS.
type withFiles interface {
	Message
	files() []int
	setFiles([]int) error
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/tests/internal/scm"
)

// The tests play the runtime of the protocol table. A filter stays on its thread for good, so the
// filtered process is a child: the test binary re-executed with childEnv set to a childCase in
// JSON. It loads a filter that notifies mkdirat (and mkdir, where the architecture has it), sends
// the listener and its state to the agent's socket as a runtime does for a container's process,
// and then makes its calls.
const childEnv = "SECCOMPAGENT_TEST_CHILD"

func init() {
	// Init functions run on the main thread, and LockOSThread keeps the child there: its
	// filter then covers the thread whose id is the process's pid, as in a container's
	// single-threaded process, and the agent's log shows that pid.
	if c := os.Getenv(childEnv); c != "" {
		runtime.LockOSThread()
		runChild(c)
	}
}

// filterArchs are the architectures the child's filter is written for: the AUDIT_ARCH_* value it
// checks, and mkdir(2)'s number where there is one (x/sys/unix defines SYS_MKDIR only for those).
var filterArchs = map[string]struct {
	audit uint32
	mkdir int
}{
	"amd64": {unix.AUDIT_ARCH_X86_64, 83},
	"arm64": {unix.AUDIT_ARCH_AARCH64, -1},
}

type childCase struct {
	Socket   string   `json:"socket"`
	Fds      []string `json:"fds"`     // the state's fds; nil: ["seccompFd"]
	ExtraFd  bool     `json:"extraFd"` // send fd 3 after the listener
	Metadata string   `json:"metadata"`
	Wait     bool     `json:"wait"` // read a line from stdin before the calls
	Calls    []call   `json:"calls"`
}

// call is one mkdirat(AT_FDCWD, Path, 0755), or mkdir(Path, 0755) when Mkdir is set.
type call struct {
	Path  string `json:"path"`
	Mkdir bool   `json:"mkdir"`
}

type childOut struct {
	Pid    int    `json:"pid"`
	Sent   string `json:"sent"`   // the state JSON sent to the agent
	Errnos []int  `json:"errnos"` // each call's
}

// runChild is the filtered process: it never returns.
func runChild(spec string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "child: "+format+"\n", args...)
		os.Exit(3)
	}
	var c childCase
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fail("decode case: %v", err)
	}
	if tid := unix.Gettid(); tid != os.Getpid() {
		fail("on thread %d, not the main thread %d", tid, os.Getpid())
	}
	arch := filterArchs[runtime.GOARCH]
	nrs := []uint32{unix.SYS_MKDIRAT}
	if arch.mkdir >= 0 {
		nrs = append(nrs, uint32(arch.mkdir))
	}
	// Without CAP_SYS_ADMIN, seccomp(2) needs no_new_privs; a runtime's init has either.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("no_new_privs: %v", err)
	}
	listener, err := loadNotifyFilter(arch.audit, nrs)
	if err != nil {
		fail("%v", err)
	}

	names := c.Fds
	if names == nil {
		names = []string{specs.SeccompFdName}
	}
	state, err := json.Marshal(specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      names,
		Pid:      os.Getpid(),
		Metadata: c.Metadata,
		State: specs.State{
			Version:     specs.Version,
			ID:          "agent-test",
			Status:      specs.StateCreating,
			Pid:         os.Getpid(),
			Bundle:      "/run/bundles/agent-test",
			Annotations: map[string]string{"org.nebulon.test": "seccompagent"},
		},
	})
	if err != nil {
		fail("encode state: %v", err)
	}
	fds := []int{listener}
	if c.ExtraFd {
		fds = append(fds, 3)
	}
	if err := sendMessage(c.Socket, state, fds...); err != nil {
		fail("%v", err)
	}
	scm.CloseFds(fds) // the agent holds the only copies now, as it does from a runtime

	if c.Wait {
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			fail("wait for the go-ahead: %v", err)
		}
	}
	out := childOut{Pid: os.Getpid(), Sent: string(state)}
	for _, cl := range c.Calls {
		out.Errnos = append(out.Errnos, int(cl.make(arch.mkdir)))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("encode: %v", err)
	}
	os.Exit(0)
}

func (c call) make(mkdirNr int) unix.Errno {
	if !c.Mkdir {
		err := unix.Mkdirat(unix.AT_FDCWD, c.Path, 0o755)
		errno, _ := err.(unix.Errno)
		return errno
	}
	p, err := unix.BytePtrFromString(c.Path)
	if err != nil {
		return unix.EINVAL
	}
	_, _, errno := unix.Syscall(uintptr(mkdirNr), uintptr(unsafe.Pointer(p)), 0o755, 0)
	return errno
}

// loadNotifyFilter loads, on the calling thread, a filter that sends the syscalls nrs of the
// ABI audit to a listener (SECCOMP_RET_USER_NOTIF) and allows all else, and returns the
// listener fd.
func loadNotifyFilter(audit uint32, nrs []uint32) (int, error) {
	const (
		ld  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		ret = unix.BPF_RET | unix.BPF_K
	)
	n := len(nrs)
	prog := []unix.SockFilter{
		{Code: ld, K: 4}, // seccomp_data.arch
		// Another ABI's syscall numbers mean other syscalls: allow them.
		{Code: jeq, K: audit, Jf: uint8(n + 1)},
		{Code: ld, K: 0}, // seccomp_data.nr
	}
	for i, nr := range nrs {
		prog = append(prog, unix.SockFilter{Code: jeq, K: nr, Jt: uint8(n - i)})
	}
	prog = append(prog,
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_ALLOW},
		unix.SockFilter{Code: ret, K: unix.SECCOMP_RET_USER_NOTIF})
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	fd, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_NEW_LISTENER, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return -1, fmt.Errorf("load seccomp filter: %w", os.NewSyscallError("seccomp", errno))
	}
	return int(fd), nil
}

// sendMessage is steps 2 to 4 of the protocol, as a runtime does them: connect, one sendmsg of
// the state with the fds in SCM_RIGHTS, close.
func sendMessage(socket string, state []byte, fds ...int) error {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return err
	}
	defer conn.Close()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := conn.WriteMsgUnix(state, oob, nil); err != nil {
		return err
	}
	return nil
}

// child is a filtered process started by the test.
type child struct {
	cmd            *exec.Cmd
	stdin          io.WriteCloser
	stdout, stderr bytes.Buffer
}

// startChild starts the filtered process of c; extra, if not nil, is its fd 3.
func startChild(t *testing.T, c childCase, extra *os.File) *child {
	t.Helper()
	if _, ok := filterArchs[runtime.GOARCH]; !ok {
		t.Skipf("the test's filter is not written for %s", runtime.GOARCH)
	}
	spec, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	ch := &child{cmd: exec.CommandContext(ctx, os.Args[0], "-test.run=^$")}
	ch.cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	ch.cmd.Stdout, ch.cmd.Stderr = &ch.stdout, &ch.stderr
	if extra != nil {
		ch.cmd.ExtraFiles = []*os.File{extra}
	}
	if c.Wait {
		if ch.stdin, err = ch.cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.cmd.Process.Kill(); ch.cmd.Wait() })
	return ch
}

// goAhead lets a child started with Wait make its calls.
func (ch *child) goAhead(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(ch.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
}

// wait returns the child's report; it has been reaped.
func (ch *child) wait(t *testing.T) childOut {
	t.Helper()
	if err := ch.cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, ch.stderr.Bytes())
	}
	var out childOut
	if err := json.Unmarshal(ch.stdout.Bytes(), &out); err != nil {
		t.Fatalf("child output %q: %v", ch.stdout.Bytes(), err)
	}
	return out
}

func runFilteredChild(t *testing.T, c childCase) childOut {
	t.Helper()
	return startChild(t, c, nil).wait(t)
}

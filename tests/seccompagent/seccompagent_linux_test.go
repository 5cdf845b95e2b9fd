package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/tests/internal/syncbuf"
)

// mainEnv runs the test binary as the command, with its arguments.
const mainEnv = "SECCOMPAGENT_TEST_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testAgent is run in a goroutine of the test.
type testAgent struct {
	opts           options
	stdout, stderr syncbuf.Buffer
	cancel         context.CancelFunc
	done           chan error
	stopOnce       sync.Once
	err            error
}

// startAgent runs the agent with policy p and a state dir, changed by edits, and returns once it
// is ready; it is stopped when the test ends.
func startAgent(t *testing.T, p policy, edits ...func(*options)) *testAgent {
	t.Helper()
	if errNoSyscallNames != nil {
		t.Skip(errNoSyscallNames)
	}
	if _, err := checkNotifSizes(); err != nil {
		t.Skipf("no seccomp user notification in this kernel: %v", err)
	}
	dir := t.TempDir()
	a := &testAgent{
		opts: options{
			socket:    filepath.Join(dir, "agent.sock"),
			stateDir:  filepath.Join(dir, "state"),
			readyFile: filepath.Join(dir, "ready"),
			policy:    p,
		},
		done: make(chan error, 1),
	}
	for _, edit := range edits {
		edit(&a.opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go func() { a.done <- run(ctx, a.opts, &a.stdout, &a.stderr) }()
	t.Cleanup(func() { a.stop(t) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(a.opts.readyFile); err == nil {
			return a
		}
		select {
		case err := <-a.done:
			t.Fatalf("run ended before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no ready file after 10s")
		}
	}
}

// stop ends the agent as a signal does and returns what run returned.
func (a *testAgent) stop(t *testing.T) error {
	t.Helper()
	a.stopOnce.Do(func() {
		a.cancel()
		select {
		case a.err = <-a.done:
		case <-time.After(10 * time.Second):
			t.Fatal("run still going 10s after it was stopped")
		}
	})
	return a.err
}

func (a *testAgent) stateFile(name string) string { return filepath.Join(a.opts.stateDir, name) }

// readStateFile returns the content of a file the agent wrote, which must be there.
func (a *testAgent) readStateFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(a.stateFile(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// waitFile waits for a file the agent writes on its own time.
func waitFile(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 10s", name)
		}
	}
}

// TestRecordsTheStateSentWithEachListener: the state the runtime sent is written as it came,
// with its fd count, before any of the process's syscalls is answered.
func TestRecordsTheStateSentWithEachListener(t *testing.T) {
	a := startAgent(t, policy{})
	dir := t.TempDir()
	out := runFilteredChild(t, childCase{
		Socket:   a.opts.socket,
		Metadata: "test metadata: 42",
		Calls:    []call{{Path: filepath.Join(dir, "d")}},
	})

	got := a.readStateFile(t, "state-1.json")
	if got != out.Sent {
		t.Errorf("state-1.json = %s\nwant what was sent: %s", got, out.Sent)
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal([]byte(got), &st); err != nil {
		t.Fatal(err)
	}
	if st.Pid != out.Pid || st.Metadata != "test metadata: 42" || st.State.ID != "agent-test" ||
		st.State.Status != specs.StateCreating || st.State.Bundle != "/run/bundles/agent-test" ||
		st.State.Annotations["org.nebulon.test"] != "seccompagent" {
		t.Errorf("state-1.json decodes to %+v", st)
	}
	if got := a.readStateFile(t, "fds-1"); got != "1\n" {
		t.Errorf("fds-1 = %q, want %q", got, "1\n")
	}
	if got, want := a.readStateFile(t, "log"), fmt.Sprintf("mkdirat %d\n", out.Pid); got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	if _, err := os.Stat(a.stateFile("state-2.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state-2.json after one message: %v", err)
	}
}

// TestAnswersNotifiedSyscallsByName checks the three answers: success without running the
// syscall (no directory), --errno's errno, and --allow's kernel run (a directory, then EEXIST).
func TestAnswersNotifiedSyscallsByName(t *testing.T) {
	hasMkdir := filterArchs[runtime.GOARCH].mkdir >= 0
	for _, tc := range []struct {
		name    string
		policy  policy
		mkdir   bool // also call mkdir(2), where there is one
		want    []unix.Errno
		created bool
	}{
		{name: "default: returns 0 without running",
			want: []unix.Errno{0, 0}},
		{name: "errno by name and by number",
			policy: policy{errnos: errnoRules{"mkdirat": unix.ENOSPC, "mkdir": unix.Errno(1)}},
			mkdir:  true,
			want:   []unix.Errno{unix.ENOSPC, unix.ENOSPC, unix.EPERM}},
		{name: "allow: the kernel runs it",
			policy:  policy{allow: allowRules{"mkdirat": true}},
			want:    []unix.Errno{0, unix.EEXIST},
			created: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.mkdir && !hasMkdir {
				t.Skipf("%s has no mkdir(2)", runtime.GOARCH)
			}
			a := startAgent(t, tc.policy)
			path := filepath.Join(t.TempDir(), "d")
			calls := []call{{Path: path}, {Path: path}}
			if tc.mkdir {
				calls = append(calls, call{Path: path, Mkdir: true})
			}
			out := runFilteredChild(t, childCase{Socket: a.opts.socket, Calls: calls})

			for i, errno := range out.Errnos {
				if errno != int(tc.want[i]) {
					t.Errorf("call %d (%+v): errno %d, want %d (%v)", i, calls[i], errno, int(tc.want[i]), tc.want[i])
				}
			}
			if _, err := os.Stat(path); (err == nil) != tc.created {
				t.Errorf("stat %s: %v; want a directory: %v", path, err, tc.created)
			}
			want := strings.Repeat(fmt.Sprintf("mkdirat %d\n", out.Pid), 2)
			if tc.mkdir {
				want += fmt.Sprintf("mkdir %d\n", out.Pid)
			}
			if got := a.readStateFile(t, "log"); got != want {
				t.Errorf("log = %q, want %q", got, want)
			}
		})
	}
}

// TestServesEachListenerWhileOthersLive: the init's listener is still open when an exec'd
// process's comes, as in a container; both must be answered, in their own time.
func TestServesEachListenerWhileOthersLive(t *testing.T) {
	a := startAgent(t, policy{errnos: errnoRules{"mkdirat": unix.EROFS}})
	dir := t.TempDir()
	first := startChild(t, childCase{Socket: a.opts.socket, Wait: true, Calls: []call{{Path: filepath.Join(dir, "a")}}}, nil)
	waitFile(t, a.stateFile("state-1.json"))

	second := runFilteredChild(t, childCase{Socket: a.opts.socket, Calls: []call{{Path: filepath.Join(dir, "b")}}})
	first.goAhead(t)
	firstOut := first.wait(t)

	for _, out := range []childOut{firstOut, second} {
		if len(out.Errnos) != 1 || unix.Errno(out.Errnos[0]) != unix.EROFS {
			t.Errorf("pid %d: errnos %v, want [%d]", out.Pid, out.Errnos, int(unix.EROFS))
		}
	}
	if got := a.readStateFile(t, "state-1.json"); got != firstOut.Sent {
		t.Errorf("state-1.json = %s, want the first process's %s", got, firstOut.Sent)
	}
	if got := a.readStateFile(t, "state-2.json"); got != second.Sent {
		t.Errorf("state-2.json = %s, want the second process's %s", got, second.Sent)
	}
	want := fmt.Sprintf("mkdirat %d\nmkdirat %d\n", second.Pid, firstOut.Pid)
	if got := a.readStateFile(t, "log"); got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

// TestClosesFdsOtherThanTheListener: a named fd besides seccompFd is counted and closed.
func TestClosesFdsOtherThanTheListener(t *testing.T) {
	a := startAgent(t, policy{})
	r, w := pipe(t)
	ch := startChild(t, childCase{
		Socket:  a.opts.socket,
		Fds:     []string{specs.SeccompFdName, "extra"},
		ExtraFd: true,
		Calls:   []call{{Path: filepath.Join(t.TempDir(), "d")}},
	}, w)
	w.Close()
	out := ch.wait(t)

	if len(out.Errnos) != 1 || out.Errnos[0] != 0 {
		t.Errorf("errnos %v, want [0]", out.Errnos)
	}
	if got := a.readStateFile(t, "fds-1"); got != "2\n" {
		t.Errorf("fds-1 = %q, want %q", got, "2\n")
	}
	wantClosed(t, r)
}

// TestRefusesMalformedMessagesAndGoesOn sends what a broken runtime might: each message is
// refused with a reason on stderr, its fds are closed, it gets no number, and the agent still
// serves the next runtime.
func TestRefusesMalformedMessagesAndGoesOn(t *testing.T) {
	a := startAgent(t, policy{})
	stateJSON := func(fds ...string) string {
		data, err := json.Marshal(specs.ContainerProcessState{Version: specs.Version, Fds: fds, Pid: 1})
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for _, tc := range []struct {
		name    string
		data    string
		nfds    int // pipe write ends sent
		wantErr string
	}{
		{"no message", "", 0, "connection closed before a message came"},
		{"not JSON", "hello", 1, "decode state: invalid character 'h' looking for beginning of value"},
		{"no fd", stateJSON("seccompFd"), 0, `message carries 0 fds but its state names 1: ["seccompFd"]`},
		{"more fds than named", stateJSON("seccompFd"), 2, `message carries 2 fds but its state names 1: ["seccompFd"]`},
		{"no seccompFd", stateJSON("pidFd"), 1, `state's fds ["pidFd"] has no "seccompFd"`},
		{"not a listener", stateJSON("seccompFd"), 1, `fd "seccompFd" is "pipe:[`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				reads, writes []*os.File
				fds           []int
			)
			for range tc.nfds {
				r, w := pipe(t)
				reads, writes = append(reads, r), append(writes, w)
				fds = append(fds, int(w.Fd()))
			}
			if err := sendMessage(a.opts.socket, []byte(tc.data), fds...); err != nil {
				t.Fatal(err)
			}
			for _, w := range writes {
				w.Close()
			}
			want := "seccompagent: refuse message on " + a.opts.socket + ": " + tc.wantErr
			a.stderr.WaitFor(t, want)
			for _, r := range reads {
				wantClosed(t, r)
			}
		})
	}
	if names, _ := filepath.Glob(a.stateFile("*-*")); len(names) != 0 {
		t.Errorf("state files for refused messages: %q", names)
	}
	out := runFilteredChild(t, childCase{Socket: a.opts.socket, Calls: []call{{Path: filepath.Join(t.TempDir(), "d")}}})
	if got := a.readStateFile(t, "state-1.json"); got != out.Sent {
		t.Errorf("state-1.json = %s, want the first accepted message %s", got, out.Sent)
	}
}

// TestListenerIsClosedOnceItsProcessesAreGone: POLLHUP ends a listener's service, so the agent
// holds no fd per process that ever ran.
func TestListenerIsClosedOnceItsProcessesAreGone(t *testing.T) {
	a := startAgent(t, policy{})
	runFilteredChild(t, childCase{Socket: a.opts.socket, Calls: []call{{Path: filepath.Join(t.TempDir(), "d")}}})
	// The kernel drops the filter's last user once the child is reaped, which wait did.
	for deadline := time.Now().Add(10 * time.Second); countListeners(t) != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d listener fds still open 10s after their process was reaped", countListeners(t))
		}
	}
}

// TestStopClosesListenersAndRemovesSocket: a signal ends the agent with no error, and a
// process still filtered then gets ENOSYS, the kernel's answer once no listener is open.
func TestStopClosesListenersAndRemovesSocket(t *testing.T) {
	a := startAgent(t, policy{})
	ch := startChild(t, childCase{Socket: a.opts.socket, Wait: true, Calls: []call{{Path: filepath.Join(t.TempDir(), "d")}}}, nil)
	waitFile(t, a.stateFile("state-1.json"))
	if n := countListeners(t); n != 1 {
		t.Fatalf("%d listener fds open while serving one process, want 1", n)
	}

	if err := a.stop(t); err != nil {
		t.Fatalf("run: %v, want nil once stopped", err)
	}
	if _, err := os.Lstat(a.opts.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after run: %v", err)
	}
	if n := countListeners(t); n != 0 {
		t.Errorf("%d listener fds open after run returned", n)
	}
	ch.goAhead(t)
	if out := ch.wait(t); len(out.Errnos) != 1 || unix.Errno(out.Errnos[0]) != unix.ENOSYS {
		t.Errorf("errnos %v once the agent stopped, want [%d] (ENOSYS)", out.Errnos, int(unix.ENOSYS))
	}
}

// TestLogsToStdoutWithoutStateDir: with no state dir, the syscall lines go to stdout.
func TestLogsToStdoutWithoutStateDir(t *testing.T) {
	a := startAgent(t, policy{}, func(o *options) { o.stateDir = "" })
	out := runFilteredChild(t, childCase{Socket: a.opts.socket, Calls: []call{{Path: filepath.Join(t.TempDir(), "d")}}})
	if got, want := a.stdout.String(), fmt.Sprintf("mkdirat %d\n", out.Pid); got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

// TestCommandExitCodes runs the command: 2 on bad usage, 1 on a setup error, 0 on SIGTERM with
// the socket removed.
func TestCommandExitCodes(t *testing.T) {
	if errNoSyscallNames != nil {
		t.Skip(errNoSyscallNames)
	}
	dir := t.TempDir()
	socket := filepath.Join(dir, "agent.sock")
	for _, tc := range []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{nil, 2, "usage: seccompagent [flags] SOCKET"},
		{[]string{"a", "b"}, 2, "usage: seccompagent [flags] SOCKET"},
		{[]string{"--errno", "mkdirat", socket}, 2, `"mkdirat": want NAME=ERRNO`},
		{[]string{"--errno", "mkdirat=EWHATEVER", socket}, 2, `errno "EWHATEVER": want a number or a name such as EPERM`},
		{[]string{"--allow", "no_such_syscall", socket}, 2, `unknown syscall "no_such_syscall"`},
		{[]string{"--errno", "mkdirat=EPERM", "--allow", "mkdirat", socket}, 2, `syscall "mkdirat" is given to both --errno and --allow`},
		{[]string{filepath.Join(dir, "missing", "agent.sock")}, 1, "seccompagent: listen unix " + filepath.Join(dir, "missing", "agent.sock")},
	} {
		cmd := command(t, tc.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := exitCode(t, err); code != tc.code || !strings.Contains(stderr.String(), tc.wantStderr) {
			t.Errorf("seccompagent %q: exit %d, stderr %q; want exit %d, stderr with %q", tc.args, code, stderr.String(), tc.code, tc.wantStderr)
		}
	}

	ready := filepath.Join(dir, "ready")
	cmd := command(t, "--ready-file", ready, "--state-dir", filepath.Join(dir, "state"), socket)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFile(t, ready)
	if err := cmd.Process.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0; stderr %q", code, stderr.String())
	}
	if _, err := os.Lstat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after SIGTERM: %v", err)
	}
}

// command is the test binary run as seccompagent with args.
func command(t *testing.T, args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr) && exitErr.Exited():
		return exitErr.ExitCode()
	}
	t.Fatalf("seccompagent: %v", err)
	return -1
}

func TestParseErrnoTakesANumberOrAName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want unix.Errno
		ok   bool
	}{
		{"EPERM", unix.EPERM, true},
		{"ENOSPC", unix.ENOSPC, true},
		{"28", unix.ENOSPC, true},
		{"4095", 4095, true},
		{"0", 0, false},
		{"4096", 0, false},
		{"-1", 0, false},
		{"eperm", 0, false},
		{"", 0, false},
	} {
		got, err := parseErrno(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseErrno(%q) = %d, %v; want %d, ok=%v", tc.in, int(got), err, int(tc.want), tc.ok)
		}
	}
}

func TestParseFlagsBuildsThePolicy(t *testing.T) {
	if errNoSyscallNames != nil {
		t.Skip(errNoSyscallNames)
	}
	opts, err := parseFlags([]string{"--state-dir", "/s", "--errno", "mkdirat=ENOSPC", "--errno", "mkdir=1",
		"--allow", "uname", "--allow", "getpid", "/sock"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if opts.socket != "/sock" || opts.stateDir != "/s" || opts.policy.errnos.String() != "mkdir=1,mkdirat=28" ||
		opts.policy.allow.String() != "getpid,uname" {
		t.Errorf("parseFlags = %+v", opts)
	}
	for name, want := range map[string]seccompNotifResp{
		"mkdirat": {ID: 7, Error: -int32(unix.ENOSPC)},
		"uname":   {ID: 7, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE},
		"chmod":   {ID: 7},
	} {
		if got := opts.policy.answer(7, name); got != want {
			t.Errorf("answer to %s = %+v, want %+v", name, got, want)
		}
	}
}

// TestSyscallNameUsesTheCallsABI: a number means a syscall in the table of the ABI it was made
// in; one libseccomp does not know is logged as its number.
func TestSyscallNameUsesTheCallsABI(t *testing.T) {
	if errNoSyscallNames != nil {
		t.Skip(errNoSyscallNames)
	}
	for _, tc := range []struct {
		arch uint32
		nr   int32
		want string
	}{
		{unix.AUDIT_ARCH_X86_64, 258, "mkdirat"},
		{unix.AUDIT_ARCH_X86_64, 83, "mkdir"},
		{unix.AUDIT_ARCH_I386, 39, "mkdir"},
		{unix.AUDIT_ARCH_AARCH64, 34, "mkdirat"},
		{unix.AUDIT_ARCH_X86_64, 0x40000000 | 83, "mkdir"}, // x32: __X32_SYSCALL_BIT | 83
		{unix.AUDIT_ARCH_X86_64, 9999, "#9999"},
		{0x1234, 83, "#83"},
	} {
		if got := syscallName(tc.arch, tc.nr); got != tc.want {
			t.Errorf("syscallName(%#x, %d) = %q, want %q", tc.arch, tc.nr, got, tc.want)
		}
	}
}

// TestNotifStructsAreTheKernels checks the structs against the sizes of the uapi header and
// those this kernel reports.
func TestNotifStructsAreTheKernels(t *testing.T) {
	if s := unsafe.Sizeof(seccompData{}); s != 64 {
		t.Errorf("seccomp_data is %d bytes, want 64", s)
	}
	if s := unsafe.Sizeof(seccompNotif{}); s != 80 {
		t.Errorf("seccomp_notif is %d bytes, want 80", s)
	}
	if s := unsafe.Sizeof(seccompNotifResp{}); s != 24 {
		t.Errorf("seccomp_notif_resp is %d bytes, want 24", s)
	}
	if _, err := checkNotifSizes(); err != nil {
		t.Error(err)
	}
}

// countListeners counts the seccomp listener fds the test process holds.
func countListeners(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if link, _ := os.Readlink("/proc/self/fd/" + e.Name()); link == seccompFdLink {
			n++
		}
	}
	return n
}

func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

// wantClosed checks that every write end of r's pipe is closed: r reads EOF.
func wantClosed(t *testing.T, r *os.File) {
	t.Helper()
	if err := r.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("read of the pipe = %d, %v; want EOF, every write end closed", n, err)
	}
}

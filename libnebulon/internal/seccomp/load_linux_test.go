//go:build cgo

package seccomp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// A filter stays on its thread for good, so each test that loads one does it in a child: the
// test binary re-executed with childEnv set to a childCase in JSON.
const childEnv = "NEBULON_SECCOMP_TEST_CHILD"

// agentVal is what the child's agent makes every notified syscall return.
const agentVal = 4242

type childCase struct {
	Filter *Filter `json:"filter"`
	Agent  bool    `json:"agent"` // answer notifications on the listener fd
	Calls  []call  `json:"calls"`
}

// call is one getppid(2) made with these register values: the kernel ignores getppid's
// arguments but the filter sees them, and the Go runtime never calls getppid itself.
type call [6]uint64

type result struct {
	Ret   uint64 `json:"ret"`
	Errno int    `json:"errno"`
}

type childOut struct {
	NotifyFd int      `json:"notifyFd"`
	FdLink   string   `json:"fdLink"` // /proc/self/fd/<notifyFd>
	FdInfo   bool     `json:"fdInfo"` // /proc/self/fdinfo/<notifyFd> exists
	Results  []result `json:"results"`
}

func TestMain(m *testing.M) {
	if c := os.Getenv(childEnv); c != "" {
		runChild(c)
	}
	os.Exit(m.Run())
}

// runChild loads the filter the way the init will (no_new_privs, as an unprivileged init has
// it; a locked thread that the calls then run on) and reports what the calls returned.
func runChild(spec string) {
	runtime.LockOSThread()
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(3)
	}
	var c childCase
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fail("decode case: %v", err)
	}
	// KILL_PROCESS dumps core; the test wants the signal, not a core file.
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		fail("setrlimit: %v", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("no_new_privs: %v", err)
	}
	fd, err := Load(c.Filter)
	if err != nil {
		fail("%v", err)
	}
	out := childOut{NotifyFd: fd}
	if fd >= 0 {
		out.FdLink, _ = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		_, err := os.Stat(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
		out.FdInfo = err == nil
		if c.Agent {
			go answer(fd) // on another thread, which the filter does not cover
		}
	}
	for _, a := range c.Calls {
		r, _, errno := unix.Syscall6(unix.SYS_GETPPID, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		out.Results = append(out.Results, result{Ret: uint64(r), Errno: int(errno)})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("encode: %v", err)
	}
	os.Exit(0)
}

func answer(fd int) {
	for {
		req, err := libseccomp.NotifReceive(libseccomp.ScmpFd(fd))
		if err != nil {
			fmt.Fprintf(os.Stderr, "agent: %v\n", err)
			os.Exit(4)
		}
		resp := &libseccomp.ScmpNotifResp{ID: req.ID, Val: agentVal}
		if err := libseccomp.NotifRespond(libseccomp.ScmpFd(fd), resp); err != nil {
			fmt.Fprintf(os.Stderr, "agent: %v\n", err)
			os.Exit(4)
		}
	}
}

// runFiltered compiles s, loads it in a child and makes the calls there. A child that a signal
// ended comes back as a nil childOut and its *exec.ExitError.
func runFiltered(t *testing.T, s *specs.LinuxSeccomp, agent bool, calls ...call) (*childOut, error) {
	t.Helper()
	f := mustCompile(t, s)
	spec, err := json.Marshal(childCase{Filter: f, Agent: agent, Calls: calls})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && exitErr.Sys().(syscall.WaitStatus).Signaled() {
		return nil, err
	}
	if err != nil {
		t.Fatalf("child: %v: %s", err, stderr.Bytes())
	}
	var out childOut
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("child output %q: %v", stdout.Bytes(), err)
	}
	if len(out.Results) != len(calls) {
		t.Fatalf("child made %d calls, want %d", len(out.Results), len(calls))
	}
	return &out, nil
}

// wantErrnos checks each call's errno; 0 means the call was allowed and returned the ppid.
func wantErrnos(t *testing.T, out *childOut, calls []call, want ...unix.Errno) {
	t.Helper()
	for i, r := range out.Results {
		switch {
		case want[i] != 0 && unix.Errno(r.Errno) != want[i]:
			t.Errorf("getppid%v: errno %d, want %d (%v)", calls[i], r.Errno, int(want[i]), want[i])
		case want[i] == 0 && (r.Errno != 0 || r.Ret != uint64(os.Getpid())):
			t.Errorf("getppid%v = %d errno %d, want allowed (%d)", calls[i], r.Ret, r.Errno, os.Getpid())
		}
	}
}

func getppidRule(action specs.LinuxSeccompAction, errnoRet *uint, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: []string{"getppid"}, Action: action, ErrnoRet: errnoRet, Args: args}
}

func TestLoadedFilterActs(t *testing.T) {
	const enosys = 38
	tests := []struct {
		name  string
		rule  specs.LinuxSyscall
		calls []call
		want  []unix.Errno
	}{
		{"errno defaults to EPERM", getppidRule(specs.ActErrno, nil),
			[]call{{}}, []unix.Errno{unix.EPERM}},
		{"errnoRet", getppidRule(specs.ActErrno, uintp(enosys)),
			[]call{{}}, []unix.Errno{enosys}},
		{"conditions on distinct arguments must all hold", getppidRule(specs.ActErrno, uintp(enosys),
			specs.LinuxSeccompArg{Index: 0, Value: 5, Op: specs.OpEqualTo},
			specs.LinuxSeccompArg{Index: 1, Value: 10, Op: specs.OpGreaterThan}),
			[]call{{5, 11}, {5, 10}, {4, 11}}, []unix.Errno{enosys, 0, 0}},
		{"conditions on one argument are alternatives", getppidRule(specs.ActErrno, uintp(enosys),
			specs.LinuxSeccompArg{Index: 2, Value: 1, Op: specs.OpEqualTo},
			specs.LinuxSeccompArg{Index: 2, Value: 2, Op: specs.OpEqualTo}),
			[]call{{0, 0, 1}, {0, 0, 2}, {0, 0, 3}}, []unix.Errno{enosys, enosys, 0}},
		{"masked equal: value is the mask, valueTwo the datum", getppidRule(specs.ActErrno, uintp(enosys),
			specs.LinuxSeccompArg{Index: 0, Value: 0xff00, ValueTwo: 0x1200, Op: specs.OpMaskedEqual}),
			[]call{{0x1234}, {0xab12ff}, {0x1334}, {0x12}}, []unix.Errno{enosys, enosys, 0, 0}},
		{"arguments compare on 64 bits", getppidRule(specs.ActErrno, uintp(enosys),
			specs.LinuxSeccompArg{Index: 0, Value: 0xffffffff, Op: specs.OpEqualTo}),
			[]call{{0xffffffff}, {0x1ffffffff}}, []unix.Errno{enosys, 0}},
		{"not equal, less, less or equal, greater or equal", getppidRule(specs.ActErrno, uintp(enosys),
			specs.LinuxSeccompArg{Index: 0, Value: 7, Op: specs.OpNotEqual},
			specs.LinuxSeccompArg{Index: 1, Value: 3, Op: specs.OpLessThan},
			specs.LinuxSeccompArg{Index: 2, Value: 3, Op: specs.OpLessEqual},
			specs.LinuxSeccompArg{Index: 3, Value: 3, Op: specs.OpGreaterEqual}),
			[]call{{1, 2, 3, 3}, {7, 2, 3, 3}, {1, 3, 3, 3}, {1, 2, 4, 3}, {1, 2, 3, 2}}, []unix.Errno{enosys, 0, 0, 0, 0}},
		{"log allows", getppidRule(specs.ActLog, nil),
			[]call{{}}, []unix.Errno{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runFiltered(t, allowExcept(tt.rule), false, tt.calls...)
			if err != nil {
				t.Fatalf("child: %v", err)
			}
			if out.NotifyFd != -1 {
				t.Errorf("notify fd %d without a notify rule, want -1", out.NotifyFd)
			}
			wantErrnos(t, out, tt.calls, tt.want...)
		})
	}
}

func TestLoadedFilterWithManyRulesIsATree(t *testing.T) {
	// Over optimizeAbove rules, as a Docker-style deny list: the binary-tree filter must
	// still find getppid and pass the rest.
	names := strings.Fields(`acct add_key bpf chroot delete_module finit_module fsconfig fsmount fsopen
		fspick init_module ioperm iopl kcmp kexec_file_load kexec_load keyctl lookup_dcookie mount
		move_mount open_by_handle_at open_tree perf_event_open pivot_root quotactl reboot request_key
		setns swapoff swapon sysfs umount2 unshare uselib userfaultfd vhangup getppid`)
	if len(names) <= optimizeAbove {
		t.Fatalf("%d names do not pass optimizeAbove", len(names))
	}
	// The child writing its report and exiting shows the syscalls off the list still pass.
	calls := []call{{}}
	out, err := runFiltered(t, allowExcept(specs.LinuxSyscall{Names: names, Action: specs.ActErrno}), false, calls...)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	wantErrnos(t, out, calls, unix.EPERM)
}

func TestKillProcessEndsTheProcessWithSIGSYS(t *testing.T) {
	_, err := runFiltered(t, allowExcept(getppidRule(specs.ActKillProcess, nil)), false, call{})
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("child survived KILL_PROCESS: %v", err)
	}
	if ws := exitErr.Sys().(syscall.WaitStatus); ws.Signal() != unix.SIGSYS {
		t.Errorf("child ended by %v, want SIGSYS", ws.Signal())
	}
}

func TestLogFlagLoads(t *testing.T) {
	s := allowExcept(getppidRule(specs.ActErrno, nil))
	s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, flagTsync}
	calls := []call{{}}
	out, err := runFiltered(t, s, false, calls...)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	wantErrnos(t, out, calls, unix.EPERM)
}

func TestNotifyReturnsAListenerTheAgentAnswersOn(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock",
		Syscalls: []specs.LinuxSyscall{getppidRule(specs.ActNotify, nil)}}
	if kernelHasFlag(unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV) {
		s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
	}
	out, err := runFiltered(t, s, true, call{})
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if out.NotifyFd < 0 || !out.FdInfo || out.FdLink != "anon_inode:seccomp notify" {
		t.Errorf("notify fd %d (%q, fdinfo %v), want a seccomp listener", out.NotifyFd, out.FdLink, out.FdInfo)
	}
	if r := out.Results[0]; r.Errno != 0 || r.Ret != agentVal {
		t.Errorf("notified getppid = %d errno %d, want the agent's %d", r.Ret, r.Errno, agentVal)
	}
}

func TestLoadNamesTheFlagTheKernelLacks(t *testing.T) {
	// The kernel checks flags before it reads the program, so this installs nothing on the
	// test's thread.
	f := mustCompile(t, allowExcept())
	f.Flags |= 1 << 30
	_, err := Load(f)
	if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "the kernel does not support seccomp filter flag 0x40000000") {
		t.Errorf("Load = %v, want EINVAL naming flag 0x40000000", err)
	}
	if _, err := Load(&Filter{}); err == nil {
		t.Error("Load of an empty program succeeded")
	}
}

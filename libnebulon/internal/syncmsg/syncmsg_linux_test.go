package syncmsg

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func pair(t *testing.T) (runtime, child *Conn) {
	t.Helper()
	a, b, err := Pair()
	if err != nil {
		t.Fatal(err)
	}
	runtime, child = NewConn(a), NewConn(b)
	t.Cleanup(func() { runtime.Close(); child.Close() })
	return runtime, child
}

// Every message that crosses from Go to Go comes back as it was sent, as its own type.
func TestEveryMessageRoundTrips(t *testing.T) {
	runtime, child := pair(t)
	for _, m := range []Message{
		&UserMap{}, &UserMapDone{}, NewPid(4242), &PidAck{}, &Up{}, &JoinCgroup{}, &LeaveCgroup{}, &CgroupMoved{},
		&InitConfig{ID: "c1", Spec: &specs.Spec{Version: "1.2.0"}, CgroupPaths: map[string]string{"": "/c1"}, MountNS: true},
		&Hooks{}, &HooksDone{}, NewSeccompFd(7), &SeccompFdDone{}, &Ready{},
		NewError(errors.New("mount /proc: permission denied")), NewHookError(errors.New("createContainer hook #0")),
		&Log{Level: 4, Msg: "capability unknown"},
	} {
		if err := child.Send(m); err != nil {
			t.Fatal(err)
		}
		got, err := runtime.Recv()
		if err != nil {
			t.Fatalf("receive %s: %v", m.msgType(), err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: got %#v, sent %#v", m.msgType(), got, m)
		}
	}
}

// Expect returns the message it wants, an Error as the error it carries, and names a wrong type.
func TestExpect(t *testing.T) {
	runtime, child := pair(t)
	child.Send(NewSeccompFd(7))
	child.Send(&Ready{})
	child.Send(NewError(errors.New("setup failed")))
	if m, err := Expect[*SeccompFd](runtime); err != nil || m.Fd() != 7 {
		t.Fatalf("Expect seccomp-fd = %v, %v; want fd 7", m, err)
	}
	if _, err := Expect[*HooksDone](runtime); err == nil || err.Error() != "sync: got ready, want hooks-done" {
		t.Errorf("Expect of the wrong type: %v", err)
	}
	var peer *Error
	if _, err := Expect[*HooksDone](runtime); !errors.As(err, &peer) || peer.Msg != "setup failed" {
		t.Errorf("Expect of an Error = %v, want the peer's text", err)
	}
	child.Close()
	if _, err := runtime.Recv(); !errors.Is(err, ErrClosed) {
		t.Errorf("after the peer closed: %v, want ErrClosed", err)
	}
}

// A payload that does not fit its type is an error naming the message, not a zero value.
func TestRecvRefusesAMalformedPayload(t *testing.T) {
	runtime, child := pair(t)
	child.f.Write([]byte{byte(typePid), 0, 0, 0, 1, 2}) // a pid of 2 bytes
	if _, err := runtime.Recv(); err == nil || err.Error() != "sync: decode pid: payload of 2 bytes, want 4" {
		t.Errorf("Recv of a short pid = %v", err)
	}
	child.f.Write([]byte{99, 0, 0, 0})
	if _, err := runtime.Recv(); err == nil || err.Error() != "sync: unknown message(99)" {
		t.Errorf("Recv of an unknown type = %v", err)
	}
}

func TestBootstrapRecordsArePadded(t *testing.T) {
	b := &Bootstrap{CloneFlags: 1, Join: []NsJoin{{Flag: 2, Path: "/p"}}, TimeOffsets: "monotonic 1 0"}
	if n := len(b.Encode()); n%4 != 0 {
		t.Fatalf("encoded length %d is not a multiple of 4: the C reader expects padded records", n)
	}
}

// The C stage's numbers are generated from these tables; this fails when someone changed one
// and did not run `go generate ./libnebulon/internal/syncmsg`.
func TestCHeaderIsUpToDate(t *testing.T) {
	have, err := os.ReadFile("../nsexec/syncmsg.h")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, CHeader()) {
		t.Fatalf("libnebulon/internal/nsexec/syncmsg.h is stale: run go generate ./libnebulon/internal/syncmsg\nhave:\n%s\nwant:\n%s", have, CHeader())
	}
}

// MountFds carries its fds as SCM_RIGHTS: the init gets working fds on the same files, in order.
func TestMountFdsCarryTheirFds(t *testing.T) {
	runtime, child := pair(t)
	dir := t.TempDir()
	var sent []int
	for _, name := range []string{"a", "b"} {
		f, err := os.Create(dir + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sent = append(sent, int(f.Fd()))
	}
	if err := runtime.Send(&MountFds{Mounts: []int{3, 7}, Fds: sent}); err != nil {
		t.Fatal(err)
	}
	m, err := Expect[*MountFds](child)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Mounts, []int{3, 7}) || len(m.Fds) != 2 {
		t.Fatalf("got %+v", m)
	}
	for i, name := range []string{"a", "b"} {
		got, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", m.Fds[i]))
		if err != nil || got != dir+"/"+name {
			t.Errorf("fd %d names %q (%v), want %s", i, got, err, dir+"/"+name)
		}
		unix.Close(m.Fds[i])
	}
}

// Fds sent with any other message are closed, not handed on.
func TestFdsOnOtherMessagesAreDropped(t *testing.T) {
	runtime, child := pair(t)
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := []byte{byte(typeReady), 0, 0, 0}
	if err := runtime.sendFds(typeReady, buf, []int{int(f.Fd())}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir("/proc/self/fd")
	if _, err := Expect[*Ready](child); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadDir("/proc/self/fd")
	if len(after) > len(before) {
		t.Errorf("%d fds open after the receive, %d before", len(after), len(before))
	}
}

// SeccompAgent carries one connection and the state; a packet with another count of fds is
// refused, and its fds closed.
func TestSeccompAgentCarriesOneConnection(t *testing.T) {
	runtime, child := pair(t)
	a, b, err := socketpair()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(a)
	defer unix.Close(b)
	state := []byte(`{"ociVersion":"1.3.0","fds":["seccompFd"]}`)
	if err := runtime.Send(&SeccompAgent{State: state, Conn: a}); err != nil {
		t.Fatal(err)
	}
	m, err := Expect[*SeccompAgent](child)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(m.Conn)
	if string(m.State) != string(state) {
		t.Errorf("state %s, want %s", m.State, state)
	}
	// The fd received is the same socket: what is written to it arrives at b.
	if _, err := unix.Write(m.Conn, []byte("x")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1)
	if n, err := unix.Read(b, got); err != nil || n != 1 || got[0] != 'x' {
		t.Fatalf("read %q, %v from the other end", got[:n], err)
	}

	before, _ := os.ReadDir("/proc/self/fd")
	buf := append([]byte{byte(typeSeccompAgent), 0, 0, 0}, `{"state":{}}`...)
	if err := runtime.sendFds(typeSeccompAgent, buf, []int{a, b}); err != nil {
		t.Fatal(err)
	}
	if _, err := child.Recv(); err == nil || !strings.Contains(err.Error(), "2 fds for one agent connection") {
		t.Errorf("two fds: got %v, want an error naming them", err)
	}
	after, _ := os.ReadDir("/proc/self/fd")
	if len(after) > len(before) {
		t.Errorf("%d fds open after the refused receive, %d before", len(after), len(before))
	}
}

func socketpair() (int, int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	return fds[0], fds[1], err
}

// A bounded Recv on the runtime's end fails with ErrTimeout when nothing comes, and a message
// sent in time still arrives.
func TestRecvTimeout(t *testing.T) {
	runtime, child := pair(t)
	runtime.SetTimeout(50 * time.Millisecond)
	start := time.Now()
	_, err := runtime.Recv()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Recv with nothing sent: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Recv took %v with a 50ms timeout", d)
	}
	if err := child.Send(&Ready{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Expect[*Ready](runtime); err != nil {
		t.Errorf("Recv after a timeout: %v", err)
	}
}

// InitConfig carries every field of its own and the part of the spec the init reads; the
// runtime's part of the spec (linux.resources here) stays behind.
func TestInitConfigCarriesTheInitsPartOfTheSpec(t *testing.T) {
	runtime, child := pair(t)
	limit := int64(1 << 20)
	spec := &specs.Spec{
		Version: "1.3.0", Hostname: "h", Domainname: "d",
		Process:     &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"A=1"}},
		Root:        &specs.Root{Path: "/r", Readonly: true},
		Mounts:      []specs.Mount{{Destination: "/proc", Type: "proc", Source: "proc"}},
		Hooks:       &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/bin/true"}}},
		Annotations: map[string]string{"a": "b"},
		Linux: &specs.Linux{
			UIDMappings: []specs.LinuxIDMapping{{HostID: 1000, Size: 1}}, GIDMappings: []specs.LinuxIDMapping{{HostID: 1000, Size: 1}},
			Sysctl: map[string]string{"net.ipv4.ip_forward": "1"}, Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}},
			Devices: []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}, RootfsPropagation: "rslave",
			MaskedPaths: []string{"/proc/kcore"}, ReadonlyPaths: []string{"/proc/sys"}, MountLabel: "l",
			Personality:  &specs.LinuxPersonality{Domain: specs.PerLinux},
			MemoryPolicy: &specs.LinuxMemoryPolicy{Mode: "MPOL_BIND", Nodes: "0"},
			Resources:    &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}},
		},
	}
	sent := &InitConfig{ID: "c1", Bundle: "/b", Rootfs: "/r", Spec: spec, NoPivot: true, PreserveFds: 2, InitPid: 7,
		CgroupPaths: map[string]string{"": "/c1"}, CgroupNS: true, CgroupMemory: true, UserNS: true, MountNS: true, MountFds: true}
	if err := runtime.Send(sent); err != nil {
		t.Fatal(err)
	}
	got, err := Expect[*InitConfig](child)
	if err != nil {
		t.Fatal(err)
	}
	want := *sent
	wantSpec := *spec
	wantLinux := *spec.Linux
	wantLinux.Resources = nil
	wantSpec.Linux = &wantLinux
	want.Spec = &wantSpec
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("received\n%+v\n%+v\nwant\n%+v\n%+v", got, got.Spec.Linux, &want, want.Spec.Linux)
	}
}

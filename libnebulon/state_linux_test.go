package libnebulon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestStoreSaveLoadRoundTrip(t *testing.T) {
	root := t.TempDir()
	s, err := createStore(root, "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := &State{ID: "c1", Bundle: "/b", InitPid: 42, InitStartTime: 7, Created: time.Unix(1, 0).UTC()}
	if err := s.save(want); err != nil {
		t.Fatal(err)
	}
	if err := s.publish(); err != nil {
		t.Fatal(err)
	}
	s.unlock()
	s2, err := openStore(root, "c1", unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.unlock()
	got, err := s2.load()
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.InitPid != 42 || got.InitStartTime != 7 || !got.Created.Equal(want.Created) {
		t.Errorf("load = %+v, want %+v", got, want)
	}
}

func TestCreateStoreRefusesAnExistingID(t *testing.T) {
	root := t.TempDir()
	s, err := createStore(root, "dup")
	if err != nil {
		t.Fatal(err)
	}
	defer s.unlock()
	// Two creates of one id: both get a temporary directory, the second to publish loses.
	s2, err := createStore(root, "dup")
	if err != nil {
		t.Fatal(err)
	}
	defer s2.unlock()
	for _, st := range []*store{s, s2} {
		if err := st.save(&State{ID: "dup"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.publish(); err != nil {
		t.Fatal(err)
	}
	if err := s2.publish(); !errors.Is(err, ErrExist) {
		t.Fatalf("second publish: %v, want ErrExist", err)
	}
	if _, err := createStore(root, "dup"); !errors.Is(err, ErrExist) {
		t.Fatalf("createStore of a published id: %v, want ErrExist", err)
	}
}

// A create killed after it saved its first state but before it published it leaves a temporary
// directory: no command takes it for a container, and the next create of the id, or a delete
// --force of it, removes it. One whose creator still holds its lock stays.
func TestTemporaryStateDirectoriesOfKilledCreates(t *testing.T) {
	root := t.TempDir()
	killed, err := createStore(root, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := killed.save(&State{ID: "k"}); err != nil {
		t.Fatal(err)
	}
	killed.unlock() // what the kill does
	alive, err := createStore(root, "live")
	if err != nil {
		t.Fatal(err)
	}
	defer alive.unlock()
	if err := alive.save(&State{ID: "live"}); err != nil {
		t.Fatal(err)
	}
	if got, err := List(root); err != nil || len(got) != 0 {
		t.Fatalf("List = %v, %v; want no container", got, err)
	}
	if _, err := openStore(root, "k", unix.LOCK_EX); !errors.Is(err, ErrNotExist) {
		t.Fatalf("openStore of an unpublished id: %v, want ErrNotExist", err)
	}
	SweepOrphans(root, "live")
	SweepOrphans(root, "k")
	names := func() []string {
		entries, _ := os.ReadDir(root)
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	left := names()
	if len(left) != 1 || !strings.HasPrefix(left[0], "live"+creatingMark) {
		t.Fatalf("after the sweeps the root holds %v, want only live's temporary directory", left)
	}
	// A new create of k works, and sweeps as it goes.
	if _, err := os.MkdirTemp(root, "k"+creatingMark); err != nil {
		t.Fatal(err)
	}
	s, err := createStore(root, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer s.unlock()
	if got := len(names()); got != 2 {
		t.Fatalf("after create of k the root holds %v, want live's and the new k's", names())
	}
}

// remove takes the id away in one rename before the files go: a delete killed half way through
// them leaves an ID:deleting:RAND directory, which is no container and which the next delete
// --force (SweepOrphans) removes; the id is free for a new create at once.
func TestRemoveFreesTheIDFirst(t *testing.T) {
	root := t.TempDir()
	s, err := createStore(root, "d")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.save(&State{ID: "d"}); err != nil {
		t.Fatal(err)
	}
	if err := s.publish(); err != nil {
		t.Fatal(err)
	}
	s.close()
	loaded, err := openStore(root, "d", unix.LOCK_EX)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.remove(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("after remove the root holds %v, want nothing", entries)
	}
	// What a delete killed while its files went leaves behind.
	half := filepath.Join(root, "d"+deletingMark+"x")
	if err := os.MkdirAll(filepath.Join(half, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := List(root); err != nil || len(got) != 0 {
		t.Fatalf("List = %v, %v; want no container", got, err)
	}
	if _, err := openStore(root, "d", unix.LOCK_EX); !errors.Is(err, ErrNotExist) {
		t.Fatalf("openStore of a removed id: %v, want ErrNotExist", err)
	}
	SweepOrphans(root, "d")
	if _, err := os.Stat(half); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SweepOrphans left %s: %v", half, err)
	}
}

func TestOpenStoreWithoutStateIsNotExist(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "half"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := openStore(root, "half", unix.LOCK_EX); !errors.Is(err, ErrNotExist) {
		t.Fatalf("openStore on a dir without state.json: %v, want ErrNotExist", err)
	}
	if _, err := openStore(root, "none", unix.LOCK_EX); !errors.Is(err, ErrNotExist) {
		t.Fatalf("openStore on a missing dir: %v, want ErrNotExist", err)
	}
}

func TestStoreLockSerialisesCommands(t *testing.T) {
	root := t.TempDir()
	s, err := createStore(root, "c")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.save(&State{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	done := make(chan struct{})
	go func() {
		s2, err := openStore(root, "c", unix.LOCK_EX)
		if err == nil {
			mu.Lock()
			order = append(order, "second")
			mu.Unlock()
			s2.unlock()
		}
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	order = append(order, "first")
	mu.Unlock()
	if err := s.remove(); err != nil {
		t.Fatal(err)
	}
	<-done
	if len(order) != 1 || order[0] != "first" {
		t.Fatalf("order = %v: the waiter must block on the lock and then find the container gone", order)
	}
}

func TestValidateIDRejectsPathsAndOverlongIDs(t *testing.T) {
	long := make([]byte, 1025)
	for i := range long {
		long[i] = 'a'
	}
	for _, id := range []string{"", ".", "..", "a/b", "../x", string(long), "a b", "x\x00"} {
		if err := ValidateID(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalidID", id, err)
		}
	}
	for _, id := range []string{"a", "abc-123_x.y+z", "0d2f6c1e-9c4e-4f0e-8b2a-1c2d3e4f5a6b"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("ValidateID(%q) = %v, want nil", id, err)
		}
	}
}

// A lock held elsewhere is waited for, up to lockWait, then refused with a message naming the
// container; a reader (Peek's 0) does not wait at all.
func TestLockWaitIsBounded(t *testing.T) {
	root := t.TempDir()
	s, err := createStore(root, "held")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.save(&State{ID: "held"}); err != nil {
		t.Fatal(err)
	}
	if err := s.publish(); err != nil {
		t.Fatal(err)
	}
	defer s.unlock()
	old := lockWait
	lockWait = 100 * time.Millisecond
	defer func() { lockWait = old }()
	start := time.Now()
	_, err = openStore(root, "held", unix.LOCK_EX)
	if err == nil || !strings.Contains(err.Error(), "container held is busy") {
		t.Fatalf("lock held elsewhere: %v, want a busy error naming the container", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("waited %v for a 100ms lockWait", d)
	}
	r, err := openStore(root, "held", 0)
	if err != nil {
		t.Fatalf("open without a lock while another holds it: %v", err)
	}
	if _, err := r.load(); err != nil {
		t.Errorf("read without a lock: %v", err)
	}
}

// What exec and kill read of the saved spec (processView) is the saved spec's, field for field.
func TestLoadProcessSpecKeepsWhatExecAndKillRead(t *testing.T) {
	adj, umask := 100, uint32(0o27)
	full := &specs.Spec{
		Version:     specs.Version,
		Process:     &specs.Process{Args: []string{"sh"}, Env: []string{"A=1"}, Cwd: "/w", OOMScoreAdj: &adj, User: specs.User{UID: 1, Umask: &umask}, Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}}, Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 9, Soft: 8}}},
		Annotations: map[string]string{"a": "b"},
		Hostname:    "not read",
		Linux: &specs.Linux{
			Namespaces:   []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/run/netns/x"}},
			UIDMappings:  []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}},
			GIDMappings:  []specs.LinuxIDMapping{{ContainerID: 0, HostID: 2000, Size: 10}},
			Seccomp:      &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock", Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}},
			Personality:  &specs.LinuxPersonality{Domain: specs.PerLinux32},
			MemoryPolicy: &specs.LinuxMemoryPolicy{Mode: "MPOL_BIND", Nodes: "0"},
			Sysctl:       map[string]string{"not": "read"},
		},
	}
	dir := t.TempDir()
	data, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, specFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := (&store{dir: dir}).loadProcessSpec()
	if err != nil {
		t.Fatal(err)
	}
	l, gl := full.Linux, got.Linux
	if !reflect.DeepEqual(got.Process, full.Process) || !reflect.DeepEqual(got.Annotations, full.Annotations) ||
		!reflect.DeepEqual(gl.Namespaces, l.Namespaces) || !reflect.DeepEqual(gl.UIDMappings, l.UIDMappings) ||
		!reflect.DeepEqual(gl.GIDMappings, l.GIDMappings) || !reflect.DeepEqual(gl.Seccomp, l.Seccomp) ||
		!reflect.DeepEqual(gl.Personality, l.Personality) || !reflect.DeepEqual(gl.MemoryPolicy, l.MemoryPolicy) {
		t.Errorf("loadProcessSpec = %+v %+v, saved %+v %+v", got, gl, full, l)
	}
}

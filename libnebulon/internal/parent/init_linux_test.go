package parent

import (
	"errors"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// The wait for each message of an init is answerWait plus the createContainer hooks' timeouts,
// and unbounded when one of them has none.
func TestInitWait(t *testing.T) {
	five, seven := 5, 7
	for _, tc := range []struct {
		name  string
		hooks *specs.Hooks
		want  time.Duration
	}{
		{"no hooks", nil, answerWait},
		{"other hooks only", &specs.Hooks{Poststart: []specs.Hook{{Path: "/x"}}}, answerWait},
		{"timeouts add up", &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/a", Timeout: &five}, {Path: "/b", Timeout: &seven}}}, answerWait + 12*time.Second},
		{"one without a timeout", &specs.Hooks{CreateContainer: []specs.Hook{{Path: "/a", Timeout: &five}, {Path: "/b"}}}, 0},
	} {
		if got := initWait(&specs.Spec{Hooks: tc.hooks}); got != tc.want {
			t.Errorf("%s: initWait = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// The init stays C but for what only an init in Go can do: run startContainer hooks at start, be
// moved into its cgroup v2 cgroup before its root is made (a late join with a cgroup namespace or
// createContainer hooks), or root a cgroup namespace in the cgroups while forking under a small
// pids limit.
func TestCInit(t *testing.T) {
	hook := []specs.Hook{{Path: "/x"}}
	zero, sixteen := int64(0), int64(16)
	cgroupNS := []specs.LinuxNamespace{{Type: specs.CgroupNamespace}}
	for _, tc := range []struct {
		name     string
		hooks    *specs.Hooks
		ns       []specs.LinuxNamespace
		pids     *int64
		joinLate bool
		want     bool
	}{
		{"plain", nil, nil, nil, false, true},
		{"startContainer hooks", &specs.Hooks{StartContainer: hook}, nil, nil, false, false},
		{"createContainer hooks", &specs.Hooks{CreateContainer: hook}, nil, nil, false, true},
		{"createContainer hooks, late join", &specs.Hooks{CreateContainer: hook}, nil, nil, true, false},
		{"late join", nil, nil, nil, true, true},
		{"cgroup namespace", nil, cgroupNS, nil, false, true},
		{"cgroup namespace, late join", nil, cgroupNS, nil, true, false},
		{"pids limit 0", nil, nil, &zero, false, true},
		{"pids limit 0, cgroup namespace", nil, cgroupNS, &zero, false, false},
		{"pids limit 16, cgroup namespace", nil, cgroupNS, &sixteen, false, true},
	} {
		s := &specs.Spec{Hooks: tc.hooks, Linux: &specs.Linux{Namespaces: tc.ns}}
		if tc.pids != nil {
			s.Linux.Resources = &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: tc.pids}}
		}
		in := &Init{Process: Process{Spec: s}}
		if got := in.cInit(tc.joinLate); got != tc.want {
			t.Errorf("%s: cInit(joinLate %v) = %v, want %v", tc.name, tc.joinLate, got, tc.want)
		}
	}
}

// awaitUp takes the Go init's log records until its Up, and fails, naming the init, on its
// error, an unexpected message, its end, or silence past the socket's timeout.
func TestAwaitUp(t *testing.T) {
	for _, tc := range []struct {
		name string
		send []syncmsg.Message
		want string // "" for success
	}{
		{"log records, then up", []syncmsg.Message{&syncmsg.Log{Msg: "Go runtime up"}, &syncmsg.Up{}}, ""},
		{"an error", []syncmsg.Message{syncmsg.NewError(errors.New("init: bad _NEBULON_INITPIPE"))}, "bad _NEBULON_INITPIPE"},
		{"another message", []syncmsg.Message{&syncmsg.Ready{}}, "unexpected ready from init before it was up"},
		{"the end", nil, "the init (pid 4242) exited before its Go runtime was up"},
		{"silence", []syncmsg.Message{&syncmsg.Log{Msg: "and then nothing"}}, "the init (pid 4242): its Go runtime was not up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, child, err := syncmsg.Pair()
			if err != nil {
				t.Fatal(err)
			}
			conn := syncmsg.NewConn(rt)
			defer conn.Close()
			conn.SetTimeout(100 * time.Millisecond)
			init := syncmsg.NewConn(child)
			for _, m := range tc.send {
				if err := init.Send(m); err != nil {
					t.Fatal(err)
				}
			}
			if tc.send == nil {
				init.Close()
			} else {
				defer init.Close()
			}
			err = awaitUp(&launched{pid: 4242, conn: conn})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("awaitUp: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("awaitUp: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

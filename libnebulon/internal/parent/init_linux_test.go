package parent

import (
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

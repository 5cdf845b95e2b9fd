package parent

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

func linuxWith(ns ...specs.LinuxNamespace) *specs.Spec {
	return &specs.Spec{Linux: &specs.Linux{Namespaces: ns, TimeOffsets: map[string]specs.LinuxTimeOffset{
		"monotonic": {Secs: 1}, "boottime": {Secs: 86400, Nanosecs: 5},
	}}}
}

// One plan for create and exec: create makes new namespaces (a cgroup namespace is the init's
// to make) and joins those with a path; exec joins every one through the init's /proc files.
func TestNamespacePlanForCreateAndExec(t *testing.T) {
	s := linuxWith(
		specs.LinuxNamespace{Type: specs.PIDNamespace},
		specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"},
		specs.LinuxNamespace{Type: specs.CgroupNamespace},
		specs.LinuxNamespace{Type: specs.TimeNamespace},
	)
	create, err := NamespacePlan(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := &syncmsg.Bootstrap{
		CloneFlags:  unix.CLONE_NEWPID | unix.CLONE_NEWTIME,
		Join:        []syncmsg.NsJoin{{Flag: unix.CLONE_NEWNET, Path: "/proc/self/ns/net"}},
		TimeOffsets: "boottime 86400 5\nmonotonic 1 0",
	}
	if !reflect.DeepEqual(create, want) {
		t.Errorf("create plan = %+v, want %+v", create, want)
	}
	exec, err := NamespacePlan(s, 42)
	if err != nil {
		t.Fatal(err)
	}
	want = &syncmsg.Bootstrap{Join: []syncmsg.NsJoin{
		{Flag: unix.CLONE_NEWPID, Path: "/proc/42/ns/pid"}, {Flag: unix.CLONE_NEWNET, Path: "/proc/42/ns/net"},
		{Flag: unix.CLONE_NEWCGROUP, Path: "/proc/42/ns/cgroup"}, {Flag: unix.CLONE_NEWTIME, Path: "/proc/42/ns/time"},
	}}
	if !reflect.DeepEqual(exec, want) {
		t.Errorf("exec plan = %+v, want %+v", exec, want)
	}
}

// A path to join is checked before anything is made: its type, and that joining it cannot
// change the host.
func TestNamespacePlanRefusesABadPathNamingTheField(t *testing.T) {
	for _, tc := range []struct {
		spec *specs.Spec
		want string
	}{
		{linuxWith(specs.LinuxNamespace{Type: specs.UTSNamespace}, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: "/proc/self/ns/net"}),
			"linux.namespaces[1].path: ipc namespace /proc/self/ns/net: is a namespace of another type"},
		{linuxWith(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: "/nonexistent"}),
			"linux.namespaces[0].path: network namespace /nonexistent: open /nonexistent: no such file or directory"},
		{linuxWith(specs.LinuxNamespace{Type: specs.MountNamespace, Path: "/proc/self/ns/mnt"}),
			"linux.namespaces[0].path: /proc/self/ns/mnt is the host's mount namespace"},
	} {
		if _, err := NamespacePlan(tc.spec, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("err = %v, want %q", err, tc.want)
		}
	}
}

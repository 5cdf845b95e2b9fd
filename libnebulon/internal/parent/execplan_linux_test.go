package parent

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// An exec'd process's environment is what the Go init built with os.Setenv: each key once, the
// last value at the first place, "K" as "K=", empty keys dropped; HOME comes from /etc/passwd
// when missing or empty.
func TestExecEnv(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want []string
		home bool
	}{
		{nil, nil, true},
		{[]string{"PATH=/bin", "HOME=/root"}, []string{"PATH=/bin", "HOME=/root"}, false},
		{[]string{"A=1", "B=2", "A=3"}, []string{"A=3", "B=2"}, true},
		{[]string{"EMPTY", "=nokey", "X=a=b", "HOME="}, []string{"EMPTY=", "X=a=b", "HOME="}, true},
		{[]string{"HOME=", "HOME=/home/app"}, []string{"HOME=/home/app"}, false},
	} {
		got, home := execEnv(c.in)
		if !reflect.DeepEqual(got, c.want) || home != c.home {
			t.Errorf("execEnv(%q) = %q, home from user %v; want %q, %v", c.in, got, home, c.want, c.home)
		}
	}
}

// Capabilities become masks; ambient ones the kernel would refuse (not both permitted and
// inheritable) and unknown names are left out, not sent.
func TestPlanCaps(t *testing.T) {
	plan := &syncmsg.ExecPlan{}
	err := planCaps(plan, &specs.LinuxCapabilities{
		Bounding: []string{"CAP_KILL", "CAP_CHOWN", "CAP_NO_SUCH"}, Effective: []string{"CAP_KILL"},
		Permitted: []string{"CAP_KILL", "cap_net_raw"}, Inheritable: []string{"CAP_NET_RAW", "CAP_CHOWN"},
		Ambient: []string{"CAP_NET_RAW", "CAP_CHOWN", "CAP_KILL", "CAP_NO_SUCH"},
	})
	if err != nil {
		t.Fatal(err)
	}
	const kill, chown, netRaw = 1 << 5, 1 << 0, 1 << 13
	if plan.Bounding != kill|chown || plan.Effective != kill || plan.Permitted != kill|netRaw || plan.Inheritable != netRaw|chown {
		t.Errorf("masks %#x %#x %#x %#x", plan.Bounding, plan.Effective, plan.Permitted, plan.Inheritable)
	}
	if want := []syncmsg.Capability{{Nr: 13, Name: "CAP_NET_RAW"}}; !reflect.DeepEqual(plan.Ambient, want) {
		t.Errorf("ambient %+v, want %+v", plan.Ambient, want)
	}
}

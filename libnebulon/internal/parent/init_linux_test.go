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

package hooks

import (
	"errors"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunErrorReadsAsRuncs(t *testing.T) {
	ok := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "true"}}
	one := 1
	for _, tc := range []struct {
		name  string
		hooks []specs.Hook
		want  string
	}{
		{"exit status with both streams", []specs.Hook{ok, {Path: "/bin/sh", Args: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}}},
			"error running prestart hook #1: exit status 3, stdout: out, stderr: err"},
		{"timeout", []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 5"}, Timeout: &one}},
			"error running prestart hook #0: hook ran past specified timeout of 1.0s"},
		{"missing binary", []specs.Hook{{Path: "/nonexistent/hook"}},
			"error running prestart hook #0: fork/exec /nonexistent/hook: no such file or directory"},
		{"all succeed", []specs.Hook{ok, ok}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Run("prestart", tc.hooks, State("c1", "/b", 1, specs.StateCreating, nil))
			got := ""
			if err != nil {
				got = err.Error()
				var he *Error
				if !errors.As(err, &he) {
					t.Errorf("error %v is not a *hooks.Error", err)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

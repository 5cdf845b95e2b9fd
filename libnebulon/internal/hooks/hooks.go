// Package hooks runs the spec's hooks (config.md#posix-platform-hooks), in whichever process the
// lifecycle puts them: prestart, createRuntime, poststart and poststop in the runtime;
// createContainer and startContainer in the container's init, in its namespaces.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Error is the failure of a hook: the lifecycle then goes on to poststop (runtime-spec
// runtime.md#lifecycle), where other failures of create do not.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// State is the state given to hooks on their stdin.
func State(id, bundle string, pid int, status specs.ContainerState, annotations map[string]string) *specs.State {
	return &specs.State{
		Version: specs.Version, ID: id, Status: status, Pid: pid, Bundle: bundle, Annotations: annotations,
	}
}

// Run runs hooks in order with the container state on their stdin, stopping at the first
// that fails (runtime-spec config.md#posix-platform-hooks). A hook's timeout ends it with SIGKILL.
//
// The error reads as runc's, "error running prestart hook #0: exit status 1, stdout: ...,
// stderr: ...": engines and people match those words.
func Run(kind string, hooks []specs.Hook, state *specs.State) error {
	if len(hooks) == 0 {
		return nil
	}
	data, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode state for %s hooks: %w", kind, err)
	}
	for i, h := range hooks {
		if err := runHook(h, data); err != nil {
			return hookError(kind, i, err)
		}
	}
	return nil
}

func hookError(kind string, i int, err error) *Error {
	return &Error{fmt.Errorf("error running %s hook #%d: %w", kind, i, err)}
}

// RunWarn runs every hook even when one fails, logging the failures: poststart and poststop
// hook failures must not change the lifecycle (runtime-spec runtime.md#lifecycle, steps 9 and 13).
func RunWarn(kind string, hooks []specs.Hook, state *specs.State) {
	if len(hooks) == 0 {
		return
	}
	data, err := json.Marshal(state)
	if err != nil {
		slog.Warn("encode state for hooks", "kind", kind, "error", err)
		return
	}
	for i, h := range hooks {
		if err := runHook(h, data); err != nil {
			slog.Warn(hookError(kind, i, err).Error(), "path", h.Path)
		}
	}
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A hook that forks a daemon keeping stdout open must not hold us past its own exit.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("hook ran past specified timeout of %.1fs", float64(*h.Timeout))
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return fmt.Errorf("%w, stdout: %s, stderr: %s", err,
			strings.TrimSpace(stdout.String()), strings.TrimSpace(stderr.String()))
	}
	return err // could not start it: exec's error names the path
}

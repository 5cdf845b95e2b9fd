package libnebulon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
)

// compileSeccomp compiles linux.seccomp in the runtime, so that the init only loads it; nil
// means no filter. Errors name the field.
func compileSeccomp(s *specs.LinuxSeccomp) (*seccomp.Filter, error) {
	f, err := seccomp.Compile(s)
	var se *seccomp.Error
	if errors.As(err, &se) {
		return nil, linuxspec.Errorf("linux.seccomp."+se.Field, "%v", se.Err)
	}
	if err != nil {
		return nil, linuxspec.Errorf("linux.seccomp", "%v", err)
	}
	return f, nil
}

// saveSeccomp keeps the compiled filter in the state directory, for exec (seccompFile).
func (s *store) saveSeccomp(f *seccomp.Filter) error {
	if f == nil {
		return nil
	}
	data, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode seccomp filter: %w", err)
	}
	return writeFileAtomic(s.path(seccompFile), data, 0o600)
}

// execSeccomp is the filter for a process exec'd into c: the one compiled at create, or,
// for a container created without one saved, compiled now.
func (c *Container) execSeccomp(spec *specs.Spec) (*seccomp.Filter, error) {
	if spec.Linux.Seccomp == nil {
		return nil, nil
	}
	data, err := os.ReadFile(c.store.path(seccompFile))
	if errors.Is(err, os.ErrNotExist) {
		return compileSeccomp(spec.Linux.Seccomp)
	}
	if err != nil {
		return nil, err
	}
	f := &seccomp.Filter{}
	if err := json.Unmarshal(data, f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", c.store.path(seccompFile), err)
	}
	return f, nil
}

// seccompFeatures is features.json's linux.seccomp.
func seccompFeatures() (enabled bool, actions, operators, archs, knownFlags, flags []string) {
	enabled, actions, operators, archs, flags = seccomp.Features()
	return enabled, actions, operators, archs, seccomp.KnownFlags(), flags
}

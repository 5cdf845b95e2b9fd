//go:build !cgo

package seccomp

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Compile needs libseccomp, which needs cgo: this build cannot make filters. The error wraps
// errors.ErrUnsupported.
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
	return nil, fmt.Errorf("seccomp: this build has no libseccomp (built without cgo): %w", errors.ErrUnsupported)
}

// Features reports seccomp as not enabled in this build.
func Features() (enabled bool, actions, operators, archs, flags []string) {
	return false, nil, nil, nil, nil
}

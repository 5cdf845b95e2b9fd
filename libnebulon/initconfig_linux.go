package libnebulon

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// needsHookSync reports whether the init must stop before pivot_root for the parent to run
// prestart and createRuntime hooks.
func needsHookSync(s *specs.Spec) bool {
	//nolint:staticcheck // Prestart is deprecated but still honoured.
	return s.Hooks != nil && (len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0)
}

// hookState is the state given to hooks.
func hookState(id, bundle string, pid int, status specs.ContainerState, annotations map[string]string) *specs.State {
	return &specs.State{
		Version: specs.Version, ID: id, Status: status, Pid: pid, Bundle: bundle, Annotations: annotations,
	}
}

package libnebulon

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
)

// checkApplicable refuses configuration this build cannot apply, naming the field: a container
// that silently lacks a limit or a confinement it was given is worse than one that does not start
// (runtime-spec config.md: what a runtime cannot honour is an error). It is a separate pass from
// Validate because what is applicable changes as the runtime grows, and some answers depend on
// the host (SELinux).
func checkApplicable(s *specs.Spec) error {
	p, l := s.Process, s.Linux
	for i, m := range s.Mounts {
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			return linuxspec.Errorf(fmt.Sprintf("mounts[%d].uidMappings", i), "id-mapped mounts are not supported by this build")
		}
	}
	if err := checkLSM(p.ApparmorProfile, p.SelinuxLabel, l.MountLabel); err != nil {
		return err
	}
	return nil
}

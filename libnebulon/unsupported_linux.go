package libnebulon

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
)

// checkApplicable refuses configuration this build cannot apply, naming the field: a container
// that silently lacks a limit or a confinement it was given is worse than one that does not start
// (runtime-spec config.md: what a runtime cannot honour is an error). It is a separate pass from
// Validate because what is applicable changes as the runtime grows, and some answers depend on
// the host (SELinux).
func checkApplicable(s *specs.Spec) error {
	p, l := s.Process, s.Linux
	for i, m := range s.Mounts {
		if err := checkIDMapped(i, m, linuxspec.HasNamespace(l, specs.UserNamespace)); err != nil {
			return err
		}
	}
	if err := checkLSM(p.ApparmorProfile, p.SelinuxLabel, l.MountLabel); err != nil {
		return err
	}
	return nil
}

// checkIDMapped checks an id-mapped mount (runtime-spec config.md "mounts": idmap, ridmap,
// uidMappings, gidMappings) before anything is made: the maps come in pairs, only a bind mount
// can be id-mapped (its source is an existing mount the runtime clones), and a mount without
// maps of its own takes the container's, so it needs a user namespace.
func checkIDMapped(i int, m specs.Mount, userns bool) error {
	opts, err := mountopt.Parse(m.Options)
	if err != nil {
		return nil // Validate names it
	}
	field := func(f string) string { return fmt.Sprintf("mounts[%d].%s", i, f) }
	hasMaps := len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0
	switch {
	case !hasMaps && !opts.IDMap:
		return nil
	case len(m.UIDMappings) > 0 && len(m.GIDMappings) == 0:
		return linuxspec.Errorf(field("gidMappings"), "missing for %s: uidMappings and gidMappings go together", m.Destination)
	case len(m.GIDMappings) > 0 && len(m.UIDMappings) == 0:
		return linuxspec.Errorf(field("uidMappings"), "missing for %s: uidMappings and gidMappings go together", m.Destination)
	case !opts.Bind:
		return linuxspec.Errorf(field("options"), "%s: only a bind mount can be id-mapped (type %q)", m.Destination, m.Type)
	case !hasMaps && !userns:
		return linuxspec.Errorf(field("options"), "%s: idmap without uidMappings and gidMappings needs a user namespace, whose maps it takes", m.Destination)
	}
	return nil
}

package libnebulon

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
)

// FieldError names the config.json field that is wrong and why.
type FieldError = linuxspec.FieldError

// Rlimits maps the spec's rlimit names to resource numbers.
var Rlimits = linuxspec.Rlimits

// Capabilities maps "CAP_X" names to capabilities, for every capability the library knows.
var Capabilities = linuxspec.Capabilities

// Validate checks a spec before anything is made for it. It is pure: what the host cannot do is
// found out later, by the code that does it.
func Validate(s *specs.Spec) error {
	if s.Version == "" {
		return linuxspec.Errorf("ociVersion", "missing")
	}
	if s.Root == nil || s.Root.Path == "" {
		return linuxspec.Errorf("root.path", "missing")
	}
	if s.Process == nil {
		return linuxspec.Errorf("process", "missing: create needs a process to run")
	}
	if err := validateProcess(s.Process); err != nil {
		return err
	}
	if err := checkCapabilityNames(s); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		if m.Destination == "" {
			return linuxspec.Errorf(fmt.Sprintf("mounts[%d].destination", i), "missing")
		}
		if _, err := mountopt.Parse(m.Options); err != nil {
			return linuxspec.Errorf(fmt.Sprintf("mounts[%d].options", i), "%s: %v", m.Destination, err)
		}
		if m.Type == "" && !mountopt.IsBind(m.Options) {
			return linuxspec.Errorf(fmt.Sprintf("mounts[%d].type", i), "missing for %s (only bind mounts may omit it)", m.Destination)
		}
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	if s.Linux == nil {
		return linuxspec.Errorf("linux", "missing: nebulon runs Linux containers")
	}
	return validateLinux(s)
}

func validateProcess(p *specs.Process) error {
	if len(p.Args) == 0 || p.Args[0] == "" {
		return linuxspec.Errorf("process.args", "must name the program to run")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return linuxspec.Errorf("process.cwd", "%q is not an absolute path", p.Cwd)
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		if _, ok := Rlimits[r.Type]; !ok {
			return linuxspec.Errorf(fmt.Sprintf("process.rlimits[%d].type", i), "unknown rlimit %q", r.Type)
		}
		if seen[r.Type] {
			return linuxspec.Errorf(fmt.Sprintf("process.rlimits[%d].type", i), "%s given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return linuxspec.Errorf(fmt.Sprintf("process.rlimits[%d]", i), "%s soft limit %d is above hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return linuxspec.Errorf("process.oomScoreAdj", "%d is outside -1000..1000", *p.OOMScoreAdj)
	}
	if err := validateProcessKernel(p); err != nil {
		return err
	}
	// An unknown capability name is not an error: runc warns and ignores it (the init does the
	// same), so that a config written for a newer kernel, or library, still runs here, as the
	// spec asks of capabilities that cannot be granted (config.md).
	return nil
}

// checkCapabilityNames refuses an unknown capability name in a config for runtime-spec 1.0, whose
// config.md says such a value "MUST cause an error". Since 1.1 it MUST be logged as a warning
// and SHOULD NOT fail create, which is what the init does for a newer config, as runc does.
func checkCapabilityNames(s *specs.Spec) error {
	c := s.Process.Capabilities
	if c == nil || linuxspec.VersionAtLeast(s.Version, 1, 1) {
		return nil
	}
	for set, names := range map[string][]string{
		"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable,
		"permitted": c.Permitted, "ambient": c.Ambient,
	} {
		for _, n := range names {
			if _, ok := linuxspec.Capabilities[strings.ToUpper(n)]; !ok {
				return linuxspec.Errorf("process.capabilities."+set,
					"unknown capability %q (ociVersion %s: runtime-spec 1.0 makes it an error; 1.1 and later a warning)", n, s.Version)
			}
		}
	}
	return nil
}

// validateProcessKernel checks the fields handed to the kernel as they are: the scheduler, the
// I/O priority and the exec CPU affinity, with the same conversions the init applies.
func validateProcessKernel(p *specs.Process) error {
	if p.Scheduler != nil {
		if _, err := linuxspec.SchedAttr(p.Scheduler); err != nil {
			return err
		}
	}
	if p.IOPriority != nil {
		if _, err := linuxspec.IOPrio(p.IOPriority); err != nil {
			return err
		}
	}
	if p.ExecCPUAffinity != nil {
		if _, _, err := linuxspec.ExecCPUAffinity(p.ExecCPUAffinity); err != nil {
			return err
		}
	}
	return nil
}

func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	//nolint:staticcheck // Prestart is deprecated in the spec but still honoured.
	for kind, hooks := range map[string][]specs.Hook{
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime, "createContainer": h.CreateContainer,
		"startContainer": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	} {
		for i, hk := range hooks {
			if !filepath.IsAbs(hk.Path) {
				return linuxspec.Errorf(fmt.Sprintf("hooks.%s[%d].path", kind, i), "%q is not an absolute path", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return linuxspec.Errorf(fmt.Sprintf("hooks.%s[%d].timeout", kind, i), "%d is not a positive number of seconds", *hk.Timeout)
			}
		}
	}
	return nil
}

func validateLinux(s *specs.Spec) error {
	have, err := validateNamespaces(s.Linux)
	if err != nil {
		return err
	}
	if err := validateInNamespaces(s, have); err != nil {
		return err
	}
	return validateFiles(s.Linux)
}

// validateNamespaces checks linux.namespaces and returns the types it lists.
func validateNamespaces(l *specs.Linux) (map[specs.LinuxNamespaceType]bool, error) {
	have := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		if _, ok := linuxspec.NamespaceFlags[ns.Type]; !ok {
			return nil, linuxspec.Errorf(field+".type", "unknown namespace type %q", ns.Type)
		}
		if have[ns.Type] {
			return nil, linuxspec.Errorf(field+".type", "namespace %q given twice", ns.Type)
		}
		have[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return nil, linuxspec.Errorf(field+".path", "%q is not an absolute path", ns.Path)
		}
	}
	return have, nil
}

// validateInNamespaces checks what applies inside the namespaces: id mappings, time offsets,
// names, personality, memory policy and sysctls, each against the namespaces it needs.
func validateInNamespaces(s *specs.Spec, have map[specs.LinuxNamespaceType]bool) error {
	l := s.Linux
	userNS := have[specs.UserNamespace]
	if (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) && !userNS {
		return linuxspec.Errorf("linux.uidMappings", "mappings are given but there is no user namespace")
	}
	if userNS && linuxspec.NewNamespace(l, specs.UserNamespace) && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0) {
		return linuxspec.Errorf("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
	}
	if len(l.TimeOffsets) > 0 && !linuxspec.NewNamespace(l, specs.TimeNamespace) {
		return linuxspec.Errorf("linux.timeOffsets", "offsets need a new time namespace")
	}
	for clock := range l.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			return linuxspec.Errorf("linux.timeOffsets", "unknown clock %q (monotonic or boottime)", clock)
		}
	}
	if s.Hostname != "" && !have[specs.UTSNamespace] {
		return linuxspec.Errorf("hostname", "setting the hostname needs a uts namespace")
	}
	if s.Domainname != "" && !have[specs.UTSNamespace] {
		return linuxspec.Errorf("domainname", "setting the domainname needs a uts namespace")
	}
	if l.Personality != nil {
		if _, err := linuxspec.Personality(l.Personality); err != nil {
			return err
		}
	}
	if l.MemoryPolicy != nil {
		if _, _, err := linuxspec.MemPolicy(l.MemoryPolicy); err != nil {
			return err
		}
	}
	for key := range l.Sysctl {
		if err := validateSysctl(key, have); err != nil {
			return err
		}
	}
	return nil
}

// validateFiles checks the root's propagation, devices and device rules, and masked and
// read-only paths.
func validateFiles(l *specs.Linux) error {
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
	default:
		return linuxspec.Errorf("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	for i, d := range l.Devices {
		field := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) {
			return linuxspec.Errorf(field+".path", "%q is not an absolute path", d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			return linuxspec.Errorf(field+".type", "unknown device type %q (c, u, b or p)", d.Type)
		}
	}
	if l.Resources != nil {
		for i, r := range l.Resources.Devices {
			if err := cgroups.CheckDeviceRule(r); err != nil {
				return linuxspec.Errorf(fmt.Sprintf("linux.resources.devices[%d]", i), "%v", err)
			}
		}
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return linuxspec.Errorf(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return linuxspec.Errorf(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
	return nil
}

// validateSysctl allows the sysctls that are namespaced, and only when the container has the
// namespace: anything else would change the host (runtime-spec config-linux.md#sysctl).
func validateSysctl(key string, have map[specs.LinuxNamespaceType]bool) error {
	field := "linux.sysctl." + key
	t := linuxspec.SysctlNamespace(key)
	if t == "" {
		return linuxspec.Errorf(field, "not a namespaced sysctl: setting it would change the host")
	}
	if !have[t] {
		return linuxspec.Errorf(field, "needs a %s namespace of the container's own", t)
	}
	return nil
}

// ErrInvalidID is returned for container ids that could escape the state directory.
var ErrInvalidID = errors.New("invalid container id")

// ValidateID accepts the ids runc accepts: letters, digits, and _ + - . not starting a path
// component of its own, at most 1024 bytes.
func ValidateID(id string) error {
	if id == "" || len(id) > 1024 || id == "." || id == ".." {
		return fmt.Errorf("%w %q: must be 1 to 1024 characters and not . or ..", ErrInvalidID, id)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+-.", r)
		if !ok {
			return fmt.Errorf("%w %q: only letters, digits and _+-. are allowed", ErrInvalidID, id)
		}
	}
	return nil
}

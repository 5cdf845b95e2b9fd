package libnebulon

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
)

// FieldError names the config.json field that is wrong and why.
type FieldError struct {
	Field string
	Msg   string
	// Source is where the value came from: config.json when empty ("exec" for exec's process).
	Source string
}

func (e *FieldError) Error() string {
	src := e.Source
	if src == "" {
		src = "config.json"
	}
	return fmt.Sprintf("%s: %s: %s", src, e.Field, e.Msg)
}

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// NamespaceFlags maps the spec's namespace types to clone flags.
var NamespaceFlags = map[specs.LinuxNamespaceType]uint32{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// Rlimits maps the spec's rlimit names to resource numbers.
var Rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// Capabilities maps "CAP_X" names to capabilities, for every capability the library knows.
var Capabilities = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// Validate checks a spec before anything is made for it. It is pure: what the host cannot do is
// found out later, by the code that does it.
func Validate(s *specs.Spec) error {
	if s.Version == "" {
		return fieldErr("ociVersion", "missing")
	}
	if s.Root == nil || s.Root.Path == "" {
		return fieldErr("root.path", "missing")
	}
	if s.Process == nil {
		return fieldErr("process", "missing: create needs a process to run")
	}
	if err := validateProcess(s.Process); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		if m.Destination == "" {
			return fieldErr(fmt.Sprintf("mounts[%d].destination", i), "missing")
		}
		if _, err := ParseMountOptions(m.Options); err != nil {
			return fieldErr(fmt.Sprintf("mounts[%d].options", i), "%v", err)
		}
		if m.Type == "" && !isBind(m.Options) {
			return fieldErr(fmt.Sprintf("mounts[%d].type", i), "missing for %s (only bind mounts may omit it)", m.Destination)
		}
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	if s.Linux == nil {
		return fieldErr("linux", "missing: nebulon runs Linux containers")
	}
	return validateLinux(s)
}

func validateProcess(p *specs.Process) error {
	if len(p.Args) == 0 || p.Args[0] == "" {
		return fieldErr("process.args", "must name the program to run")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return fieldErr("process.cwd", "%q is not an absolute path", p.Cwd)
	}
	seen := map[string]bool{}
	for i, r := range p.Rlimits {
		if _, ok := Rlimits[r.Type]; !ok {
			return fieldErr(fmt.Sprintf("process.rlimits[%d].type", i), "unknown rlimit %q", r.Type)
		}
		if seen[r.Type] {
			return fieldErr(fmt.Sprintf("process.rlimits[%d].type", i), "%s given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return fieldErr(fmt.Sprintf("process.rlimits[%d]", i), "%s soft limit %d is above hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fieldErr("process.oomScoreAdj", "%d is outside -1000..1000", *p.OOMScoreAdj)
	}
	if c := p.Capabilities; c != nil {
		for set, names := range map[string][]string{
			"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable,
			"permitted": c.Permitted, "ambient": c.Ambient,
		} {
			for _, n := range names {
				if _, ok := Capabilities[strings.ToUpper(n)]; !ok {
					return fieldErr("process.capabilities."+set, "unknown capability %q", n)
				}
			}
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
				return fieldErr(fmt.Sprintf("hooks.%s[%d].path", kind, i), "%q is not an absolute path", hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fieldErr(fmt.Sprintf("hooks.%s[%d].timeout", kind, i), "%d is not a positive number of seconds", *hk.Timeout)
			}
		}
	}
	return nil
}

func validateLinux(s *specs.Spec) error {
	l := s.Linux
	have := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		field := fmt.Sprintf("linux.namespaces[%d]", i)
		if _, ok := NamespaceFlags[ns.Type]; !ok {
			return fieldErr(field+".type", "unknown namespace type %q", ns.Type)
		}
		if have[ns.Type] {
			return fieldErr(field+".type", "namespace %q given twice", ns.Type)
		}
		have[ns.Type] = true
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return fieldErr(field+".path", "%q is not an absolute path", ns.Path)
		}
	}
	userNS := have[specs.UserNamespace]
	if (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) && !userNS {
		return fieldErr("linux.uidMappings", "mappings are given but there is no user namespace")
	}
	if userNS && newNamespace(l, specs.UserNamespace) && (len(l.UIDMappings) == 0 || len(l.GIDMappings) == 0) {
		return fieldErr("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings")
	}
	if len(l.TimeOffsets) > 0 && !newNamespace(l, specs.TimeNamespace) {
		return fieldErr("linux.timeOffsets", "offsets need a new time namespace")
	}
	for clock := range l.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			return fieldErr("linux.timeOffsets", "unknown clock %q (monotonic or boottime)", clock)
		}
	}
	if s.Hostname != "" && !have[specs.UTSNamespace] {
		return fieldErr("hostname", "setting the hostname needs a uts namespace")
	}
	if s.Domainname != "" && !have[specs.UTSNamespace] {
		return fieldErr("domainname", "setting the domainname needs a uts namespace")
	}
	for key := range l.Sysctl {
		if err := validateSysctl(key, have); err != nil {
			return err
		}
	}
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
	default:
		return fieldErr("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	for i, d := range l.Devices {
		field := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) {
			return fieldErr(field+".path", "%q is not an absolute path", d.Path)
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			return fieldErr(field+".type", "unknown device type %q (c, u, b or p)", d.Type)
		}
	}
	if l.Resources != nil {
		for i, r := range l.Resources.Devices {
			if err := cgroups.CheckDeviceRule(r); err != nil {
				return fieldErr(fmt.Sprintf("linux.resources.devices[%d]", i), "%v", err)
			}
		}
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q is not an absolute path", p)
		}
	}
	return nil
}

// newNamespace reports whether the spec asks for a new namespace of type t.
func newNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return ns.Path == ""
		}
	}
	return false
}

// validateSysctl allows the sysctls that are namespaced, and only when the container has the
// namespace: anything else would change the host (runtime-spec config-linux.md#sysctl).
func validateSysctl(key string, have map[specs.LinuxNamespaceType]bool) error {
	field := "linux.sysctl." + key
	t := sysctlNamespace(key)
	if t == "" {
		return fieldErr(field, "not a namespaced sysctl: setting it would change the host")
	}
	if !have[t] {
		return fieldErr(field, "needs a %s namespace of the container's own", t)
	}
	return nil
}

// sysctlNamespace is the namespace a sysctl belongs to, or "" for one that is not namespaced.
func sysctlNamespace(key string) specs.LinuxNamespaceType {
	switch {
	case key == "kernel.msgmax", key == "kernel.msgmnb", key == "kernel.msgmni", key == "kernel.sem",
		key == "kernel.shmall", key == "kernel.shmmax", key == "kernel.shmmni", key == "kernel.shm_rmid_forced",
		strings.HasPrefix(key, "fs.mqueue."):
		return specs.IPCNamespace
	case strings.HasPrefix(key, "net."):
		return specs.NetworkNamespace
	case key == "kernel.hostname", key == "kernel.domainname":
		return specs.UTSNamespace
	}
	return ""
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

// Package specconv turns person-level options into OCI runtime specs. It is pure: no syscalls.
package specconv

import (
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCapabilities are the capabilities the example spec keeps, as `runc spec` gives them: in
// the bounding, effective and permitted sets. runc 1.2 took them out of the ambient set
// (opencontainers/runc#4367): an ambient capability must also be inheritable (capabilities(7)),
// and since CVE-2022-29162 (runc 1.1.2) the example has no inheritable ones. A container made by
// Spec starts from DockerCapabilities instead.
var DefaultCapabilities = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// Example returns the config.json that `nebulon spec` writes on a cgroup v2 host, the usual one:
// see ExampleFor.
func Example() *specs.Spec { return ExampleFor(true) }

// ExampleFor returns the config.json that `nebulon spec` writes: runc 1.5's (Example in runc's
// libcontainer/specconv/example.go), but for the hostname. That is `sh` at a terminal, in new pid,
// network, ipc, uts and mount namespaces, with runc's default mounts, masked and read-only paths.
//
// cgroup2 says whether the host's /sys/fs/cgroup is a cgroup v2 mount: runc then adds a cgroup
// namespace (it asks cgroups.IsCgroup2UnifiedMode). The caller probes the host, so that this
// stays pure.
func ExampleFor(cgroup2 bool) *specs.Spec {
	s := &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			// runc's example is for a person at a shell: `run` in the foreground makes the
			// pty and relays it. An engine or a script without a terminal sets this to false.
			Terminal: true,
			User:     specs.User{},
			Args:     []string{"sh"},
			Env:      []string{"PATH=" + DefaultPath, "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  slices.Clone(DefaultCapabilities),
				Effective: slices.Clone(DefaultCapabilities),
				Permitted: slices.Clone(DefaultCapabilities),
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "nebulon",
		Mounts:   defaultMounts(),
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: denyAllDevices(),
			},
			Namespaces:    runcNamespaces(),
			MaskedPaths:   runcMaskedPaths(),
			ReadonlyPaths: defaultReadonlyPaths(),
		},
	}
	if cgroup2 {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return s
}

// ToRootless adapts an example spec for an unprivileged user, as `runc spec --rootless` does
// (ToRootless in runc's libcontainer/specconv/example.go). uid and gid are the caller's effective
// ids (runc takes os.Geteuid and os.Getegid), mapped to root in a new user namespace.
//
// The network namespace goes: without root in the host's user namespace the container could not
// be given any network, and a sysfs mount needs a network namespace owned by the mounter's user
// namespace, so /sys is bound from the host read-only instead. uid= and gid= mount options go:
// with one id mapped, the ids they name (devpts's gid=5) are unmapped and the mount would fail. The
// cgroup limits go because an unprivileged user cannot set up cgroups; the /sys/fs/cgroup mount
// stays, as runc keeps it.
func ToRootless(s *specs.Spec, uid, gid uint32) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace && n.Type != specs.UserNamespace {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: uid, ContainerID: 0, Size: 1}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: gid, ContainerID: 0, Size: 1}}
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		if filepath.Clean(m.Destination) == "/sys" {
			mounts = append(mounts, specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}})
			continue
		}
		var opts []string
		for _, o := range m.Options {
			if !strings.HasPrefix(o, "gid=") && !strings.HasPrefix(o, "uid=") {
				opts = append(opts, o)
			}
		}
		m.Options = opts
		mounts = append(mounts, m)
	}
	s.Mounts = mounts
	s.Linux.Resources = nil
}

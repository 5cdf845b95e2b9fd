// Package specconv turns person-level options into OCI runtime specs. It is pure: no syscalls.
package specconv

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCapabilities are the capabilities the example spec keeps, as `runc spec` gives them. A
// container made by Spec starts from DockerCapabilities instead.
var DefaultCapabilities = []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}

// Example returns the default config.json that `nebulon spec` writes: a busybox-style `sh` in new
// pid, network, ipc, uts, mount and cgroup namespaces, with runc's default mounts, masked and
// read-only paths.
func Example() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal: false, // the process uses the runtime's stdio: nebulon has no terminals yet
			User:     specs.User{},
			Args:     []string{"sh"},
			Env:      []string{"PATH=" + DefaultPath, "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  DefaultCapabilities,
				Effective: DefaultCapabilities,
				Permitted: DefaultCapabilities,
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
			Namespaces:    defaultNamespaces(),
			MaskedPaths:   defaultMaskedPaths(),
			ReadonlyPaths: defaultReadonlyPaths(),
		},
	}
}

// ToRootless adapts an example spec for an unprivileged user, as `runc spec --rootless` does: a
// user namespace mapping uid and gid to the caller's, no network namespace, and /sys bound from
// the host because sysfs cannot be mounted without a network namespace of one's own.
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
		switch m.Destination {
		case "/sys":
			m = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		case "/sys/fs/cgroup":
			continue
		}
		var opts []string
		for _, o := range m.Options {
			if o != "gid=5" {
				opts = append(opts, o)
			}
		}
		m.Options = opts
		mounts = append(mounts, m)
	}
	s.Mounts = mounts
	s.Linux.Resources = nil
}

package specconv

import specs "github.com/opencontainers/runtime-spec/specs-go"

// DefaultPath is the PATH a container gets when its image names none: docker's and runc's.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// defaultMounts are runc's default mounts (`runc spec`), which docker's default spec also has. Each
// call returns fresh slices, so a caller may change what it gets.
func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// runcMaskedPaths are runc's (`runc spec`): files under /proc and /sys that leak host state or
// let a container poke the host's hardware, hidden behind /dev/null or an empty tmpfs.
func runcMaskedPaths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
		"/proc/scsi",
	}
}

// defaultMaskedPaths are docker's: runc's, and /sys/devices/virtual/powercap, whose RAPL energy
// counters let a container infer what the host's CPUs compute (CVE-2020-8694, "Platypus").
func defaultMaskedPaths() []string {
	return append(runcMaskedPaths(), "/sys/devices/virtual/powercap")
}

// defaultReadonlyPaths are runc's: host-wide kernel knobs a container may read but not set.
func defaultReadonlyPaths() []string {
	return []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}
}

// runcNamespaces are the namespaces of runc's example (`runc spec`), which adds a cgroup
// namespace only on a cgroup v2 host.
func runcNamespaces() []specs.LinuxNamespace {
	return []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
		{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
	}
}

// defaultNamespaces are the namespaces of a container of its own: docker's set, with a cgroup
// namespace as docker gives one on cgroup v2 (on v1 the runtime may still create one).
func defaultNamespaces() []specs.LinuxNamespace {
	return append(runcNamespaces(), specs.LinuxNamespace{Type: specs.CgroupNamespace})
}

// denyAllDevices is the cgroup device rule list a container starts from: nothing. The runtime
// allows the default devices (/dev/null, /dev/zero, ..., the console and ptys) after it, as runc
// and crun do.
func denyAllDevices() []specs.LinuxDeviceCgroup {
	return []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
}

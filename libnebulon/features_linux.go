package libnebulon

import (
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/systemd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountfd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
)

// Features is what `nebulon features` prints (runtime-spec features.md). It claims only what this
// build really does: a feature is listed once the code that honours it exists.
func Features() *features.Features {
	yes := true
	idmap := mountfd.CanIDMap()
	var ns []string
	for t := range linuxspec.NamespaceFlags {
		ns = append(ns, string(t))
	}
	sort.Strings(ns)
	var caps []string
	for c := range Capabilities {
		caps = append(caps, c)
	}
	sort.Strings(caps)
	return &features.Features{
		// The annotations this runtime acts on that change what the container may do: with
		// --systemd-cgroup, org.systemd.property.NAME sets any property of the unit (a prefix, as
		// the spec writes one); org.criu.config names the CRIU configuration file checkpoint and
		// restore use, as runc's does.
		PotentiallyUnsafeConfigAnnotations: []string{systemd.PropertyAnnotation, criuConfigAnnotation},
		// runc's key, which engines read to know checkpoint and restore are there (with CRIU).
		Annotations:   map[string]string{"org.opencontainers.runc.checkpoint.enabled": "true"},
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  mountopt.Names(),
		Linux: &features.Linux{
			Namespaces:   ns,
			Capabilities: caps,
			// SystemdUser: the driver on a user's systemd, for a rootless runtime
			// (tests/cgroupv2/systemd_rootless_linux_test.go runs it in the systemd guest).
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes, SystemdUser: &yes, Rdma: &yes},
			Seccomp:      seccompFeature(),
			Apparmor:     &features.Apparmor{Enabled: &yes},
			Selinux:      &features.Selinux{Enabled: &yes},
			IntelRdt:     &features.IntelRdt{Enabled: &yes, Schemata: &yes, Monitoring: &yes},
			NetDevices:   &features.NetDevices{Enabled: &yes},
			MemoryPolicy: memoryPolicyFeature(),
			MountExtensions: &features.MountExtensions{
				// Engines id-map only when this says yes (containerd's user-namespaced pods).
				IDMap: &features.IDMap{Enabled: &idmap},
			},
		},
	}
}

func seccompFeature() *features.Seccomp {
	enabled, actions, operators, archs, known, supported := seccompFeatures()
	return &features.Seccomp{
		Enabled: &enabled, Actions: actions, Operators: operators, Archs: archs,
		KnownFlags: known, SupportedFlags: supported,
	}
}

// memoryPolicyFeature lists the linux.memoryPolicy modes and flags this build applies.
func memoryPolicyFeature() *features.MemoryPolicy {
	mp := &features.MemoryPolicy{}
	for m := range linuxspec.MemPolicyModes {
		mp.Modes = append(mp.Modes, string(m))
	}
	for f := range linuxspec.MemPolicyFlags {
		mp.Flags = append(mp.Flags, string(f))
	}
	sort.Strings(mp.Modes)
	sort.Strings(mp.Flags)
	return mp
}

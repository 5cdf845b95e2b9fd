package libnebulon

import (
	"bytes"
	"os"
	"sort"
	"strings"

	selinux "github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/resctrl"
)

// HostInfo is what this host offers containers, for `nb info`.
type HostInfo struct {
	Kernel string `json:"kernel"`
	// CgroupVersion is v1, hybrid (v1 controllers beside a cgroup2 mount) or v2.
	CgroupVersion string   `json:"cgroupVersion"`
	Controllers   []string `json:"cgroupControllers"`
	Namespaces    []string `json:"namespaces"`
	Seccomp       bool     `json:"seccomp"`
	AppArmor      bool     `json:"apparmor"`
	SELinux       bool     `json:"selinux"`
}

// Host reports what the host offers: kernel release, cgroup version and controllers, the
// namespace types the kernel has, and which security modules are on.
func Host() *HostInfo {
	h := &HostInfo{CgroupVersion: cgroups.DetectMode().String(), AppArmor: apparmorEnabled(), SELinux: selinux.GetEnabled()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = string(bytes.TrimRight(u.Release[:], "\x00"))
	}
	h.Controllers = hostControllers()
	for t, name := range linuxspec.NamespaceFiles {
		if _, err := os.Lstat("/proc/self/ns/" + name); err == nil {
			h.Namespaces = append(h.Namespaces, string(t))
		}
	}
	sort.Strings(h.Namespaces)
	// A kernel with seccomp filters shows the field (proc(5)); the build needs libseccomp too.
	if status, err := os.ReadFile("/proc/self/status"); err == nil && bytes.Contains(status, []byte("\nSeccomp_filters:")) {
		h.Seccomp, _, _, _, _, _ = seccompFeatures()
	}
	return h
}

// hostControllers lists the cgroup controllers in use: v1 hierarchies' subsystems, or on v2
// the root's cgroup.controllers.
func hostControllers() []string {
	var out []string
	if cgroups.DetectMode() == cgroups.Unified {
		data, _ := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
		out = strings.Fields(string(data))
	} else if hs, err := cgroups.V1Hierarchies(); err == nil {
		for _, h := range hs {
			for _, s := range h.Subsystems {
				if !strings.HasPrefix(s, "name=") {
					out = append(out, s)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// SystemdBooted reports whether systemd is PID 1 on this host.
func SystemdBooted() bool { return cgroups.SystemdBooted() }

// UnifiedCgroups reports whether the host has cgroup v2 alone (Host's CgroupVersion "v2",
// without the rest of Host's probing).
func UnifiedCgroups() bool { return cgroups.DetectMode() == cgroups.Unified }

// ResctrlRoot is where the resctrl filesystem (Intel RDT) is mounted, "" where it is not.
func ResctrlRoot() string {
	root, _ := resctrl.Root()
	return root
}

package rootfs

import (
	"fmt"
	"os"

	"github.com/opencontainers/selinux/go-selinux"
	"github.com/opencontainers/selinux/go-selinux/label"
)

// mountLabelData adds linux.mountLabel to a mount's data (context=...), for the file systems
// the mount makes; nothing when SELinux is disabled or there is no label.
func mountLabelData(data, fsType, mountLabel string) string {
	// label.FormatMountLabel adds the option whether or not SELinux is enabled, and a kernel
	// without it refuses context= (runc 1.1 fails so).
	if mountLabel == "" || !selinux.GetEnabled() {
		return data
	}
	switch fsType {
	case "proc", "sysfs", "cgroup", "cgroup2", "mqueue":
		// Labelled by policy (genfscon), or, for mqueue, after mounting; context= is refused.
		return data
	}
	return label.FormatMountLabel(data, mountLabel)
}

// setFileLabel labels a mount that takes no context= option (mqueue) with linux.mountLabel.
func setFileLabel(t *os.File, mountLabel string) error {
	if mountLabel == "" || !selinux.GetEnabled() {
		return nil
	}
	if err := selinux.SetFileLabel(procFd(t), mountLabel); err != nil {
		return fmt.Errorf("linux.mountLabel %q: %w", mountLabel, err)
	}
	return nil
}

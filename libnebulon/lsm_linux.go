package libnebulon

import (
	"bytes"
	"log/slog"
	"os"

	selinux "github.com/opencontainers/selinux/go-selinux"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
)

// Linux security modules: process.apparmorProfile, process.selinuxLabel and linux.mountLabel.
// They are checked here, in the runtime; the init applies the process's labels (initproc) and
// the mounts' (rootfs).
//
// AppArmor: a profile asked for where AppArmor is off is an error (it would run the process
// unconfined); the profile applies at exec, as the exec attribute of the init's thread.
// SELinux: where it is disabled, labels are a no-op with a debug log, as in runc (engines set
// them on every container whatever the host); where it is enabled, the process label applies at
// exec, the keyring and mounts get it too.

// apparmorEnabled reports whether the host enforces AppArmor profiles.
func apparmorEnabled() bool {
	if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
		return false
	}
	data, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && bytes.HasPrefix(data, []byte("Y"))
}

// checkLSM checks, in the runtime, that the labels asked for can be applied here.
func checkLSM(apparmorProfile, processLabel, mountLabel string) error {
	if apparmorProfile != "" && !apparmorEnabled() {
		return linuxspec.Errorf("process.apparmorProfile", "%q: AppArmor is not enabled on this host", apparmorProfile)
	}
	if (processLabel != "" || mountLabel != "") && !selinux.GetEnabled() {
		slog.Debug("SELinux is disabled: labels are not applied", "process", processLabel, "mount", mountLabel)
	}
	return nil
}

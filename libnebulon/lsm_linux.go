package libnebulon

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	selinux "github.com/opencontainers/selinux/go-selinux"
	"github.com/opencontainers/selinux/go-selinux/label"
	"golang.org/x/sys/unix"
)

// Linux security modules: process.apparmorProfile, process.selinuxLabel and linux.mountLabel.
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
		return fieldErr("process.apparmorProfile", "%q: AppArmor is not enabled on this host", apparmorProfile)
	}
	if (processLabel != "" || mountLabel != "") && !selinux.GetEnabled() {
		slog.Debug("SELinux is disabled: labels are not applied", "process", processLabel, "mount", mountLabel)
	}
	return nil
}

// applyExecLabels sets what the kernel applies at the init's execve: the AppArmor profile and
// the SELinux process label. It runs on the init's locked thread, which execs.
func applyExecLabels(p *specs.Process) error {
	if p.ApparmorProfile != "" {
		if err := setAppArmorExec(p.ApparmorProfile); err != nil {
			return fmt.Errorf("process.apparmorProfile %q: %w", p.ApparmorProfile, err)
		}
	}
	if p.SelinuxLabel != "" && selinux.GetEnabled() {
		if err := selinux.SetExecLabel(p.SelinuxLabel); err != nil {
			return fmt.Errorf("process.selinuxLabel %q: %w", p.SelinuxLabel, err)
		}
	}
	return nil
}

// setKeyLabel labels the session keyring the init is about to make (SELinux enabled only).
func setKeyLabel(processLabel string) error {
	if processLabel == "" || !selinux.GetEnabled() {
		return nil
	}
	if err := selinux.SetKeyLabel(processLabel); err != nil {
		return fmt.Errorf("process.selinuxLabel %q: label the session keyring: %w", processLabel, err)
	}
	return nil
}

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

// setAppArmorExec writes "exec PROFILE" to this thread's AppArmor exec attribute, through a
// verified procfs handle: the container's /proc, mounted by its config, could put anything at
// /proc/thread-self/attr.
func setAppArmorExec(profile string) error {
	proc, err := procfs.OpenProcRoot()
	if err != nil {
		return err
	}
	defer proc.Close()
	var lastErr error
	// Kernels with LSM stacking have an attr directory per module; older ones only attr/exec.
	for _, attr := range []string{"attr/apparmor/exec", "attr/exec"} {
		h, closer, err := proc.OpenThreadSelf(attr)
		if err != nil {
			lastErr = err
			continue
		}
		err = writeProc(h, "exec "+profile)
		if errors.Is(err, unix.ENOENT) {
			err = fmt.Errorf("no such profile loaded: %w", err)
		}
		h.Close()
		closer()
		return err
	}
	return lastErr
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

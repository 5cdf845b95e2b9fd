package initproc

import (
	"errors"
	"fmt"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/selinux/go-selinux"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
)

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

// setAppArmorExec writes "exec PROFILE" to this thread's AppArmor exec attribute, through a
// verified procfs handle: the container's /proc, mounted by its config, could put anything at
// /proc/thread-self/attr.
func setAppArmorExec(profile string) error {
	procRoot, err := procfs.OpenProcRoot()
	if err != nil {
		return err
	}
	defer procRoot.Close()
	var lastErr error
	// Kernels with LSM stacking have an attr directory per module; older ones only attr/exec.
	for _, attr := range []string{"attr/apparmor/exec", "attr/exec"} {
		h, closer, err := procRoot.OpenThreadSelf(attr)
		if err != nil {
			lastErr = err
			continue
		}
		err = proc.Write(h, "exec "+profile)
		if errors.Is(err, unix.ENOENT) {
			err = fmt.Errorf("no such profile loaded: %w", err)
		}
		h.Close()
		closer()
		return err
	}
	return lastErr
}

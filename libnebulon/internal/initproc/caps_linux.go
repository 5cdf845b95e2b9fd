package initproc

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
)

// setUserAndCaps switches to process.user and leaves exactly the capability sets the spec asks
// for, on the calling thread, which must be the init's locked main thread (see setupProcess). The bounding set is dropped while still root; keep-caps carries the permitted set across
// the uid change, and the final sets are applied after it (capabilities(7), "Effect of user ID
// changes on capabilities").
func setUserAndCaps(p *specs.Process) error {
	caps, err := capability.NewPid2(0)
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	caps.Clear(capability.CAPS | capability.BOUNDS | capability.AMBS)
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if c := p.Capabilities; c != nil {
		unknown := map[string]bool{}
		for which, names := range map[capability.CapType][]string{
			capability.BOUNDING: c.Bounding, capability.EFFECTIVE: c.Effective,
			capability.INHERITABLE: c.Inheritable, capability.PERMITTED: c.Permitted, capability.AMBIENT: c.Ambient,
		} {
			for _, n := range names {
				cp, ok := lookupCap(n, last)
				if !ok {
					unknown[n] = true
					continue
				}
				caps.Set(which, cp)
			}
		}
		if len(unknown) > 0 {
			// runc's words: a config for a newer kernel (CAP_CHECKPOINT_RESTORE on 5.8-) or
			// with a typo still runs, without them (config.md: runtimes SHOULD NOT fail).
			slog.Warn(fmt.Sprintf("ignoring unknown or unavailable capabilities: %v", slices.Sorted(maps.Keys(unknown))))
		}
	}
	if err := caps.Apply(capability.BOUNDING); err != nil {
		return fmt.Errorf("process.capabilities.bounding: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_KEEPCAPS)", err)
	}
	u := p.User
	gids := make([]int, len(u.AdditionalGids))
	for i, g := range u.AdditionalGids {
		gids[i] = int(g)
	}
	// Per thread, like capset (see setresuid).
	if err := setgroups(gids); err != nil && !(len(gids) == 0 && setgroupsDenied()) {
		if setgroupsDenied() {
			return fmt.Errorf("process.user.additionalGids %v: the user namespace denies setgroups (a rootless gidMappings of the caller's own gid alone: map /etc/subgid ranges, through newgidmap, for additional groups)", u.AdditionalGids)
		}
		return fmt.Errorf("process.user.additionalGids %v: %w", u.AdditionalGids, os.NewSyscallError("setgroups", err))
	}
	if err := setresgid(int(u.GID)); err != nil {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, os.NewSyscallError("setresgid", err))
	}
	if err := setresuid(int(u.UID)); err != nil {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, os.NewSyscallError("setresuid", err))
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_KEEPCAPS)", err)
	}
	if err := caps.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	return raiseAmbient(p.Capabilities)
}

// lookupCap is the capability a name of process.capabilities names, if both the library and
// the running kernel (whose last is last) know it.
func lookupCap(name string, last capability.Cap) (capability.Cap, bool) {
	cp, ok := linuxspec.Capabilities[strings.ToUpper(name)]
	return cp, ok && cp <= last
}

// raiseAmbient raises the ambient capabilities one by one. The kernel allows only those both
// permitted and inheritable (PR_CAP_AMBIENT_RAISE); like runc, others are logged and skipped, as
// configs such as `runc spec`'s list ambient capabilities without inheritable ones.
func raiseAmbient(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	for _, n := range c.Ambient {
		cp, ok := lookupCap(n, last)
		if !ok {
			continue // warned about by setUserAndCaps
		}
		if missing := missingFor(c, n); missing != "" {
			slog.Warn(fmt.Sprintf("ambient capability not raised: %s is not in the %s set", n, missing))
			continue
		}
		err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(cp), 0, 0)
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) {
			slog.Warn(fmt.Sprintf("can't raise ambient capability %s: %v", n, err))
			continue
		}
		if err != nil {
			return fmt.Errorf("process.capabilities.ambient %s: %w", n, os.NewSyscallError("prctl(PR_CAP_AMBIENT_RAISE)", err))
		}
	}
	return nil
}

// missingFor names the set, inheritable or permitted, that lacks the ambient capability name:
// PR_CAP_AMBIENT_RAISE needs it in both (capabilities(7)).
func missingFor(c *specs.LinuxCapabilities, name string) string {
	has := func(set []string) bool {
		for _, n := range set {
			if strings.EqualFold(n, name) {
				return true
			}
		}
		return false
	}
	switch {
	case !has(c.Inheritable):
		return "inheritable"
	case !has(c.Permitted):
		return "permitted"
	}
	return ""
}

// setgroupsDenied reports whether this user namespace denies setgroups, as one does whose
// gid_map an unprivileged user wrote (user_namespaces(7), /proc/pid/setgroups): the process then
// keeps the groups it has, which runc leaves too.
func setgroupsDenied() bool {
	data, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(data)) == "deny"
}

//go:build cgo

package seccomp

import (
	"slices"

	libseccomp "github.com/seccomp/libseccomp-golang"
)

// Features lists, for `nebulon features` (features-linux.md, "seccomp"), the action, operator
// and architecture names Compile recognizes and the flag names this kernel also supports
// (features.json "supportedFlags"; KnownFlags gives "knownFlags"). enabled is whether this build
// has seccomp, which the spec makes irrelevant to the kernel. Architectures that the linked
// libseccomp lacks are left out, since Compile refuses them.
func Features() (enabled bool, actions, operators, archs, flags []string) {
	for name := range scmpActions {
		actions = append(actions, string(name))
	}
	for name := range scmpOperators {
		operators = append(operators, string(name))
	}
	for name, arch := range scmpArchs {
		if libHasArch(arch) {
			archs = append(archs, string(name))
		}
	}
	slices.Sort(actions)
	slices.Sort(operators)
	slices.Sort(archs)
	return true, actions, operators, archs, supportedFlags()
}

// libHasArch reports whether the linked libseccomp knows an architecture: the bindings name
// every architecture of their newest libseccomp, and refuse those an older one lacks (M68K, SH
// and SHEB came in 2.6) when asked for a syscall on it.
func libHasArch(arch libseccomp.ScmpArch) bool {
	_, err := libseccomp.GetSyscallFromNameByArch("read", arch)
	return err == nil
}

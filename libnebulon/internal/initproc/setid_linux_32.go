//go:build linux && (386 || arm)

package initproc

import "golang.org/x/sys/unix"

// The 32-bit ids calls; the plain ones take 16-bit ids on these architectures.
const (
	sysSetresuid = unix.SYS_SETRESUID32
	sysSetresgid = unix.SYS_SETRESGID32
)

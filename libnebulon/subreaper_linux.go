package libnebulon

import (
	"os"

	"golang.org/x/sys/unix"
)

// BecomeSubreaper makes the caller a child subreaper (PR_SET_CHILD_SUBREAPER): a container's init
// is the child of a stage that exits at once, so a caller that waits for the init must inherit
// it.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", err)
	}
	return nil
}

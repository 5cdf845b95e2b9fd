package libnebulon

import (
	"os"

	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// writeProc writes value to a procfs file h opened through a verified procfs handle
// (pathrs-lite's procfs): it is reopened for writing through h, never by a path the
// container's /proc could redirect (CVE-2025-52881).
func writeProc(h *os.File, value string) error {
	f, err := pathrs.Reopen(h, unix.O_WRONLY|unix.O_CLOEXEC)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(value)
	return err
}

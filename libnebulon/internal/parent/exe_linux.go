package parent

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountfd"
)

// readonlyExe opens this binary on a detached, read-only bind mount of its own, for stage0 to be
// exec'd from (CVE-2019-5736).
//
// The init and an exec'd process's init are this binary until they exec the container's
// program, and a program whose interpreter is /proc/self/exe makes the kernel run this binary
// again as the container's process. Either way a container process can reach the binary
// through /proc/<pid>/exe, keep it open, and once it is no longer running open it for writing:
// the next runtime started on the host would run the container's code. Through a read-only
// mount that write fails with EROFS. Unlike a sealed copy of the binary (runc's first fix), it
// costs no memory per container and three syscalls per start; the mount lives as long as
// something holds it, here this fd and then the processes running from it.
func readonlyExe() (*os.File, error) {
	f, err := os.OpenFile("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", err)
	}
	defer f.Close()
	tree, err := mountfd.Clone(f, false, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV)
	if err != nil {
		return nil, fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", err)
	}
	return os.NewFile(uintptr(tree), "/proc/self/exe (read-only)"), nil
}

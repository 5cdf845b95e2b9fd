package initproc

import (
	"fmt"
	"os"
	"strings"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
)

func setKernelNames(s *specs.Spec) error {
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("hostname %q: %w", s.Hostname, os.NewSyscallError("sethostname", err))
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("domainname %q: %w", s.Domainname, os.NewSyscallError("setdomainname", err))
		}
	}
	if len(s.Linux.Sysctl) == 0 {
		return nil
	}
	// A procfs of our own, checked: the container's /proc is whatever its config mounted, and a
	// mount over /proc/sys/... would take the write elsewhere (CVE-2025-52881). One full handle
	// for all the sysctls (OpenProcRoot's is pid-only and would make one per file), closed
	// before anything of the container runs.
	procRoot, err := procfs.OpenUnsafeProcRoot()
	if err != nil {
		return fmt.Errorf("linux.sysctl: open procfs: %w", err)
	}
	defer procRoot.Close()
	for key, val := range s.Linux.Sysctl {
		if err := writeSysctl(procRoot, key, val); err != nil {
			return fmt.Errorf("linux.sysctl %s=%s: %w", key, val, err)
		}
	}
	return nil
}

func writeSysctl(procRoot *procfs.Handle, key, val string) error {
	h, err := procRoot.OpenRoot("sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		return err
	}
	defer h.Close()
	return proc.Write(h, val)
}

// loopbackUp brings up lo in a new network namespace, where the kernel makes it down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", os.NewSyscallError("ioctl(SIOCGIFFLAGS)", err))
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", os.NewSyscallError("ioctl(SIOCSIFFLAGS)", err))
	}
	return nil
}

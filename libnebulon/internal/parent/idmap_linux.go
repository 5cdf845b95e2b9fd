package parent

import (
	"fmt"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountfd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// idmappedMounts makes the id-mapped mounts of s (runtime-spec config.md "mounts": idmap,
// ridmap, uidMappings/gidMappings) as detached trees, for the init to attach (syncmsg step 6a).
// The runtime makes them because the init cannot: MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN in the
// user namespace of the source's filesystem, the host's, which an init in a user namespace has
// lost; and a user namespace with host ids in its maps can only be made from outside. A mount
// with maps of its own is mapped through a user namespace made for them; one without, through
// the container's (pid is the init, already in it). A source inside the container's root
// filesystem (rootfs: its names) is resolved inside it. It returns nil if s has none.
func idmappedMounts(s *specs.Spec, rootfs []string, pid int) (m *syncmsg.MountFds, retErr error) {
	m = &syncmsg.MountFds{}
	defer func() {
		if retErr != nil {
			for _, fd := range m.Fds {
				unix.Close(fd)
			}
		}
	}()
	for i, mnt := range s.Mounts {
		opts, err := mountopt.Parse(mnt.Options)
		if err != nil {
			return nil, err
		}
		if !opts.IDMap && len(mnt.UIDMappings) == 0 {
			continue
		}
		tree, err := idmappedMount(mnt, opts, rootfs, pid)
		if err != nil {
			return m, fmt.Errorf("mounts[%d] (%s on %s): id-mapped mount: %w", i, mnt.Source, mnt.Destination, err)
		}
		m.Mounts = append(m.Mounts, i)
		m.Fds = append(m.Fds, tree)
	}
	if len(m.Mounts) == 0 {
		return nil, nil
	}
	return m, nil
}

func idmappedMount(mnt specs.Mount, opts mountopt.Options, rootfs []string, pid int) (int, error) {
	var userns *os.File
	var err error
	if len(mnt.UIDMappings) > 0 {
		userns, err = mountfd.NewUserns(sysIDMap(mnt.UIDMappings), sysIDMap(mnt.GIDMappings))
	} else {
		userns, err = os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	}
	if err != nil {
		return -1, err
	}
	defer userns.Close()
	root, err := os.OpenFile(rootfs[0], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer root.Close()
	// The runtime sees the host: a source in the rootfs must not follow the image's symlinks
	// out of it (CVE-2021-30465).
	src, err := mountfd.OpenBindSource(mnt.Source, root, rootfs...)
	if err != nil {
		return -1, err
	}
	defer src.Close()
	return mountfd.CloneIDMapped(src, opts.Recursive, opts.IDMapRecursive, userns)
}

func sysIDMap(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

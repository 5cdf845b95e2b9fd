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

// hostMounts makes, as detached trees for the init to attach (syncmsg step 6a), the bind mounts
// of s that the init could not make itself, and returns nil if s has none:
//   - id-mapped mounts (runtime-spec config.md "mounts": idmap, ridmap, uidMappings/gidMappings):
//     MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN in the user namespace of the source's filesystem, the
//     host's, which an init in a user namespace has lost; and a user namespace with host ids in
//     its maps can only be made from outside. A mount with maps of its own is mapped through a
//     user namespace made for them; one without, through the container's (pid is the init,
//     already in it);
//   - with a user namespace, every other bind mount too, as runc does: its root is an
//     unprivileged host uid, which cannot reach a source under a directory only the host's root
//     may enter (a pod's /dev/shm and volumes under containerd's 0700 state directories). The
//     runtime opens them, as the host's root, up to maxHostBinds of them; the init opens the
//     rest, which SCM_RIGHTS could not carry in one message.
//
// A source inside the container's root filesystem (rootfs: its names) is resolved inside it.
func hostMounts(s *specs.Spec, rootfs []string, pid int) (m *syncmsg.MountFds, retErr error) {
	m = &syncmsg.MountFds{}
	defer func() {
		if retErr != nil {
			for _, fd := range m.Fds {
				unix.Close(fd)
			}
		}
	}()
	userns := false
	if s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			userns = userns || ns.Type == specs.UserNamespace
		}
	}
	binds := 0
	for i, mnt := range s.Mounts {
		opts, err := mountopt.Parse(mnt.Options)
		if err != nil {
			return nil, err
		}
		idmapped := opts.IDMap || len(mnt.UIDMappings) > 0
		if idmapped && os.Geteuid() != 0 {
			return m, fmt.Errorf("mounts[%d] (%s on %s): an id-mapped mount needs CAP_SYS_ADMIN over the source's filesystem, which nebulon run by uid %d does not have", i, mnt.Source, mnt.Destination, os.Geteuid())
		}
		// Rootless, the runtime can reach no more than the init (both are the caller), and
		// cannot clone mounts (open_tree needs CAP_SYS_ADMIN over its mount namespace): the
		// init makes its binds itself.
		if !idmapped && (!userns || !opts.Bind || binds >= maxHostBinds || os.Geteuid() != 0) {
			continue
		}
		var tree int
		if idmapped {
			tree, err = idmappedMount(mnt, opts, rootfs, pid)
		} else {
			binds++
			tree, err = hostBind(mnt, opts, rootfs)
		}
		if err != nil {
			what := "bind mount"
			if idmapped {
				what = "id-mapped mount"
			}
			return m, fmt.Errorf("mounts[%d] (%s on %s): %s: %w", i, mnt.Source, mnt.Destination, what, err)
		}
		m.Mounts = append(m.Mounts, i)
		m.Fds = append(m.Fds, tree)
	}
	if len(m.Mounts) == 0 {
		return nil, nil
	}
	return m, nil
}

// maxHostBinds bounds the plain bind mounts the runtime opens for a container with a user
// namespace: with the id-mapped ones, their fds go in one SCM_RIGHTS message, which carries at
// most 253 (SCM_MAX_FD).
const maxHostBinds = 200

// hostBind opens the source of the bind mount mnt as the host's root and clones it, with the
// mounts below it for rbind.
func hostBind(mnt specs.Mount, opts mountopt.Options, rootfs []string) (int, error) {
	src, err := openSource(mnt, rootfs)
	if err != nil {
		return -1, err
	}
	defer src.Close()
	return mountfd.Clone(src, opts.Recursive, 0)
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
	src, err := openSource(mnt, rootfs)
	if err != nil {
		return -1, err
	}
	defer src.Close()
	return mountfd.CloneIDMapped(src, opts.Recursive, opts.IDMapRecursive, userns)
}

// openSource opens mnt's source. The runtime sees the host: a source in the rootfs must not
// follow the image's symlinks out of it (CVE-2021-30465).
func openSource(mnt specs.Mount, rootfs []string) (*os.File, error) {
	root, err := os.OpenFile(rootfs[0], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return mountfd.OpenBindSource(mnt.Source, root, rootfs...)
}

func sysIDMap(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

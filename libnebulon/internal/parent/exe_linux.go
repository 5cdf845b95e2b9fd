package parent

import (
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
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

// protectedExe opens the binary stage0 is exec'd from, one that no process of the container can
// write (CVE-2019-5736, see readonlyExe).
//
// An unprivileged runtime cannot make a mount (open_tree needs CAP_SYS_ADMIN over its mount
// namespace), nor needs one when the container cannot write the binary anyway: its processes
// run as host ids the caller maps (l's uidMappings and gidMappings) plus the caller's own groups,
// which setgroups "deny" leaves them, and capabilities in a user namespace override no
// permission on an inode whose owner that namespace does not map (capable_wrt_inode_uidgid).
// A binary owned by root, mode 0755 (an installed nebulon), is such a binary: then it is exec'd
// as it is, at the cost of one fstat and one getxattr. One the container could write (a user's
// own build in its home) is refused, with what to do.
func protectedExe(l *specs.Linux) (*os.File, error) {
	if os.Geteuid() == 0 {
		return readonlyExe()
	}
	f, err := os.OpenFile("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", err)
	}
	if err := checkExeUnwritable(f, l); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkExeUnwritable refuses a binary that an id of the container may write: through its mode
// for the owner, group or others, or through an ACL (any: its entries are not weighed).
func checkExeUnwritable(f *os.File, l *specs.Linux) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", os.NewSyscallError("fstat", err))
	}
	uids, gids := containerIDs(l)
	var who string
	switch {
	case st.Mode&0o002 != 0:
		who = "every user (mode o+w)"
	case st.Mode&0o200 != 0 && uids(st.Uid):
		who = fmt.Sprintf("its owner, uid %d, which the container maps", st.Uid)
	case st.Mode&0o020 != 0 && gids(st.Gid):
		who = fmt.Sprintf("its group, gid %d, which the container's processes have", st.Gid)
	case hasACL(f):
		who = "the users its ACL names (system.posix_acl_access)"
	default:
		return nil
	}
	path, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	return fmt.Errorf("protect the runtime binary (CVE-2019-5736): %s can be written by %s: a container process could overwrite it through /proc/<pid>/exe; run a nebulon owned by root and not writable by this user (e.g. install -m 0755 as root to /usr/local/bin)", path, who)
}

// containerIDs returns whether a host uid, and a host gid, is one a process of the container
// may act as: in the maps, or (the container's processes keep them) the caller's own ids and
// groups. Without a user namespace they are the caller's only.
func containerIDs(l *specs.Linux) (uid, gid func(uint32) bool) {
	groups, _ := unix.Getgroups()
	inMaps := func(maps []specs.LinuxIDMapping, id uint32) bool {
		for _, m := range maps {
			if id >= m.HostID && id-m.HostID < m.Size {
				return true
			}
		}
		return false
	}
	var um, gm []specs.LinuxIDMapping
	if l != nil {
		um, gm = l.UIDMappings, l.GIDMappings
	}
	uid = func(id uint32) bool { return id == uint32(os.Geteuid()) || id == uint32(os.Getuid()) || inMaps(um, id) }
	gid = func(id uint32) bool {
		if id == uint32(os.Getegid()) || id == uint32(os.Getgid()) || inMaps(gm, id) {
			return true
		}
		for _, g := range groups {
			if uint32(g) == id {
				return true
			}
		}
		return false
	}
	return uid, gid
}

// hasACL reports whether the file has an access ACL.
func hasACL(f *os.File) bool {
	_, err := unix.Getxattr(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), "system.posix_acl_access", nil)
	return err == nil
}

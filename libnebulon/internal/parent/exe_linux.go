package parent

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountfd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/nsexec"
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

// joinedNS is a user namespace joined by path: the path and the namespace it named.
type joinedNS struct {
	nsID
	path string
}

// protectedExe opens the binary stage0 is exec'd from, one that no process of the container can
// write (CVE-2019-5736, see readonlyExe).
//
// An unprivileged runtime cannot make a mount (open_tree needs CAP_SYS_ADMIN over its mount
// namespace), nor needs one when the container cannot write the binary anyway: its processes
// run as host ids the caller maps (l's uidMappings and gidMappings, or the maps of the user
// namespace it joins) plus the caller's own groups, which setgroups "deny" leaves them, and
// capabilities in a user namespace override no permission on an inode whose owner that
// namespace does not map (capable_wrt_inode_uidgid).
// A binary owned by root, mode 0755 (an installed nebulon), is such a binary: then it is exec'd
// as it is, at the cost of one fstat and one getxattr. One the container could write (a user's
// own build in its home) is exec'd from a read-only mount made in a user namespace of
// its own (rootlessReadonlyExe).
func protectedExe(p *Process) (*os.File, *joinedNS, error) {
	if os.Geteuid() == 0 {
		exe, err := readonlyExe()
		return exe, nil, err
	}
	f, err := os.OpenFile("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", err)
	}
	maps, joined, err := containerMaps(p)
	if err == nil {
		err = checkExeUnwritable(f, maps)
	} else {
		err = fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", err)
	}
	if err == nil {
		return f, joined, nil
	}
	f.Close()
	ro, herr := rootlessReadonlyExe()
	if herr != nil {
		return nil, nil, fmt.Errorf("%w; and the read-only mount of it in a user namespace of its own failed: %v", err, herr)
	}
	return ro, nil, nil
}

// containerMaps returns the uid and gid maps of the user namespace the process will be in, as a
// specs.Linux for checkExeUnwritable: for an exec, the init's, read through its pid while its
// pidfd says it is alive (a namespace path in the spec may name a holder gone since, its pid
// reused); for an init joining a user namespace by path, those of the namespace the path names
// now, whose identity joined returns: launch checks the path still names that one once the
// init has joined it (checkJoinedUserNS); else the spec's.
func containerMaps(p *Process) (_ *specs.Linux, joined *joinedNS, _ error) {
	l := p.Spec.Linux
	if p.InitPid != 0 && p.InitPidfd != nil {
		uids, gids, err := pidMaps(strconv.Itoa(p.InitPid))
		if err == nil && (len(uids) == 0 || len(gids) == 0) {
			err = errors.New("its user namespace maps no ids yet")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("the ids of the container's user namespace, from its init (pid %d): %w", p.InitPid, err)
		}
		if err := unix.PidfdSendSignal(int(p.InitPidfd.Fd()), 0, nil, 0); err != nil {
			return nil, nil, fmt.Errorf("container init %d: %w", p.InitPid, os.NewSyscallError("pidfd_send_signal", err))
		}
		return &specs.Linux{UIDMappings: uids, GIDMappings: gids}, nil, nil
	}
	if l == nil {
		return nil, nil, nil
	}
	for _, ns := range l.Namespaces {
		if ns.Type != specs.UserNamespace || ns.Path == "" {
			continue
		}
		uids, gids, id, err := userNamespaceMaps(ns.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("the ids of the user namespace the container joins (%s): %w", ns.Path, err)
		}
		return &specs.Linux{UIDMappings: uids, GIDMappings: gids}, &joinedNS{id, ns.Path}, nil
	}
	return &specs.Linux{UIDMappings: l.UIDMappings, GIDMappings: l.GIDMappings}, nil, nil
}

// checkJoinedUserNS checks, once stage0 has joined the user namespace at path (opening it
// again), that path still names the namespace whose maps protectedExe weighed (want): a holder
// that exited in between, its pid reused, would have put the init in another's, and path then
// names that other one. The init itself cannot be looked at: it is not dumpable, so its
// /proc/PID/ns files are closed to an unprivileged runtime. What this leaves is a pid reused
// twice within the start, the second time by a process back in the weighed namespace. The init
// runs nothing of the container's until launch returns, so none of the joined namespace's
// processes could reach the binary through it before this check.
func checkJoinedUserNS(path string, want nsID) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("the user namespace the container joins: %w", &os.PathError{Op: "stat", Path: path, Err: err})
	}
	if st.Dev != want.dev || st.Ino != want.ino {
		return fmt.Errorf("the user namespace the container joins (%s) changed while it started (the process holding it exited and its pid was reused?)", path)
	}
	return nil
}

// rootlessReadonlyExe makes, for an unprivileged runtime whose binary the container could write,
// the detached read-only bind mount of it that readonlyExe makes as root: in a user and mount
// namespace of its own, where it holds CAP_SYS_ADMIN, by a child cloned there that shares this
// process's memory and fds (nsexec/roexe_linux.c): no exec, no copy (see
// BenchmarkRootlessReadonlyExe).
func rootlessReadonlyExe() (*os.File, error) {
	// By its path, not /proc/self/exe: that link leads to this process's mount of the binary,
	// in the host's mount namespace, which open_tree refuses to clone from another (EINVAL);
	// the path resolves in the child's. The inode is checked once the fd is back.
	path, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return nil, err
	}
	ro, err := readonlyMountBy(path)
	if err != nil {
		return nil, err
	}
	if !sameFile(ro, "/proc/self/exe") {
		ro.Close()
		return nil, fmt.Errorf("the read-only mount of %s is no longer this binary", path)
	}
	return ro, nil
}

// readonlyMountBy returns a detached read-only bind mount of the file at path, made in a user
// and mount namespace of its own.
func readonlyMountBy(path string) (*os.File, error) {
	return nsexec.ReadonlyExe(path)
}

// checkExeUnwritable refuses a binary that an id of the container may write: its owner, whatever
// the mode (an owner may chmod it, and the container's root in its user namespace is the owner
// when that namespace maps the owner's uid), its group or others through the mode, or anyone
// through an ACL (any: its entries are not weighed).
func checkExeUnwritable(f *os.File, l *specs.Linux) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", os.NewSyscallError("fstat", err))
	}
	uids, gids, err := containerIDs(l)
	if err != nil {
		return fmt.Errorf("protect the runtime binary (CVE-2019-5736): %w", err)
	}
	var who string
	switch {
	case st.Mode&0o002 != 0:
		who = "every user (mode o+w)"
	case uids(st.Uid):
		who = fmt.Sprintf("its owner, uid %d, which the container maps (an owner may chmod it)", st.Uid)
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
// may act as: in the maps of its user namespace (l's, from containerMaps), or (the container's
// processes keep them) the caller's own ids and groups. Without maps they are the caller's only.
func containerIDs(l *specs.Linux) (uid, gid func(uint32) bool, _ error) {
	var um, gm []specs.LinuxIDMapping
	if l != nil {
		um, gm = l.UIDMappings, l.GIDMappings
	}
	groups, _ := unix.Getgroups()
	inMaps := func(maps []specs.LinuxIDMapping, id uint32) bool {
		for _, m := range maps {
			if id >= m.HostID && id-m.HostID < m.Size {
				return true
			}
		}
		return false
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
	return uid, gid, nil
}

// userNamespaceMaps reads the uid and gid maps of the user namespace at path (a namespace file:
// /proc/PID/ns/user, or a bind mount of one), and returns its identity, from a process in it,
// whose /proc/PID/uid_map and gid_map anyone may read: the process the path names, else (only
// then: a scan of /proc costs) the first found in /proc. A namespace file says nothing of its
// maps, and one nobody is in has no process to read them from, nor does one not mapped yet
// (empty maps): that is an error, and the caller takes the binary for writable.
func userNamespaceMaps(path string) (uids, gids []specs.LinuxIDMapping, id nsID, _ error) {
	// Opened once: the identity is of the file opened, not of what the path names later.
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, id, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var want unix.Stat_t
	err = unix.Fstat(fd, &want)
	unix.Close(fd)
	if err != nil {
		return nil, nil, id, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	id = nsID{want.Dev, want.Ino}
	in := func(pid string) bool {
		var st unix.Stat_t
		return unix.Stat("/proc/"+pid+"/ns/user", &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino
	}
	unmapped := false
	read := func(pid string) bool {
		if !in(pid) {
			return false
		}
		var err error
		if uids, gids, err = pidMaps(pid); err != nil {
			return false
		}
		// Still in it: a pid reused between the reads would have given another's maps.
		if !in(pid) {
			return false
		}
		if len(uids) == 0 || len(gids) == 0 {
			unmapped = true
			return false
		}
		return true
	}
	if rest, ok := strings.CutPrefix(path, "/proc/"); ok {
		if pid, _, ok := strings.Cut(rest, "/"); ok && read(pid) {
			return uids, gids, id, nil
		}
	}
	if !unmapped {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return nil, nil, id, err
		}
		for _, e := range entries {
			if e.Name()[0] >= '0' && e.Name()[0] <= '9' && read(e.Name()) {
				return uids, gids, id, nil
			}
			if unmapped {
				break
			}
		}
	}
	if unmapped {
		return nil, nil, id, errors.New("its uid_map or gid_map is empty: it maps no ids yet")
	}
	return nil, nil, id, errors.New("no process is in it to read its uid_map and gid_map from")
}

// pidMaps reads /proc/PID/uid_map and gid_map.
func pidMaps(pid string) (uids, gids []specs.LinuxIDMapping, err error) {
	if uids, err = readIDMap("/proc/" + pid + "/uid_map"); err != nil {
		return nil, nil, err
	}
	if gids, err = readIDMap("/proc/" + pid + "/gid_map"); err != nil {
		return nil, nil, err
	}
	return uids, gids, nil
}

// readIDMap reads a /proc/PID/uid_map or gid_map: lines "inside outside count".
func readIDMap(path string) ([]specs.LinuxIDMapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var maps []specs.LinuxIDMapping
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		var v [3]uint64
		for i := range f {
			if v[i], err = strconv.ParseUint(f[i], 10, 32); err != nil {
				return nil, fmt.Errorf("%s: %q: %w", path, line, err)
			}
		}
		maps = append(maps, specs.LinuxIDMapping{ContainerID: uint32(v[0]), HostID: uint32(v[1]), Size: uint32(v[2])})
	}
	return maps, nil
}

// hasACL reports whether the file has an access ACL.
func hasACL(f *os.File) bool {
	_, err := unix.Getxattr(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), "system.posix_acl_access", nil)
	return err == nil
}

// sameFile reports whether f is the file at path (the same inode on the same device).
func sameFile(f *os.File, path string) bool {
	var a, b unix.Stat_t
	return unix.Fstat(int(f.Fd()), &a) == nil && unix.Stat(path, &b) == nil && a.Dev == b.Dev && a.Ino == b.Ino
}

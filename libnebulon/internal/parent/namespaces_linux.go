package parent

import (
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// NamespacePlan is what stage0 does with namespaces (syncmsg.Bootstrap), for a container's init
// and for an exec alike. For a container's init (initPid 0) it joins those the spec gives a path,
// checked first, and creates the others, with the spec's time offsets. For a process exec'd into
// a running container it joins every namespace of the container, through its init's
// /proc/<initPid>/ns files; the caller checks after that initPid is still the init, so a reused
// pid is never joined.
//
// A new cgroup namespace is left to the init, which unshares it once it is in the container's
// cgroups: a cgroup namespace is rooted at the cgroup its creator was in.
func NamespacePlan(s *specs.Spec, initPid int) (*syncmsg.Bootstrap, error) {
	b := &syncmsg.Bootstrap{}
	for i, ns := range s.Linux.Namespaces {
		flag := linuxspec.NamespaceFlags[ns.Type]
		switch {
		case initPid > 0:
			path := fmt.Sprintf("/proc/%d/ns/%s", initPid, linuxspec.NamespaceFiles[ns.Type])
			b.Join = append(b.Join, syncmsg.NsJoin{Flag: flag, Path: path})
		case ns.Path != "":
			if err := checkJoin(s, i); err != nil {
				return nil, err
			}
			b.Join = append(b.Join, syncmsg.NsJoin{Flag: flag, Path: ns.Path})
		case ns.Type != specs.CgroupNamespace:
			b.CloneFlags |= flag
		}
	}
	if initPid == 0 {
		b.TimeOffsets = timeOffsets(s.Linux.TimeOffsets)
	}
	return b, nil
}

// checkJoin checks the path of linux.namespaces[i], a namespace to join.
func checkJoin(s *specs.Spec, i int) error {
	ns := s.Linux.Namespaces[i]
	field := fmt.Sprintf("linux.namespaces[%d].path", i)
	if err := checkNamespacePath(ns.Path, linuxspec.NamespaceFlags[ns.Type]); err != nil {
		return linuxspec.Errorf(field, "%s namespace %s: %v", ns.Type, ns.Path, err)
	}
	if err := checkNotHostSettings(s, ns); err != nil {
		return linuxspec.Errorf(field, "%v", err)
	}
	return nil
}

// timeOffsets is linux.timeOffsets as /proc/self/timens_offsets takes them.
func timeOffsets(offs map[string]specs.LinuxTimeOffset) string {
	var lines []string
	for _, clock := range []string{"boottime", "monotonic"} { // a fixed order: deterministic
		if off, ok := offs[clock]; ok {
			lines = append(lines, fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs))
		}
	}
	return strings.Join(lines, "\n")
}

// hostNamespaceFile names the runtime's own namespace of each type that a config could change
// the host through: sysctls (ipc, network), names (uts), and the root itself (mount).
var hostNamespaceFile = map[specs.LinuxNamespaceType]string{
	specs.NetworkNamespace: "/proc/self/ns/net", specs.IPCNamespace: "/proc/self/ns/ipc",
	specs.UTSNamespace: "/proc/self/ns/uts", specs.MountNamespace: "/proc/self/ns/mnt",
}

// checkNotHostSettings refuses joining the runtime's own mount namespace, and sysctls, hostname
// and domainname that would be applied to a joined namespace that is the runtime's own: they
// would change the host (runc does the same for net.*).
func checkNotHostSettings(s *specs.Spec, ns specs.LinuxNamespace) error {
	hostFile, ok := hostNamespaceFile[ns.Type]
	if !ok {
		return nil
	}
	var joined, host unix.Stat_t
	if unix.Stat(ns.Path, &joined) != nil || unix.Stat(hostFile, &host) != nil ||
		joined.Ino != host.Ino || joined.Dev != host.Dev {
		return nil
	}
	if ns.Type == specs.MountNamespace {
		// pivot_root there would move the root of every process on the host (pivot_root(2)).
		return fmt.Errorf("%s is the host's mount namespace: the root filesystem cannot be set up in it", ns.Path)
	}
	if ns.Type == specs.UTSNamespace && (s.Hostname != "" || s.Domainname != "") {
		return fmt.Errorf("%s is the host's uts namespace: hostname and domainname would rename the host", ns.Path)
	}
	for key := range s.Linux.Sysctl {
		if linuxspec.SysctlNamespace(key) == ns.Type {
			return fmt.Errorf("%s is the host's %s namespace: sysctl %s would change the host", ns.Path, ns.Type, key)
		}
	}
	return nil
}

// checkNamespacePath opens a namespace file and checks its type (ioctl_ns(2), NS_GET_NSTYPE),
// so a wrong path is a clear error before anything is made.
func checkNamespacePath(path string, flag uint32) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("not a namespace file: %w", err)
	}
	if uint32(t) != flag {
		return fmt.Errorf("is a namespace of another type")
	}
	return nil
}

// ExecNamespacePlan is what stage0 joins for a process exec'd into a running container: every
// namespace of the container's init, through init, a pidfd of it, which StartExec passes to
// stage0 (setns(2) with a pidfd, Linux 5.8). A pidfd names one process: an init that has exited
// is ESRCH there, and a pid reused since is never joined.
//
// The namespaces that the init's user namespace does not own (a network namespace an engine made
// before the container, owned by the host's) are joined first, while stage0 still has the
// host's privileges over them; then the user namespace and those it owns. Joining the user
// namespace first would leave stage0 without the right to join the others (EPERM).
//
// Kernels before 5.8 cannot setns through a pidfd: there the namespaces are joined by their
// /proc/<initPid>/ns paths (NamespacePlan), which the caller checks against the pidfd.
func ExecNamespacePlan(s *specs.Spec, init *os.File, initPid int) (*syncmsg.Bootstrap, error) {
	if !pidfdSetns() {
		return NamespacePlan(s, initPid)
	}
	owner, err := userNSOf(initPid)
	if err != nil {
		return nil, err
	}
	j := &syncmsg.PidfdJoin{} // Fd: set by StartExec, which lays out stage0's fds
	for _, ns := range s.Linux.Namespaces {
		flag := linuxspec.NamespaceFlags[ns.Type]
		if owner == nil || ns.Type == specs.UserNamespace {
			j.Then |= flag
			continue
		}
		mine, err := ownedBy(initPid, ns.Type, owner)
		if err != nil {
			return nil, err
		}
		if mine {
			j.Then |= flag
		} else {
			j.First |= flag
		}
	}
	if owner == nil { // no user namespace of its own: everything in one setns
		j.First, j.Then = j.Then, 0
	}
	// The files read were the init's if it is still alive: its pidfd says so.
	if err := unix.PidfdSendSignal(int(init.Fd()), 0, nil, 0); err != nil {
		return nil, fmt.Errorf("container init %d: %w", initPid, os.NewSyscallError("pidfd_send_signal", err))
	}
	return &syncmsg.Bootstrap{Pidfd: j}, nil
}

// nsID identifies a namespace: its nsfs inode.
type nsID struct{ dev, ino uint64 }

// userNSOf returns the user namespace of pid, or nil when it is the runtime's own (the container
// has none of its own).
func userNSOf(pid int) (*nsID, error) {
	var theirs, ours unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &theirs); err != nil {
		return nil, fmt.Errorf("container init %d: %w", pid, &os.PathError{Op: "stat", Path: "ns/user", Err: err})
	}
	if err := unix.Stat("/proc/self/ns/user", &ours); err != nil {
		return nil, &os.PathError{Op: "stat", Path: "/proc/self/ns/user", Err: err}
	}
	if theirs.Dev == ours.Dev && theirs.Ino == ours.Ino {
		return nil, nil
	}
	return &nsID{theirs.Dev, theirs.Ino}, nil
}

// ownedBy reports whether pid's namespace of type t is owned by the user namespace owner
// (ioctl NS_GET_USERNS).
func ownedBy(pid int, t specs.LinuxNamespaceType, owner *nsID) (bool, error) {
	path := fmt.Sprintf("/proc/%d/ns/%s", pid, linuxspec.NamespaceFiles[t])
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	ufd, err := unix.IoctlRetInt(fd, unix.NS_GET_USERNS)
	if err != nil {
		return false, &os.PathError{Op: "ioctl(NS_GET_USERNS)", Path: path, Err: err}
	}
	defer unix.Close(ufd)
	var st unix.Stat_t
	if err := unix.Fstat(ufd, &st); err != nil {
		return false, os.NewSyscallError("fstat", err)
	}
	return st.Dev == owner.dev && st.Ino == owner.ino, nil
}

// pidfdSetns reports whether setns(2) takes a pidfd here (Linux 5.8).
func pidfdSetns() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor)
	return major > 5 || (major == 5 && minor >= 8)
}

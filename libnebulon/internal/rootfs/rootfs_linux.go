// Package rootfs runs in the container's init: it sets up the container's root filesystem in the
// init's mount namespace (mounts, devices, the pivot into the root, masked and read-only paths,
// the terminal's /dev/console). Every path inside the root is resolved relative to a file
// descriptor held on the root, never by joining strings: the container image controls its own
// symlinks (CVE-2021-30465). After the pivot, /proc is the container's, so mounts are made on
// fds with the mount API (mountfd), never by /proc/self/fd paths.
package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountfd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// Root is a container's root filesystem while the init sets it up: Prepare, CreateDevices,
// MkdirAll for the working directory, Pivot, then Finish.
type Root struct {
	cfg  *syncmsg.InitConfig
	root *os.File // O_PATH handle on the rootfs
	// trees are the bind mounts the runtime made (syncmsg.MountFds: id-mapped ones, and in a
	// user namespace the others), by index in mounts[]: attached in place of a bind of their
	// source.
	trees map[int]int
}

// New starts setting up the root described by cfg.
func New(cfg *syncmsg.InitConfig) *Root { return &Root{cfg: cfg} }

// UseMountFds takes the bind mount trees the runtime made for this root; Prepare attaches
// them and closes any it did not use.
func (r *Root) UseMountFds(m *syncmsg.MountFds) {
	r.trees = make(map[int]int, len(m.Mounts))
	for i, idx := range m.Mounts {
		r.trees[idx] = m.Fds[i]
	}
}

// MkdirAll makes a directory inside the root, and the directories above it, as a mount point is
// made (the working directory of the process, say).
func (r *Root) MkdirAll(path string) error {
	d, err := r.target(path, true)
	if err != nil {
		return err
	}
	return d.Close()
}

// procFd names an open file for syscalls that take a path; the init still sees the host's
// /proc until pivot_root.
func procFd(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// Prepare makes the rootfs a mount point of its own (a slave of the host's by default) and
// mounts config.mounts in order.
//
// Without a mount namespace of its own the container shares the runtime's: then the host's
// propagation is left alone, and the rootfs bind mount made here holds every container mount,
// so that delete can detach them all at once.
func (r *Root) Prepare() error {
	if r.cfg.MountNS {
		// Every mount becomes a slave of the host's first, so nothing done here propagates
		// back and the rootfs keeps a master; rootfsPropagation is applied to the new root after
		// pivot_root. Only shared propagation must keep its peers from the start.
		prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
		if p := r.cfg.Spec.Linux.RootfsPropagation; p == "shared" || p == "rshared" {
			prop = mountopt.Propagation[p]
		}
		if err := unix.Mount("", "/", "", prop, ""); err != nil {
			return &os.PathError{Op: "set propagation of /", Path: "/", Err: err}
		}
		if err := makeParentMountPrivate(r.cfg.Rootfs); err != nil {
			return err
		}
	}
	if err := unix.Mount(r.cfg.Rootfs, r.cfg.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return &os.PathError{Op: "bind rootfs onto itself", Path: r.cfg.Rootfs, Err: err}
	}
	root, err := os.OpenFile(r.cfg.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	r.root = root
	defer func() {
		for _, fd := range r.trees {
			unix.Close(fd)
		}
		r.trees = nil
	}()
	for i, m := range r.cfg.Spec.Mounts {
		if err := r.mount(i, m); err != nil {
			return fmt.Errorf("mounts[%d] (%s on %s): %w", i, m.Type, m.Destination, err)
		}
	}
	return nil
}

// makeParentMountPrivate: pivot_root(2) refuses a new root whose parent mount is shared, and a
// bind of the rootfs there would propagate to the host. A parent that is not shared (after the
// default rslave it is a slave) is left as it is, so the rootfs keeps its master and "/" in the
// container stays a slave of the host's mount.
func makeParentMountPrivate(path string) error {
	info, err := mountinfo.GetMounts(mountinfo.ParentsFilter(path))
	if err != nil {
		return fmt.Errorf("find the mount holding %s: %w", path, err)
	}
	var best *mountinfo.Info
	for _, m := range info {
		if best == nil || len(m.Mountpoint) > len(best.Mountpoint) {
			best = m
		}
	}
	if best == nil || !strings.Contains(best.Optional, "shared:") {
		return nil
	}
	if err := unix.Mount("", best.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make mount private", Path: best.Mountpoint, Err: err}
	}
	return nil
}

// target opens (making it first if needed) a mount destination inside the root; dir says
// whether it must be a directory or a file. A destination that is a dangling symlink in the image
// (/etc/hosts -> /tmp/foo/bar/baz/hosts) is made where it points, inside the root, as runc does.
func (r *Root) target(dest string, dir bool) (*os.File, error) {
	if f, err := pathrs.OpenatInRoot(r.root, dest); err == nil {
		return f, nil
	}
	// Resolved in the root as the kernel would resolve it there; what follows opens every
	// component through the root's fd again, with no symlink followed out of it.
	resolved, err := securejoin.SecureJoin(r.cfg.Rootfs, dest)
	if err != nil {
		return nil, err
	}
	if dest, err = filepath.Rel(r.cfg.Rootfs, resolved); err != nil {
		return nil, err
	}
	dest = "/" + dest
	if dir {
		return pathrs.MkdirAllHandle(r.root, dest, 0o755)
	}
	parent, err := pathrs.MkdirAllHandle(r.root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	fd, err := unix.Openat(int(parent.Fd()), filepath.Base(dest), unix.O_CREAT|unix.O_NOFOLLOW|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &os.PathError{Op: "create mount point", Path: dest, Err: err}
	}
	if err == nil {
		unix.Close(fd)
	}
	return pathrs.OpenatInRoot(r.root, dest)
}

func (r *Root) mount(i int, m specs.Mount) error {
	opts, err := mountopt.Parse(m.Options)
	if err != nil {
		return err
	}
	dest := m.Destination
	if !filepath.IsAbs(dest) {
		dest = "/" + dest
	}
	if err := r.checkProcSysLinks(filepath.Clean(dest)); err != nil {
		return err
	}
	if err := r.mountOne(i, m, dest, opts); err != nil {
		return err
	}
	// Recursive attributes reach the submounts an rbind brought along, which mount(2) flags
	// never do (mount_setattr(2), AT_RECURSIVE).
	if err := r.setAttrs(dest, opts.RecAttrSet, opts.RecAttrClr, true); err != nil {
		return err
	}
	return r.propagate(dest, opts)
}

// mountOne makes the mount m at dest with its flags and data.
func (r *Root) mountOne(i int, m specs.Mount, dest string, opts mountopt.Options) error {
	switch {
	case opts.Bind:
		tree, ok := r.trees[i]
		delete(r.trees, i)
		return r.bindMount(m, dest, opts, tree, ok)
	case m.Type == "cgroup":
		return r.mountCgroup(dest, opts)
	}
	covered, _ := pathrs.OpenatInRoot(r.root, dest)
	t, err := r.target(dest, true)
	if err != nil {
		closeIfOpen(covered)
		return err
	}
	defer t.Close()
	if err := r.checkProcTarget(t, m, nil); err != nil {
		closeIfOpen(covered)
		return err
	}
	data := opts.Data
	if m.Type == "tmpfs" {
		data = tmpfsData(covered, data)
	}
	closeIfOpen(covered)
	mountLabel := r.cfg.Spec.Linux.MountLabel
	if err := unix.Mount(m.Source, procFd(t), m.Type, opts.Flags, mountLabelData(data, m.Type, mountLabel)); err != nil {
		return &os.PathError{Op: "mount " + m.Type, Path: dest, Err: err}
	}
	if m.Type == "mqueue" {
		if err := setFileLabel(t, mountLabel); err != nil {
			return err
		}
	}
	if opts.TmpCopyUp && m.Type == "tmpfs" {
		if err := r.copyUp(t, dest); err != nil {
			return fmt.Errorf("tmpcopyup: %w", err)
		}
	}
	return nil
}

func closeIfOpen(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// tmpfsData gives a tmpfs the mode of the directory it covers, if there was one, as runc does:
// an image's /tmp stays 1777 and its /run 755, where tmpfs alone would make both 1777. An
// explicit mode= in data comes after it, and tmpfs takes the last one given.
func tmpfsData(covered *os.File, data string) string {
	var st unix.Stat_t
	if covered == nil || unix.Fstat(int(covered.Fd()), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return data
	}
	mode := fmt.Sprintf("mode=%04o", st.Mode&0o7777)
	if data == "" {
		return mode
	}
	return mode + "," + data
}

// openBindSource opens a bind mount's source. One inside the rootfs is resolved inside it, race
// free: a symlink the container's image (or a process sharing a volume) put there cannot point
// it at the host (CVE-2021-30465).
func (r *Root) openBindSource(source string) (*os.File, error) {
	// The rootfs as resolved, and as the config and bundle path name it (a bundle reached
	// through a symlink names its rootfs by another path).
	roots := []string{r.cfg.Rootfs, r.cfg.Spec.Root.Path}
	if !filepath.IsAbs(r.cfg.Spec.Root.Path) {
		roots[1] = filepath.Join(r.cfg.Bundle, r.cfg.Spec.Root.Path)
	}
	return mountfd.OpenBindSource(source, r.root, roots...)
}

// copyUp fills the tmpfs just mounted at dest with a copy of the directory it covers, which under
// is still open on (the fd was opened before the mount).
func (r *Root) copyUp(under *os.File, dest string) error {
	src, err := os.OpenFile(procFd(under), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	top, err := pathrs.OpenatInRoot(r.root, dest)
	if err != nil {
		return err
	}
	defer top.Close()
	dst, err := os.OpenFile(procFd(top), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer dst.Close()
	if err := copyTree(src, dst); err != nil {
		return err
	}
	// The mount point's own mode and owner too, as runc keeps them (an image's /tmp is 1777).
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return err
	}
	if err := unix.Fchmod(int(dst.Fd()), st.Mode&0o7777); err != nil {
		return err
	}
	return unix.Fchown(int(dst.Fd()), int(st.Uid), int(st.Gid))
}

// procMountable are the files under /proc a mount may cover: lxcfs's, and the two sysctls
// engines bind in (runc's list). Anything else there could hide or redirect what the runtime
// writes to /proc (CVE-2019-16884, CVE-2019-19921).
var procMountable = map[string]bool{
	"/proc/cpuinfo": true, "/proc/diskstats": true, "/proc/meminfo": true, "/proc/stat": true,
	"/proc/swaps": true, "/proc/uptime": true, "/proc/loadavg": true, "/proc/slabinfo": true,
	"/proc/net/dev": true, "/proc/sys/kernel/ns_last_pid": true, "/proc/sys/crypto/fips_enabled": true,
}

// checkProcSysLinks refuses a rootfs whose /proc or /sys is a symlink: the proc or sysfs mount
// would land wherever it points (CVE-2019-19921).
func (r *Root) checkProcSysLinks(dest string) error {
	top := "/" + strings.SplitN(dest[1:], "/", 2)[0]
	if top != "/proc" && top != "/sys" {
		return nil
	}
	var st unix.Stat_t
	err := unix.Fstatat(int(r.root.Fd()), top[1:], &st, unix.AT_SYMLINK_NOFOLLOW)
	if err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return fmt.Errorf("%s in the rootfs is a symlink: refusing to mount there (CVE-2019-19921)", top)
	}
	return nil
}

// checkProcTarget refuses a mount that lands on /proc, or under it, unless it is procfs or a file
// of procMountable (CVE-2019-16884). t is the opened mount point, so a symlink in the rootfs
// (/data -> /proc) is seen through; src is a bind mount's opened source, nil otherwise.
func (r *Root) checkProcTarget(t *os.File, m specs.Mount, src *os.File) error {
	host, err := os.Readlink(procFd(t)) // the runtime's /proc: pivot_root is still to come
	if err != nil {
		return err
	}
	rel, err := filepath.Rel(r.cfg.Rootfs, host)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("mount point %s is outside the rootfs", host)
	}
	dest := filepath.Join("/", rel)
	if dest != "/proc" && !strings.HasPrefix(dest, "/proc/") || procMountable[dest] {
		return nil
	}
	isProc := m.Type == "proc" && src == nil
	if src != nil {
		var sfs unix.Statfs_t
		var st unix.Stat_t
		isProc = unix.Fstatfs(int(src.Fd()), &sfs) == nil && sfs.Type == unix.PROC_SUPER_MAGIC &&
			// /proc itself only takes the root of a procfs.
			(dest != "/proc" || unix.Fstat(int(src.Fd()), &st) == nil && st.Ino == 1)
	}
	if !isProc {
		return fmt.Errorf("%s: only procfs, or a file such as /proc/cpuinfo, may be mounted on /proc (CVE-2019-16884)", dest)
	}
	return nil
}

// bindMount binds m's source at dest; with made, tree is the copy of the source the runtime
// made (id-mapped, or opened as the host's root), attached instead (it is closed here).
func (r *Root) bindMount(m specs.Mount, dest string, opts mountopt.Options, tree int, made bool) error {
	source := m.Source
	var src *os.File
	var err error
	if made {
		src = os.NewFile(uintptr(tree), "runtime's copy of "+source)
	} else if src, err = r.openBindSource(source); err != nil {
		return fmt.Errorf("open bind source: %w", err)
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: source, Err: err}
	}
	t, err := r.target(dest, st.Mode&unix.S_IFMT == unix.S_IFDIR)
	if err != nil {
		return err
	}
	defer t.Close()
	if err := r.checkProcTarget(t, m, src); err != nil {
		return err
	}
	if made {
		if err := mountfd.Attach(tree, t); err != nil {
			return fmt.Errorf("attach %s on %s: %w", source, dest, err)
		}
	} else if err := unix.Mount(procFd(src), procFd(t), "", bindFlags(opts), ""); err != nil {
		return &os.PathError{Op: "bind mount " + source, Path: dest, Err: err}
	}
	set, clr := opts.BindAttrs()
	return r.setAttrs(dest, set, clr, false)
}

func bindFlags(opts mountopt.Options) uintptr {
	if opts.Recursive {
		return unix.MS_BIND | unix.MS_REC
	}
	return unix.MS_BIND
}

// setAttrs changes the attributes of the mount at dest with mount_setattr(2): only those in
// set and clr, so the flags the mount already has (those the kernel locked in a user namespace,
// those of a read-only or nodev source) stay as they are. recursive reaches every mount below it.
func (r *Root) setAttrs(dest string, set, clr uint64, recursive bool) error {
	if set == 0 && clr == 0 {
		return nil
	}
	t, err := pathrs.OpenatInRoot(r.root, dest)
	if err != nil {
		return err
	}
	defer t.Close()
	return setAttrsFd(t, dest, set, clr, recursive)
}

func setAttrsFd(t *os.File, dest string, set, clr uint64, recursive bool) error {
	at := uint(unix.AT_EMPTY_PATH)
	if recursive {
		at |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(int(t.Fd()), "", at, &unix.MountAttr{Attr_set: set, Attr_clr: clr}); err != nil {
		return &os.PathError{Op: "mount_setattr", Path: dest, Err: err}
	}
	return nil
}

func (r *Root) propagate(dest string, opts mountopt.Options) error {
	if len(opts.Propagation) == 0 {
		return nil
	}
	t, err := pathrs.OpenatInRoot(r.root, dest)
	if err != nil {
		return err
	}
	defer t.Close()
	for _, p := range opts.Propagation {
		if err := unix.Mount("", procFd(t), "", p, ""); err != nil {
			return &os.PathError{Op: "set mount propagation", Path: dest, Err: err}
		}
	}
	return nil
}

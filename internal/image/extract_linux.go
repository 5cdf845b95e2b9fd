package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"github.com/moby/sys/userns"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Whiteouts, as OCI image-spec layer.md ("Whiteouts") defines them: ".wh.NAME" deletes NAME
// from the layers below, ".wh..wh..opq" hides everything the layers below put in its
// directory. Other ".wh..wh." names are AUFS bookkeeping with nothing to unpack.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueMarker   = ".wh..wh..opq"
)

// applier unpacks a tar into a directory tree: a layer of an image, or a rootfs tarball. Every
// path is resolved from an fd on the tree's root, one component at a time, and never through
// a symlink (see openDir).
type applier struct {
	root      int  // O_DIRECTORY fd on the tree
	whiteouts bool // image layers have whiteouts; a plain rootfs tarball's ".wh." files are files
	// dirTimes holds directories' times until every layer is in: creating or removing an
	// entry changes its directory's mtime, so they are set last, by finish.
	dirTimes map[string]entryTimes
	// whitedOut is the set of paths the layer has whiteouts for: a directory the layer makes
	// there afterwards must be opaque, or the lower layer's files would show through it.
	whitedOut map[string]bool
	// lowers are fds on the diff dirs of the layers below, top first: a directory the layer
	// makes without an entry of its own takes its attributes from them (mkdirImplicit).
	lowers []int
}

type entryTimes struct{ atime, mtime time.Time }

// mknodType is the file type mknod(2) makes for each device or fifo entry type.
var mknodType = map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}

// newApplier opens dir, an empty directory that the layer will fill, and lowers, the diff
// dirs of the layers below it, top first.
func newApplier(dir string, whiteouts bool, lowers []string) (*applier, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	a := &applier{root: fd, whiteouts: whiteouts, dirTimes: map[string]entryTimes{}}
	for _, l := range lowers {
		fd, err := unix.Open(l, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			a.close()
			return nil, &os.PathError{Op: "open lower layer", Path: l, Err: err}
		}
		a.lowers = append(a.lowers, fd)
	}
	return a, nil
}

func (a *applier) close() {
	unix.Close(a.root)
	for _, fd := range a.lowers {
		unix.Close(fd)
	}
}

// mkdirImplicit makes a directory an entry needs but the layer has no entry for. In overlayfs
// the topmost layer holding a directory gives its mode, owner and xattrs, so a plain 0755
// root directory would turn a lower layer's 0700 1000:1000 home/user into root's: it copies
// them from the nearest lower layer that has the directory, as containerd does for parents,
// and is 0755 root's only when none has.
func (a *applier) mkdirImplicit(dir int, name string, comps []string) error {
	if path := strings.Join(comps, "/"); a.whitedOut[path] && isWhiteoutAt(dir, name) {
		// ".wh.a" then "a/y" with no "a/": a new directory a, opaque over the lower
		// layers' as one made by an entry would be (see create), and nothing to copy from
		// them.
		if err := unix.Unlinkat(dir, name, 0); err != nil {
			return &os.PathError{Op: "unlinkat", Path: path, Err: err}
		}
		delete(a.whitedOut, path)
		if err := unix.Mkdirat(dir, name, 0o755); err != nil {
			return err
		}
		return setOpaqueAt(dir, name)
	}
	if err := unix.Mkdirat(dir, name, 0o755); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	}
	lower := a.lowerDir(comps)
	if lower < 0 {
		return nil
	}
	defer unix.Close(lower)
	var st unix.Stat_t
	if err := unix.Fstat(lower, &st); err != nil {
		return err
	}
	if err := unix.Fchownat(dir, name, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lchown", Path: name, Err: err}
	}
	if err := unix.Fchmodat(dir, name, st.Mode&0o7777, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: name, Err: err}
	}
	return copyXattrs(lower, dir, name)
}

// lowerDir opens the directory comps names in the nearest lower layer that has it, or gives
// -1 when a lower layer hides it (a whiteout or a non-directory there, or an opaque parent
// without it) or none has it.
func (a *applier) lowerDir(comps []string) int {
	for _, root := range a.lowers {
		parent, err := openDir(root, comps[:len(comps)-1], nil, "")
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return -1
		}
		fd, err := unix.Openat(parent, comps[len(comps)-1], unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(parent)
			return fd
		}
		opaque := make([]byte, 1)
		n, xerr := unix.Fgetxattr(parent, opaqueXattr, opaque)
		unix.Close(parent)
		if !errors.Is(err, unix.ENOENT) || (xerr == nil && n == 1 && opaque[0] == 'y') {
			return -1
		}
	}
	return -1
}

// copyXattrs gives base in dir the xattrs of the directory src, but overlayfs' own.
func copyXattrs(src, dir int, base string) error {
	size, err := unix.Flistxattr(src, nil)
	if err != nil || size == 0 {
		return nil // a filesystem without xattrs has none to copy
	}
	buf := make([]byte, size)
	if size, err = unix.Flistxattr(src, buf); err != nil {
		return os.NewSyscallError("flistxattr", err)
	}
	dst, err := unix.Openat(dir, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: base, Err: err}
	}
	defer unix.Close(dst)
	for _, name := range strings.Split(strings.TrimRight(string(buf[:size]), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		vsize, err := unix.Fgetxattr(src, name, nil)
		if err != nil {
			return os.NewSyscallError("fgetxattr "+name, err)
		}
		value := make([]byte, vsize)
		if vsize, err = unix.Fgetxattr(src, name, value); err != nil {
			return os.NewSyscallError("fgetxattr "+name, err)
		}
		if err := unix.Fsetxattr(dst, name, value[:vsize], 0); err != nil {
			return &os.PathError{Op: "setxattr " + name, Path: base, Err: err}
		}
	}
	return nil
}

// applyLayer unpacks one tar stream, up to its end-of-archive marker.
func (a *applier) applyLayer(r io.Reader) error {
	a.whitedOut = map[string]bool{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		// With GODEBUG=tarinsecurepath=0 the reader flags names like "../x" itself; the
		// header is still returned, and applyEntry refuses it with the entry's name.
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := a.applyEntry(tr, hdr); err != nil {
			return err
		}
	}
}

// applyEntry writes one entry, or applies it as a whiteout.
func (a *applier) applyEntry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // pax global header: defaults for later entries, no file of its own
	}
	comps, err := splitEntryPath(hdr.Name, hdr.Name)
	if err != nil {
		return err
	}
	if len(comps) == 0 {
		return a.applyRoot(hdr)
	}
	base := comps[len(comps)-1]
	if a.whiteouts && strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(comps, hdr.Name)
	}
	parent, err := openDir(a.root, comps[:len(comps)-1], a.mkdirImplicit, hdr.Name)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	path := strings.Join(comps, "/")
	if hdr.Typeflag == tar.TypeLink {
		err = a.link(parent, base, comps, hdr)
	} else {
		err = a.create(parent, base, path, tr, hdr)
	}
	var unsafe *UnsafeEntryError
	if err != nil && !errors.As(err, &unsafe) {
		return fmt.Errorf("tar entry %q: %w", hdr.Name, err)
	}
	return err
}

// applyRoot applies an entry for the root itself ("./"), which only a directory can be.
func (a *applier) applyRoot(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeDir {
		return fmt.Errorf("tar entry %q: the image root can only be a directory, not type %q", hdr.Name, hdr.Typeflag)
	}
	if err := setAttrs(a.root, ".", hdr); err != nil {
		return fmt.Errorf("tar entry %q: %w", hdr.Name, err)
	}
	a.dirTimes[""] = timesOf(hdr)
	return nil
}

// create writes an entry of any type but a hard link as base in parent, replacing what a
// lower layer or an earlier entry put there.
func (a *applier) create(parent int, base, path string, r io.Reader, hdr *tar.Header) error {
	isDir := hdr.Typeflag == tar.TypeDir
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	kept, err := makeRoom(parent, base, isDir)
	if err != nil {
		return err
	}
	switch {
	case isDir && kept:
	case isDir:
		err = unix.Mkdirat(parent, base, 0o700)
	case hdr.Typeflag == tar.TypeSymlink:
		// The target is stored as it is and never followed here: openDir refuses to walk
		// through it, and in the container it resolves against the container's root.
		err = unix.Symlinkat(hdr.Linkname, parent, base)
	case mknodType[hdr.Typeflag] != 0:
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		err = unix.Mknodat(parent, base, mknodType[hdr.Typeflag]|0o600, int(dev))
		if errors.Is(err, unix.EPERM) && userns.RunningInUserNS() {
			// No device node can be made in a user namespace (mknod(2) needs CAP_MKNOD in
			// the initial one): as docker and containers/storage do rootless, it is left out;
			// the runtime binds the container's devices from the host.
			slog.Debug("device node left out in a rootless user's namespace", "entry", hdr.Name)
			return nil
		}
	default:
		err = writeFile(parent, base, r)
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: path, Err: err}
	}
	if err := setAttrs(parent, base, hdr); err != nil {
		return err
	}
	if isDir && a.whitedOut[path] {
		// ".wh.NAME" then "NAME/" in one layer: the directory replaces the lower layer's,
		// so it hides what they put in it, as an opaque directory does.
		if err := setOpaqueAt(parent, base); err != nil {
			return err
		}
	}
	if isDir {
		a.dirTimes[path] = timesOf(hdr)
		return nil
	}
	return setTimes(parent, base, timesOf(hdr))
}

// makeRoom clears base in parent for a new entry. An existing directory stays when the new
// entry is a directory too (a later layer adds to it; kept is true); anything else goes.
func makeRoom(parent int, base string, isDir bool) (kept bool, err error) {
	var st unix.Stat_t
	err = unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "fstatat", Path: base, Err: err}
	}
	if isDir && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return true, nil
	}
	return false, removeAllAt(parent, base)
}

// writeFile creates base in parent, which must not exist (O_EXCL, O_NOFOLLOW: a symlink
// planted there is never written through), and copies r into it.
func writeFile(parent int, base string, r io.Reader) error {
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), base)
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// link makes the hard link hdr describes. Its target is resolved like an entry's own path (no
// "..", not absolute, not through a symlink), so it can only name a file in the image.
func (a *applier) link(parent int, base string, comps []string, hdr *tar.Header) error {
	target, err := splitEntryPath(hdr.Name, hdr.Linkname)
	if err != nil {
		return linkTargetError(err)
	}
	if len(target) == 0 {
		return &UnsafeEntryError{Entry: hdr.Name, Reason: "hard link to the image root"}
	}
	if slices.Equal(target, comps) {
		return nil // a link to itself: the file is there already
	}
	dir, err := openDir(a.root, target[:len(target)-1], nil, hdr.Name)
	if err != nil {
		return linkTargetError(err)
	}
	defer unix.Close(dir)
	if _, err := makeRoom(parent, base, false); err != nil {
		return err
	}
	// linkat without AT_SYMLINK_FOLLOW links a symlink itself, never what it points to.
	if err := unix.Linkat(dir, target[len(target)-1], parent, base, 0); err != nil {
		return &os.PathError{Op: "link to " + hdr.Linkname, Path: strings.Join(comps, "/"), Err: err}
	}
	return nil
}

// linkTargetError says that a refusal is about a hard link's target, not the entry's path.
func linkTargetError(err error) error {
	var unsafe *UnsafeEntryError
	if errors.As(err, &unsafe) {
		unsafe.Reason = "hard link target: " + unsafe.Reason
	}
	return err
}

// whiteout applies a ".wh." entry as overlayfs has it in a lower layer dir: ".wh.NAME" becomes
// a 0/0 character device NAME, ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its
// directory (overlayfs.rst, "whiteouts and opaque directories"). The layer is stored apart
// from the ones below, so nothing is deleted here: the mount hides it.
func (a *applier) whiteout(comps []string, entry string) error {
	dirComps, base := comps[:len(comps)-1], comps[len(comps)-1]
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if base != opaqueMarker && strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	if name == "" || name == "." || name == ".." {
		return &UnsafeEntryError{Entry: entry, Reason: fmt.Sprintf("whiteout of %q", name)}
	}
	dir, err := openDir(a.root, dirComps, a.mkdirImplicit, entry)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	path := joinPath(strings.Join(dirComps, "/"), name)
	switch {
	case base == opaqueMarker:
		// The layer's own entries in the directory stay visible: opaque hides lower layers'.
		if err := unix.Fsetxattr(dir, opaqueXattr, []byte("y"), 0); err != nil {
			return fmt.Errorf("tar entry %q: opaque directory: %w", entry, os.NewSyscallError("fsetxattr "+opaqueXattr, err))
		}
	default:
		// The layer dir holds only this layer's entries. A whiteout hides nothing of its own
		// layer (layer.md: "Files that are present in the same layer as a whiteout file can
		// only be hidden by whiteout files in subsequent layers"): a file of this layer there
		// hides the lower layers' already; a directory of this layer would merge with theirs,
		// so it becomes opaque and keeps only its own entries.
		var st unix.Stat_t
		err := unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR:
			if err := setOpaqueAt(dir, name); err != nil {
				return fmt.Errorf("tar entry %q: whiteout: %w", entry, err)
			}
		case err == nil:
		case !errors.Is(err, unix.ENOENT):
			return fmt.Errorf("tar entry %q: whiteout: %w", entry, &os.PathError{Op: "fstatat", Path: path, Err: err})
		default:
			if err := unix.Mknodat(dir, name, unix.S_IFCHR, 0); err != nil {
				return fmt.Errorf("tar entry %q: whiteout: %w", entry, &os.PathError{Op: "mknod", Path: path, Err: err})
			}
			a.whitedOut[path] = true
		}
	}
	return nil
}

// isWhiteoutAt says whether base in parent is an overlayfs whiteout, a 0/0 character device.
func isWhiteoutAt(parent int, base string) bool {
	var st unix.Stat_t
	return unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// setOpaqueAt marks the directory base in parent opaque, without following a symlink (base
// was just made or checked to be a directory, in a tree only this applier writes).
func setOpaqueAt(parent int, base string) error {
	fd, err := unix.Openat(parent, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: base, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsetxattr(fd, opaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("opaque directory %s: %w", base, os.NewSyscallError("fsetxattr "+opaqueXattr, err))
	}
	return nil
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// finish sets the directories' times, now that no entry will change them any more.
func (a *applier) finish() error {
	for path, t := range a.dirTimes {
		if err := a.setDirTimes(path, t); err != nil {
			return err
		}
	}
	return nil
}

// setDirTimes sets the times of the directory at path, if it is still one: a later layer may
// have removed it, or put something else there.
func (a *applier) setDirTimes(path string, t entryTimes) error {
	comps, _ := splitEntryPath(path, path)
	parent, base := a.root, "."
	if len(comps) > 0 {
		fd, err := openDir(a.root, comps[:len(comps)-1], nil, path)
		if err != nil {
			return nil // not reachable by that path any more: nothing there to date
		}
		defer unix.Close(fd)
		parent, base = fd, comps[len(comps)-1]
	}
	var st unix.Stat_t
	if unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	return setTimes(parent, base, t)
}

func timesOf(hdr *tar.Header) entryTimes {
	t := entryTimes{atime: hdr.AccessTime, mtime: hdr.ModTime}
	if t.atime.IsZero() {
		t.atime = t.mtime
	}
	return t
}

// setAttrs gives base in parent the entry's owner, mode and xattrs.
func setAttrs(parent int, base string, hdr *tar.Header) error {
	// Numeric ids, as the tar has them: the image's /etc/passwd is not the host's.
	if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.EINVAL) && userns.RunningInUserNS() {
			return fmt.Errorf("tar entry %q: owner %d:%d is not mapped in nb's user namespace: the user's ranges in /etc/subuid and /etc/subgid must hold more ids (65536 from 1 hold an image's usual users)", hdr.Name, hdr.Uid, hdr.Gid)
		}
		return &os.PathError{Op: "lchown", Path: base, Err: err}
	}
	// Modes after owners: chown(2) clears the set-user-ID and set-group-ID bits, for root
	// too. Symlinks have no mode of their own on Linux.
	if hdr.Typeflag != tar.TypeSymlink {
		if err := unix.Fchmodat(parent, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return &os.PathError{Op: "chmod", Path: base, Err: err}
		}
	}
	// And xattrs after both: chown(2) also drops security.capability.
	return setXattrs(parent, base, hdr)
}

// setXattrs sets the xattrs in the entry's PAX records (SCHILY.xattr.NAME, as GNU tar and
// docker write them). There is no *at form of lsetxattr before Linux 6.13's setxattrat, so
// the path goes through /proc/self/fd/PARENT, which names the directory the fd holds; the
// last component is not followed.
func setXattrs(parent int, base string, hdr *tar.Header) error {
	const paxPrefix = "SCHILY.xattr."
	for key, value := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(key, paxPrefix)
		if !ok {
			continue
		}
		// The rootfs becomes overlayfs' lower layer, where these xattrs would be read as
		// overlayfs' own (redirects, opaque dirs, metacopy): they are not the image's to set.
		if strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.") {
			continue
		}
		path := fmt.Sprintf("/proc/self/fd/%d/%s", parent, base)
		err := unix.Lsetxattr(path, name, []byte(value), 0)
		if errors.Is(err, unix.ENOTSUP) {
			// As docker does: a store on a filesystem without that xattr namespace still
			// unpacks the image, without the attribute.
			slog.Warn("xattr not supported by the store's filesystem, not set", "entry", hdr.Name, "xattr", name)
			continue
		}
		if err != nil {
			return &os.PathError{Op: "setxattr " + name, Path: base, Err: err}
		}
	}
	return nil
}

// setTimes sets base's times without following it, when base is a symlink.
func setTimes(parent int, base string, t entryTimes) error {
	atime, err := unix.TimeToTimespec(t.atime)
	if err != nil {
		return fmt.Errorf("atime of %s: %w", base, err)
	}
	mtime, err := unix.TimeToTimespec(t.mtime)
	if err != nil {
		return fmt.Errorf("mtime of %s: %w", base, err)
	}
	if err := unix.UtimesNanoAt(parent, base, []unix.Timespec{atime, mtime}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: base, Err: err}
	}
	return nil
}

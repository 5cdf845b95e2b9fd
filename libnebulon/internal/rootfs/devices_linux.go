package rootfs

import (
	"errors"
	"os"
	"path/filepath"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
)

// defaultDevices are the devices every container gets (runtime-spec config-linux.md#default-devices).
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// Devices lists the device nodes a container of s gets: checkpoint and restore hand them to
// CRIU as external mounts, as runc does.
func Devices(s *specs.Spec) []specs.LinuxDevice { return devices(s) }

// devices lists the default devices and then linux.devices; a listed device replaces a default
// one of the same path.
func devices(s *specs.Spec) []specs.LinuxDevice {
	listed := map[string]bool{}
	for _, d := range s.Linux.Devices {
		listed[filepath.Clean(d.Path)] = true
	}
	var out []specs.LinuxDevice
	for _, d := range defaultDevices {
		if !listed[d.Path] {
			mode := os.FileMode(0o666)
			d.FileMode = &mode
			out = append(out, d)
		}
	}
	return append(out, s.Linux.Devices...)
}

// CreateDevices makes the container's device nodes. In a user namespace mknod(2) is not
// allowed, so the host's node is bind-mounted instead.
func (r *Root) CreateDevices() error {
	for _, d := range devices(r.cfg.Spec) {
		var err error
		if r.cfg.UserNS {
			err = r.bindDevice(d)
		} else {
			err = r.mknodDevice(d)
		}
		if err != nil {
			return err
		}
	}
	return r.devSymlinks()
}

func deviceMode(d specs.LinuxDevice) (uint32, error) {
	perm := uint32(0o666)
	if d.FileMode != nil {
		perm = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		return unix.S_IFCHR | perm, nil
	case "b":
		return unix.S_IFBLK | perm, nil
	case "p":
		return unix.S_IFIFO | perm, nil
	}
	return 0, linuxspec.Errorf("linux.devices", "unknown device type %q for %s", d.Type, d.Path)
}

func (r *Root) mknodDevice(d specs.LinuxDevice) error {
	mode, err := deviceMode(d)
	if err != nil {
		return err
	}
	dfd, err := r.openDir(filepath.Dir(d.Path))
	if err != nil {
		return err
	}
	defer dfd.Close()
	name := filepath.Base(d.Path)
	// A file already there (the image's own /dev/null, say) is replaced; never followed.
	if err := unix.Unlinkat(int(dfd.Fd()), name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove old device", Path: d.Path, Err: err}
	}
	if err := unix.Mknodat(int(dfd.Fd()), name, mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
		return &os.PathError{Op: "mknod", Path: d.Path, Err: err}
	}
	node, err := pathrs.OpenatInRoot(r.root, d.Path)
	if err != nil {
		return err
	}
	defer node.Close()
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	// The mode is set again because mknod(2) applies the umask.
	if err := unix.Fchownat(int(node.Fd()), "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chown", Path: d.Path, Err: err}
	}
	if err := unix.Chmod(procFd(node), mode&0o7777); err != nil {
		return &os.PathError{Op: "chmod", Path: d.Path, Err: err}
	}
	return nil
}

func (r *Root) bindDevice(d specs.LinuxDevice) error {
	host := d.Path
	if _, err := os.Stat(host); err != nil {
		return &os.PathError{Op: "bind device from host (user namespace)", Path: host, Err: err}
	}
	return r.bindMount(specs.Mount{Source: host, Destination: d.Path, Type: "bind"}, d.Path, mountopt.Options{Bind: true}, -1, false)
}

// devSymlinks makes the /dev links programs expect. /dev/ptmx points into the container's own
// devpts instance when one is mounted.
func (r *Root) devSymlinks() error {
	links := [][2]string{
		{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "/dev/core"})
	}
	dfd, err := r.openDir("/dev")
	if err != nil {
		return err
	}
	defer dfd.Close()
	for _, l := range links {
		err := unix.Symlinkat(l[0], int(dfd.Fd()), filepath.Base(l[1]))
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "symlink", Path: l[1], Err: err}
		}
	}
	if !r.hasMount("/dev/pts") {
		return nil
	}
	if err := unix.Unlinkat(int(dfd.Fd()), "ptmx", 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: "/dev/ptmx", Err: err}
	}
	if err := unix.Symlinkat("pts/ptmx", int(dfd.Fd()), "ptmx"); err != nil {
		return &os.PathError{Op: "symlink", Path: "/dev/ptmx", Err: err}
	}
	return nil
}

func (r *Root) hasMount(dest string) bool {
	for _, m := range r.cfg.Spec.Mounts {
		if filepath.Clean(m.Destination) == dest {
			return true
		}
	}
	return false
}

// openDir makes a directory inside the root if needed and opens it for *at(2) calls.
func (r *Root) openDir(path string) (*os.File, error) {
	dir, err := pathrs.MkdirAllHandle(r.root, path, 0o755)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return pathrs.Reopen(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC)
}

package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
)

// mountCgroup gives the container its cgroups at dest. With a cgroup namespace of its own the
// container mounts the hierarchies, whose root is then its own cgroup; without one it gets bind
// mounts of its own cgroup directories, never the host's whole tree. The v2 hierarchy of a hybrid
// host is always bound: mounting cgroup2 from the host's cgroup namespace would reset the host's
// cgroup2 mount options.
func (r *Root) mountCgroup(dest string, opts mountopt.Options) error {
	if cgroups.DetectMode() == cgroups.Unified {
		if r.cfg.CgroupNS {
			t, err := r.target(dest, true)
			if err != nil {
				return err
			}
			defer t.Close()
			err = unix.Mount("cgroup2", procFd(t), "cgroup2", opts.Flags, "")
			// In a user namespace the kernel may refuse a cgroup2 mount (EBUSY: the hierarchy's
			// superblock belongs to another user namespace; EPERM): the container's cgroup is
			// bound instead, as runc does (runc#2158).
			// A rootless container without a cgroup of its own (none delegated) gets an empty
			// read-only tmpfs there, so /sys/fs/cgroup shows nothing of the host's.
			if r.cfg.UserNS && (errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EPERM)) {
				if r.cfg.CgroupPaths[""] == "" {
					return r.maskCgroup(t, dest, opts.Flags)
				}
				return r.bindCgroupDir(r.cfg.CgroupPaths[""], dest, opts.Flags)
			}
			if err != nil {
				return &os.PathError{Op: "mount cgroup2", Path: dest, Err: err}
			}
			return nil
		}
		return r.bindCgroupDir(r.cfg.CgroupPaths[""], dest, opts.Flags)
	}
	t, err := r.target(dest, true)
	if err != nil {
		return err
	}
	err = unix.Mount("tmpfs", procFd(t), "tmpfs", opts.Flags&^unix.MS_RDONLY, "mode=755")
	t.Close()
	if err != nil {
		return &os.PathError{Op: "mount tmpfs for cgroups", Path: dest, Err: err}
	}
	for _, h := range r.cfg.CgroupHierarchies {
		key := strings.Join(h.Subsystems, ",")
		sub := filepath.Join(dest, filepath.Base(h.Mountpoint))
		if !r.cfg.CgroupNS {
			if err := r.bindCgroupDir(r.cfg.CgroupPaths[key], sub, opts.Flags); err != nil {
				return err
			}
			continue
		}
		t, err := r.target(sub, true)
		if err != nil {
			return err
		}
		err = unix.Mount("cgroup", procFd(t), "cgroup", opts.Flags, key)
		t.Close()
		if err != nil {
			return &os.PathError{Op: "mount cgroup " + key, Path: sub, Err: err}
		}
	}
	if err := r.linkComounted(dest); err != nil {
		return err
	}
	if unified := r.cfg.CgroupPaths[""]; unified != "" {
		if err := r.bindCgroupDir(unified, filepath.Join(dest, "unified"), opts.Flags); err != nil {
			return err
		}
	}
	if opts.Flags&unix.MS_RDONLY != 0 {
		t, err := pathrs.OpenatInRoot(r.root, dest)
		if err != nil {
			return err
		}
		defer t.Close()
		return setAttrsFd(t, dest, unix.MOUNT_ATTR_RDONLY, 0, false)
	}
	return nil
}

// linkComounted makes each subsystem of a hierarchy that has several (systemd mounts cpu,cpuacct
// and net_cls,net_prio) reachable by its own name too, as on the host and as runc does:
// dest/cpu -> cpu,cpuacct.
func (r *Root) linkComounted(dest string) error {
	var dir *os.File
	for _, h := range r.cfg.CgroupHierarchies {
		base := filepath.Base(h.Mountpoint)
		if !strings.Contains(base, ",") {
			continue
		}
		if dir == nil {
			var err error
			if dir, err = pathrs.OpenatInRoot(r.root, dest); err != nil {
				return err
			}
			defer dir.Close()
		}
		for _, name := range strings.Split(base, ",") {
			if name == "" || strings.Contains(name, "=") {
				continue
			}
			if err := unix.Symlinkat(base, int(dir.Fd()), name); err != nil && !errors.Is(err, unix.EEXIST) {
				return &os.LinkError{Op: "symlink", Old: base, New: filepath.Join(dest, name), Err: err}
			}
		}
	}
	return nil
}

// maskCgroup mounts an empty read-only tmpfs on t (dest), for a container with no cgroup to
// show there.
func (r *Root) maskCgroup(t *os.File, dest string, flags uintptr) error {
	if err := unix.Mount("tmpfs", procFd(t), "tmpfs", flags|unix.MS_RDONLY, "mode=555,size=0"); err != nil {
		return &os.PathError{Op: "mount a read-only tmpfs on the cgroup mount (no cgroup)", Path: dest, Err: err}
	}
	return nil
}

func (r *Root) bindCgroupDir(host, dest string, flags uintptr) error {
	if host == "" {
		return nil
	}
	bind := mountopt.Options{Bind: true, Flags: flags}
	return r.bindMount(specs.Mount{Source: host, Destination: dest, Type: "bind"}, dest, bind, -1, false)
}

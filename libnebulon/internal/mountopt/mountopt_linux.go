// Package mountopt splits a spec mount's options the way mount(2) and mount_setattr(2) take them.
// It is pure, used by validation in the runtime, by the container's init that makes the mounts,
// and by features. Its tables are runc's (libcontainer/specconv): the options a config written
// for runc uses mean the same here.
package mountopt

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Options is a spec mount's options split the way mount(2) takes them.
type Options struct {
	Flags       uintptr // MS_* flags for the mount itself
	ClearFlags  uintptr // flags asked off explicitly (rw, suid, ...), kept off on a bind remount
	Propagation []uintptr
	Data        string // filesystem-specific options
	Recursive   bool   // rbind
	Bind        bool
	// RecAttrSet and RecAttrClr are the recursive attributes (rro, rnosuid, ...): MOUNT_ATTR_*
	// set and cleared with mount_setattr(2) and AT_RECURSIVE on the mount and every mount below
	// it once it is made.
	RecAttrSet, RecAttrClr uint64
	// TmpCopyUp (runc's "tmpcopyup", which podman sets on the tmpfs mounts of --read-only): a
	// tmpfs starts with a copy of what the image has at its mount point.
	TmpCopyUp bool
	// IDMap is "idmap" or "ridmap" (IDMapRecursive): the mount is id-mapped (runtime-spec
	// config.md "mounts"), with its own uidMappings/gidMappings or the container's.
	IDMap, IDMapRecursive bool
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

// mountFlags are the options that are MS_* flags of mount(2) (runc's mountFlags).
var mountFlags = map[string]flagOpt{
	"acl": {false, unix.MS_POSIXACL}, "async": {true, unix.MS_SYNCHRONOUS}, "atime": {true, unix.MS_NOATIME},
	"bind": {false, unix.MS_BIND}, "defaults": {false, 0}, "dev": {true, unix.MS_NODEV},
	"diratime": {true, unix.MS_NODIRATIME}, "dirsync": {false, unix.MS_DIRSYNC}, "exec": {true, unix.MS_NOEXEC},
	"iversion": {false, unix.MS_I_VERSION}, "lazytime": {false, unix.MS_LAZYTIME}, "loud": {true, unix.MS_SILENT},
	"mand": {false, unix.MS_MANDLOCK}, "noacl": {true, unix.MS_POSIXACL}, "noatime": {false, unix.MS_NOATIME},
	"nodev": {false, unix.MS_NODEV}, "nodiratime": {false, unix.MS_NODIRATIME}, "noexec": {false, unix.MS_NOEXEC},
	"noiversion": {true, unix.MS_I_VERSION}, "nolazytime": {true, unix.MS_LAZYTIME}, "nomand": {true, unix.MS_MANDLOCK},
	"norelatime": {true, unix.MS_RELATIME}, "nostrictatime": {true, unix.MS_STRICTATIME}, "nosuid": {false, unix.MS_NOSUID},
	"nosymfollow": {false, unix.MS_NOSYMFOLLOW}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"relatime": {false, unix.MS_RELATIME}, "remount": {false, unix.MS_REMOUNT}, "ro": {false, unix.MS_RDONLY},
	"rw": {true, unix.MS_RDONLY}, "silent": {false, unix.MS_SILENT}, "strictatime": {false, unix.MS_STRICTATIME},
	"suid": {true, unix.MS_NOSUID}, "symfollow": {true, unix.MS_NOSYMFOLLOW}, "sync": {false, unix.MS_SYNCHRONOUS},
}

type attrOpt struct {
	clear bool
	attr  uint64
}

// recAttrs are the recursive attributes (runc's recAttrFlags), applied with mount_setattr(2) and
// AT_RECURSIVE: unlike mount(2) flags they reach the submounts of an rbind too.
var recAttrs = map[string]attrOpt{
	"rro": {false, unix.MOUNT_ATTR_RDONLY}, "rrw": {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {false, unix.MOUNT_ATTR_NOSUID}, "rsuid": {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev": {false, unix.MOUNT_ATTR_NODEV}, "rdev": {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec": {false, unix.MOUNT_ATTR_NOEXEC}, "rexec": {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime": {false, unix.MOUNT_ATTR_NODIRATIME}, "rdiratime": {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime": {false, unix.MOUNT_ATTR_RELATIME}, "rnorelatime": {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime": {false, unix.MOUNT_ATTR_NOATIME}, "ratime": {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime": {false, unix.MOUNT_ATTR_STRICTATIME}, "rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW}, "rsymfollow": {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// Propagation maps the propagation options to their MS_* flags.
var Propagation = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// extensions are options that are neither flags nor data: the runtime acts on them itself.
var extensions = map[string]func(*Options){
	"tmpcopyup":   func(m *Options) { m.TmpCopyUp = true },
	"notmpcopyup": func(m *Options) { m.TmpCopyUp = false },
	"idmap":       func(m *Options) { m.IDMap, m.IDMapRecursive = true, false },
	"ridmap":      func(m *Options) { m.IDMap, m.IDMapRecursive = true, true },
}

// Parse splits spec mount options into flags, recursive attributes, propagation and data. As in
// runc, an option of no table is filesystem data for mount(2) (tmpfs "size=", devpts
// "newinstance"...). A bind mount has no filesystem data (mount(2) ignores it with MS_BIND), so
// there an unknown option is an error: a typo such as "noexce" must not give an executable mount.
func Parse(opts []string) (Options, error) {
	var m Options
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			m.setFlag(o, f)
			continue
		}
		if p, ok := Propagation[o]; ok {
			m.Propagation = append(m.Propagation, p)
			continue
		}
		if a, ok := recAttrs[o]; ok {
			m.setRecAttr(a)
			continue
		}
		if ext, ok := extensions[o]; ok {
			ext(&m)
			continue
		}
		data = append(data, o)
	}
	if m.Bind {
		// A bind mount takes no filesystem data: mount(2) ignores it, and so does mount(8)
		// for --bind. A key=value option is such data (runtime-spec config.md: unknown
		// options are filesystem-specific), harmless and dropped, as runc and the runtime-tools
		// conformance suite (mode=755 on a bind) expect. A bare word is a flag this parser does
		// not know: a typo such as "noexce" would make the mount weaker than asked.
		for _, o := range data {
			if !strings.Contains(o, "=") {
				return m, fmt.Errorf("option %q: unknown option for a bind mount", o)
			}
		}
		data = nil
	}
	m.Flags &^= unix.MS_BIND | unix.MS_REC
	m.Data = strings.Join(data, ",")
	return m, nil
}

func (m *Options) setFlag(o string, f flagOpt) {
	if f.clear {
		m.Flags &^= f.flag
		m.ClearFlags |= f.flag
	} else {
		m.Flags |= f.flag
		m.ClearFlags &^= f.flag
	}
	if o == "bind" || o == "rbind" {
		m.Bind = true
		m.Recursive = m.Recursive || o == "rbind"
	}
}

func (m *Options) setRecAttr(a attrOpt) {
	// The access-time attributes are one field, not bits: mount_setattr(2) changes it only with
	// all of MOUNT_ATTR__ATIME in attr_clr, and takes one value of it in attr_set. Asking one
	// off (ratime, rnorelatime, rnostrictatime) leaves the kernel's default, relatime, as
	// mount(2) does when no access-time flag is given.
	if a.attr&unix.MOUNT_ATTR__ATIME == a.attr {
		m.RecAttrClr |= unix.MOUNT_ATTR__ATIME
		m.RecAttrSet &^= unix.MOUNT_ATTR__ATIME
		if !a.clear {
			m.RecAttrSet |= a.attr
		}
		return
	}
	if a.clear {
		m.RecAttrClr |= a.attr
		m.RecAttrSet &^= a.attr
		return
	}
	m.RecAttrSet |= a.attr
	m.RecAttrClr &^= a.attr
}

// msAttrs are the per-mount MS_* flags a bind remount can change, as mount_setattr(2) names them.
var msAttrs = map[uintptr]uint64{
	unix.MS_RDONLY: unix.MOUNT_ATTR_RDONLY, unix.MS_NOSUID: unix.MOUNT_ATTR_NOSUID,
	unix.MS_NODEV: unix.MOUNT_ATTR_NODEV, unix.MS_NOEXEC: unix.MOUNT_ATTR_NOEXEC,
	unix.MS_NODIRATIME: unix.MOUNT_ATTR_NODIRATIME, unix.MS_NOSYMFOLLOW: unix.MOUNT_ATTR_NOSYMFOLLOW,
}

// BindAttrs is what a bind mount's flags change on the new mount, for mount_setattr(2): only
// the flags the options name are set or cleared, so every other flag of the source (a read-only,
// nodev FUSE mount; flags the kernel locked in a user namespace) is kept as it is. A remount
// with mount(2) would instead replace them all, and dropping a locked one is EPERM. The
// superblock flags (sync, dirsync, mand, ...) are not the bind mount's to change, as with
// mount(2)'s MS_BIND|MS_REMOUNT.
func (m Options) BindAttrs() (set, clr uint64) {
	for ms, attr := range msAttrs {
		switch {
		case m.Flags&ms != 0:
			set |= attr
		case m.ClearFlags&ms != 0:
			clr |= attr
		}
	}
	atime := uintptr(unix.MS_NOATIME | unix.MS_STRICTATIME | unix.MS_RELATIME)
	switch {
	case m.Flags&unix.MS_NOATIME != 0:
		set |= unix.MOUNT_ATTR_NOATIME
	case m.Flags&unix.MS_STRICTATIME != 0:
		set |= unix.MOUNT_ATTR_STRICTATIME
	case m.Flags&unix.MS_RELATIME != 0 || m.ClearFlags&atime != 0:
		set |= unix.MOUNT_ATTR_RELATIME
	default:
		return set, clr
	}
	return set, clr | unix.MOUNT_ATTR__ATIME
}

// IsBind reports whether the options make a bind mount.
func IsBind(opts []string) bool {
	for _, o := range opts {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// Names lists every option Parse knows (flags, recursive attributes, propagation and
// extensions), sorted, for features' mountOptions.
func Names() []string {
	var names []string
	for o := range mountFlags {
		names = append(names, o)
	}
	for o := range recAttrs {
		names = append(names, o)
	}
	for o := range Propagation {
		names = append(names, o)
	}
	for o := range extensions {
		names = append(names, o)
	}
	sort.Strings(names)
	return names
}

// Package mountopt splits a spec mount's options the way mount(2) takes them. It is pure, used by
// validation in the runtime, by the container's init that makes the mounts, and by features.
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
	// TmpCopyUp (runc's "tmpcopyup", which podman sets on the tmpfs mounts of --read-only): a
	// tmpfs starts with a copy of what the image has at its mount point.
	TmpCopyUp bool
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

var mountFlags = map[string]flagOpt{
	"async": {true, unix.MS_SYNCHRONOUS}, "atime": {true, unix.MS_NOATIME}, "bind": {false, unix.MS_BIND},
	"defaults": {false, 0}, "dev": {true, unix.MS_NODEV}, "diratime": {true, unix.MS_NODIRATIME},
	"dirsync": {false, unix.MS_DIRSYNC}, "exec": {true, unix.MS_NOEXEC}, "mand": {false, unix.MS_MANDLOCK},
	"noatime": {false, unix.MS_NOATIME}, "nodev": {false, unix.MS_NODEV}, "nodiratime": {false, unix.MS_NODIRATIME},
	"noexec": {false, unix.MS_NOEXEC}, "nomand": {true, unix.MS_MANDLOCK}, "norelatime": {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME}, "nosuid": {false, unix.MS_NOSUID}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"relatime": {false, unix.MS_RELATIME}, "remount": {false, unix.MS_REMOUNT}, "ro": {false, unix.MS_RDONLY},
	"rw": {true, unix.MS_RDONLY}, "strictatime": {false, unix.MS_STRICTATIME}, "suid": {true, unix.MS_NOSUID},
	"sync": {false, unix.MS_SYNCHRONOUS},
}

// Propagation maps the propagation options to their MS_* flags.
var Propagation = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// Options that runc accepts and that have no effect here: id-mapped and recursive-attribute
// options are rejected instead, because silently ignoring them would weaken the mount.
var rejectedOptions = map[string]string{
	"idmap": "id-mapped mounts", "ridmap": "id-mapped mounts",
}

// Parse splits spec mount options into flags, propagation and data. It returns an error for
// options nebulon cannot honour, so a mount is never made weaker than asked.
func Parse(opts []string) (Options, error) {
	var m Options
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
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
			continue
		}
		if p, ok := Propagation[o]; ok {
			m.Propagation = append(m.Propagation, p)
			continue
		}
		switch o {
		case "tmpcopyup":
			m.TmpCopyUp = true
			continue
		case "notmpcopyup":
			m.TmpCopyUp = false
			continue
		}
		if what, ok := rejectedOptions[o]; ok {
			return m, fmt.Errorf("option %q: %s are not supported", o, what)
		}
		if strings.HasPrefix(o, "r") && mountFlags[o[1:]].flag != 0 && o != "relatime" && o != "rw" && o != "ro" {
			return m, fmt.Errorf("option %q: recursive mount attributes are not supported", o)
		}
		data = append(data, o)
	}
	m.Flags &^= unix.MS_BIND | unix.MS_REC
	m.Data = strings.Join(data, ",")
	return m, nil
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

// Names lists every option Parse takes as a flag or a propagation, sorted, for features.
func Names() []string {
	var names []string
	for o := range mountFlags {
		names = append(names, o)
	}
	for o := range Propagation {
		names = append(names, o)
	}
	sort.Strings(names)
	return names
}

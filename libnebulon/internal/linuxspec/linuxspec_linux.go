// Package linuxspec is what nebulon knows of config.json's Linux names: the tables that map the
// spec's namespace types, rlimits and capabilities to the kernel's values, the namespace each
// sysctl belongs to, the checked conversions of the scheduler, I/O priority, personality, memory
// policy and CPU lists (process_linux.go), and the error that names a config.json field. It is pure, and used on both
// sides: by validation in the runtime and by the container's init.
package linuxspec

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// FieldError names the config.json field that is wrong and why.
type FieldError struct {
	Field string
	Msg   string
	// Source is where the value came from: config.json when empty ("exec" for exec's process).
	Source string
}

func (e *FieldError) Error() string {
	src := e.Source
	if src == "" {
		src = "config.json"
	}
	return fmt.Sprintf("%s: %s: %s", src, e.Field, e.Msg)
}

// Errorf makes a FieldError for field.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// NamespaceFlags maps the spec's namespace types to clone flags.
var NamespaceFlags = map[specs.LinuxNamespaceType]uint32{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// NamespaceFiles names each namespace type's file under /proc/<pid>/ns.
var NamespaceFiles = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.MountNamespace: "mnt",
	specs.IPCNamespace: "ipc", specs.UTSNamespace: "uts", specs.UserNamespace: "user",
	specs.CgroupNamespace: "cgroup", specs.TimeNamespace: "time",
}

// HasNamespace reports whether the spec lists a namespace of type t, new or joined.
func HasNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// NewNamespace reports whether the spec asks for a new namespace of type t.
func NewNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return ns.Path == ""
		}
	}
	return false
}

// Rlimits maps the spec's rlimit names to resource numbers.
var Rlimits = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

// Capabilities maps "CAP_X" names to capabilities, for every capability the library knows.
var Capabilities = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// SysctlNamespace is the namespace a sysctl belongs to, or "" for one that is not namespaced.
func SysctlNamespace(key string) specs.LinuxNamespaceType {
	switch {
	case key == "kernel.msgmax", key == "kernel.msgmnb", key == "kernel.msgmni", key == "kernel.sem",
		key == "kernel.shmall", key == "kernel.shmmax", key == "kernel.shmmni", key == "kernel.shm_rmid_forced",
		strings.HasPrefix(key, "fs.mqueue."):
		return specs.IPCNamespace
	case strings.HasPrefix(key, "net."):
		return specs.NetworkNamespace
	case key == "kernel.hostname", key == "kernel.domainname":
		return specs.UTSNamespace
	case strings.HasPrefix(key, "user."):
		// The ucount limits (max_user_namespaces, max_*_namespaces, max_inotify_*) are
		// per user namespace: a write sets the limits of the writer's (kernel/ucount.c).
		return specs.UserNamespace
	}
	return ""
}

// VersionAtLeast reports whether a config's ociVersion is major.minor or later. A few rules of
// the spec changed between versions, and a config follows the version it names (config.md
// "ociVersion"); one that does not parse is taken as the newest.
func VersionAtLeast(version string, major, minor int) bool {
	var ma, mi int
	if _, err := fmt.Sscanf(version, "%d.%d", &ma, &mi); err != nil {
		return true
	}
	return ma > major || ma == major && mi >= minor
}

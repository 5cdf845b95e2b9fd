package specconv

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// InitPath is where --init's binary is in the container, as docker puts its docker-init.
const InitPath = "/sbin/docker-init"

// userMount is a mount the command line or the caller asked for, with the words that name it in
// errors.
type userMount struct {
	specs.Mount
	what string
}

// mounts are runc's default mounts, less those a user mount covers, then the user's mounts (-v,
// --tmpfs, the caller's extra mounts), parents before children.
func (o *Options) mounts() ([]specs.Mount, error) {
	var user []userMount
	for _, v := range o.Volumes {
		m, err := bindMount("-v", v, v.ReadOnly)
		if err != nil {
			return nil, err
		}
		user = append(user, m)
	}
	for _, t := range o.Tmpfs {
		m, err := tmpfsMount(t)
		if err != nil {
			return nil, err
		}
		user = append(user, m)
	}
	if o.Init != "" {
		m, err := bindMount("--init", Mount{Source: o.Init, Destination: InitPath}, true)
		if err != nil {
			return nil, err
		}
		user = append(user, m)
	}
	for _, e := range o.ExtraMounts {
		// Docker's /etc/hosts, /etc/resolv.conf and /etc/hostname are read-only with the root.
		m, err := bindMount("mount", e, e.ReadOnly || o.ReadOnly)
		if err != nil {
			return nil, err
		}
		user = append(user, m)
	}
	seen := map[string]string{}
	for _, m := range user {
		if prev, ok := seen[m.Destination]; ok {
			return nil, fmt.Errorf("%s: destination %s is also the destination of %s", m.what, m.Destination, prev)
		}
		seen[m.Destination] = m.what
	}
	// The runtime mounts in order, so a parent must come before what is mounted inside it;
	// docker sorts the same way, by the number of path elements, keeping the given order otherwise.
	slices.SortStableFunc(user, func(a, b userMount) int {
		return strings.Count(a.Destination, "/") - strings.Count(b.Destination, "/")
	})
	var out []specs.Mount
	for _, d := range defaultMounts() {
		if !covered(d.Destination, user) {
			out = append(out, d)
		}
	}
	for _, m := range user {
		out = append(out, m.Mount)
	}
	return out, nil
}

// covered reports whether a user mount replaces the default mount at dst: one at dst itself,
// as docker lets -v and --tmpfs replace /dev/shm, or above it, as docker drops its /dev/* mounts
// when /dev is mounted (they would be hidden under it, or fail on a missing mount point).
func covered(dst string, user []userMount) bool {
	for _, m := range user {
		if dst == m.Destination || strings.HasPrefix(dst, m.Destination+"/") {
			return true
		}
	}
	return false
}

// bindMount is docker's bind mount of a -v or of a file of the caller's: recursive, private
// (events under it stay on their side, docker's default propagation), read-only when asked.
func bindMount(flag string, m Mount, readOnly bool) (userMount, error) {
	what := fmt.Sprintf("%s %s:%s", flag, m.Source, m.Destination)
	if !path.IsAbs(m.Source) {
		return userMount{}, fmt.Errorf("%s: source %q is not an absolute path", what, m.Source)
	}
	dst, err := containerPath(m.Destination)
	if err != nil {
		return userMount{}, fmt.Errorf("%s: destination %w", what, err)
	}
	opts := []string{"rbind"}
	if readOnly {
		opts = append(opts, "ro")
	}
	opts = append(opts, "rprivate")
	return userMount{
		Mount: specs.Mount{Destination: dst, Type: "bind", Source: path.Clean(m.Source), Options: opts},
		what:  what,
	}, nil
}

func tmpfsMount(t Tmpfs) (userMount, error) {
	what := "--tmpfs " + t.Destination
	dst, err := containerPath(t.Destination)
	if err != nil {
		return userMount{}, fmt.Errorf("%s: %w", what, err)
	}
	opts, err := tmpfsOptions(t.Options)
	if err != nil {
		return userMount{}, fmt.Errorf("%s: %w", what, err)
	}
	return userMount{
		Mount: specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: opts},
		what:  what,
	}, nil
}

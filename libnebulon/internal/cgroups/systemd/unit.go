// Package systemd is the systemd cgroup driver (--systemd-cgroup): the unit a cgroupsPath names,
// the cgroup directory systemd gives that unit, the unit properties for a container's resources,
// a bounded D-Bus client, and the Manager that has systemd make a transient scope around the
// init and leaves the rest to the cgroupfs code. Its semantics are runc's systemd driver's, which
// containerd (SystemdCgroup = true), CRI-O and podman (cgroup_manager = "systemd") are written
// for.
package systemd

import (
	"fmt"
	"path"
	"strings"
)

// Unit is where a container's cgroup lives under systemd: a transient scope, or a slice when
// the name asks for one, in a parent slice.
type Unit struct {
	Slice string `json:"slice"` // the parent slice, e.g. system.slice
	Name  string `json:"name"`  // the unit, e.g. cri-containerd-1234.scope
	// Root is the cgroup of the systemd instance that owns the unit, below which its slices
	// are: empty for the system's, /user.slice/user-UID.slice/user@UID.service for a user's.
	Root string `json:"root,omitempty"`
}

// DefaultPrefix is the scope prefix of a container whose cgroupsPath is empty (runc's is "runc").
const DefaultPrefix = "nebulon"

// ParsePath reads a cgroupsPath as runc's systemd driver does: "slice:prefix:name" makes the
// scope prefix-name.scope in slice (system.slice when slice is empty, user.slice rootless); a
// name ending in .slice is that slice itself. An empty cgroupsPath is the scope
// nebulon-ID.scope in the default slice.
func ParsePath(cgroupsPath, id string, rootless bool) (Unit, error) {
	slice, prefix, name := "", DefaultPrefix, id
	if cgroupsPath != "" {
		parts := strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			return Unit{}, fmt.Errorf("cgroupsPath %q: the systemd driver takes \"slice:prefix:name\" (for example system.slice:docker:%s)", cgroupsPath, id)
		}
		slice, prefix, name = parts[0], parts[1], parts[2]
	}
	if slice == "" {
		slice = "system.slice"
		if rootless {
			slice = "user.slice"
		}
	}
	if _, err := ExpandSlice(slice); err != nil {
		return Unit{}, fmt.Errorf("cgroupsPath %q: %w", cgroupsPath, err)
	}
	if name == "" || strings.Contains(name, "/") {
		return Unit{}, fmt.Errorf("cgroupsPath %q: the unit name %q must be non-empty and hold no /", cgroupsPath, name)
	}
	u := Unit{Slice: slice, Name: name}
	if strings.HasSuffix(name, ".slice") {
		if _, err := ExpandSlice(name); err != nil {
			return Unit{}, fmt.Errorf("cgroupsPath %q: %w", cgroupsPath, err)
		}
	} else {
		// runc's getUnitName: prefix-name.scope, the dash even when the prefix is empty.
		u.Name = prefix + "-" + name + ".scope"
	}
	for _, n := range []string{u.Slice, u.Name} {
		if err := checkUnitName(n); err != nil {
			return Unit{}, fmt.Errorf("cgroupsPath %q: %w", cgroupsPath, err)
		}
	}
	return u, nil
}

// checkUnitName refuses what systemd's unit_name_is_valid would: a name longer than 255 bytes,
// or with a character other than ASCII letters, digits and ":-_.\\".
func checkUnitName(name string) error {
	if len(name) > 255 {
		return fmt.Errorf("the unit name %q is longer than systemd's 255 bytes", name)
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(":-_.\\", c) >= 0) {
			return fmt.Errorf("the unit name %q holds %q, which systemd refuses in unit names", name, c)
		}
	}
	return nil
}

// IsSlice says whether the unit is a slice rather than a scope.
func (u Unit) IsSlice() bool { return strings.HasSuffix(u.Name, ".slice") }

// CgroupDir is the unit's cgroup directory, relative to the root of the cgroup v2 hierarchy or
// of a v1 one: the parent slice expanded, then the unit. A slice unit is a child of its parent
// slice's directory only by its name's dashes, as systemd nests slices (a-b.slice is in
// a.slice), so it is expanded whole.
func (u Unit) CgroupDir() (string, error) {
	if u.IsSlice() {
		dir, err := ExpandSlice(u.Name)
		return path.Join("/", u.Root, dir), err
	}
	dir, err := ExpandSlice(u.Slice)
	if err != nil {
		return "", err
	}
	return path.Join("/", u.Root, dir, u.Name), nil
}

// ExpandSlice is the cgroup directory systemd gives a slice: test-a-b.slice is
// /test.slice/test-a.slice/test-a-b.slice, and -.slice, the root slice, is /.
func ExpandSlice(slice string) (string, error) {
	const suffix = ".slice"
	base, ok := strings.CutSuffix(slice, suffix)
	if !ok || base == "" || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name %q: it must end in %s and hold no /", slice, suffix)
	}
	if base == "-" {
		return "/", nil
	}
	var dir, prefix strings.Builder
	for _, part := range strings.Split(base, "-") {
		if part == "" {
			return "", fmt.Errorf("invalid slice name %q: an empty part between dashes", slice)
		}
		prefix.WriteString(part)
		dir.WriteString("/" + prefix.String() + suffix)
		prefix.WriteString("-")
	}
	return dir.String(), nil
}

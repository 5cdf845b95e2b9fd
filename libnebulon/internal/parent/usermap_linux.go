package parent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/internal/subid"
)

// writeIDMaps writes the uid and gid maps of the user namespace stage0 (pid) made (syncmsg step
// 2). The host's root writes them itself. Another user (rootless) may write, itself, one line
// mapping its own effective id, and gid_map only once setgroups is "deny" (user_namespaces(7),
// "Defining user and group ID mappings"); for anything more it asks the setuid newuidmap and
// newgidmap (Debian's uidmap package), which map the ranges /etc/subuid and /etc/subgid give it,
// as runc does. CheckMappings has checked the maps before anything was made.
func writeIDMaps(pid int, l *specs.Linux) error {
	if os.Geteuid() == 0 {
		if err := writeMapFile(pid, "uid_map", "uidMappings", l.UIDMappings); err != nil {
			return err
		}
		return writeMapFile(pid, "gid_map", "gidMappings", l.GIDMappings)
	}
	if ownIDOnly(l.UIDMappings, os.Geteuid()) {
		if err := writeMapFile(pid, "uid_map", "uidMappings", l.UIDMappings); err != nil {
			return err
		}
	} else if err := runIDMapper("newuidmap", "uidMappings", pid, l.UIDMappings); err != nil {
		return err
	}
	if ownIDOnly(l.GIDMappings, os.Getegid()) {
		path := fmt.Sprintf("/proc/%d/setgroups", pid)
		if err := os.WriteFile(path, []byte("deny"), 0); err != nil {
			return fmt.Errorf("linux.gidMappings: an unprivileged user maps its gid only with setgroups denied: %w", err)
		}
		return writeMapFile(pid, "gid_map", "gidMappings", l.GIDMappings)
	}
	return runIDMapper("newgidmap", "gidMappings", pid, l.GIDMappings)
}

func writeMapFile(pid int, file, field string, maps []specs.LinuxIDMapping) error {
	var b strings.Builder
	for _, m := range maps {
		fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
	}
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	if err := os.WriteFile(path, []byte(b.String()), 0); err != nil {
		return fmt.Errorf("linux.%s: write %q: %w", field, b.String(), err)
	}
	return nil
}

// ownIDOnly reports whether maps is the one line an unprivileged user may write itself: its own
// id, once.
func ownIDOnly(maps []specs.LinuxIDMapping, id int) bool {
	return len(maps) == 1 && maps[0].Size == 1 && maps[0].HostID == uint32(id)
}

// idMapperWait bounds newuidmap and newgidmap, which read a few files and write one.
const idMapperWait = 10 * time.Second

// runIDMapper runs newuidmap or newgidmap (tool) to write pid's map.
func runIDMapper(tool, field string, pid int, maps []specs.LinuxIDMapping) error {
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("linux.%s: mapping more than this user's own id needs %s (Debian package uidmap): %w", field, tool, err)
	}
	args := []string{strconv.Itoa(pid)}
	for _, m := range maps {
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10),
			strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	ctx, cancel := context.WithTimeout(context.Background(), idMapperWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("linux.%s: %s did not finish in %v", field, tool, idMapperWait)
	}
	if err != nil {
		file := "/etc/subuid"
		if tool == "newgidmap" {
			file = "/etc/subgid"
		}
		return fmt.Errorf("linux.%s: %s %s: %w: %s (each host id must be this user's own or in a subordinate range %s or nsswitch's subid service gives it)",
			field, tool, strings.Join(args, " "), err, bytes.TrimSpace(out), file)
	}
	return nil
}

// CheckAdditionalGids refuses, before anything is made, process.user.additionalGids (p's) in a
// user namespace that denies setgroups: one an unprivileged runtime makes with a gid_map of its
// own gid alone, which the kernel lets it write only once setgroups is "deny" (user_namespaces(7),
// "Interaction with system calls that change process UIDs or GIDs"). The init's setgroups would
// fail there with a bare EPERM. runc refuses additional gids in every rootless container;
// through newgidmap's ranges setgroups stays allowed, and nebulon sets them.
func CheckAdditionalGids(p *specs.Process, l *specs.Linux) error {
	if os.Geteuid() == 0 || p == nil || len(p.User.AdditionalGids) == 0 || l == nil {
		return nil
	}
	for _, ns := range l.Namespaces {
		if ns.Type == specs.UserNamespace && ns.Path == "" && ownIDOnly(l.GIDMappings, os.Getegid()) {
			return additionalGidsError(p.User.AdditionalGids, fmt.Sprintf("linux.gidMappings maps gid %d alone, a map nebulon run by uid %d writes itself, which the kernel allows only with setgroups denied", os.Getegid(), os.Geteuid()))
		}
	}
	return nil
}

// CheckExecAdditionalGids refuses an exec'd process's additional gids when the user namespace of
// the container's init (pid) denies setgroups, whoever made it.
func CheckExecAdditionalGids(p *specs.Process, pid int) error {
	if p == nil || len(p.User.AdditionalGids) == 0 {
		return nil
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/setgroups", pid))
	if err != nil || strings.TrimSpace(string(data)) != "deny" {
		return nil // the init's setgroups says why, if it fails
	}
	return additionalGidsError(p.User.AdditionalGids, fmt.Sprintf("/proc/%d/setgroups, the container init's, reads deny", pid))
}

func additionalGidsError(gids []uint32, why string) error {
	return fmt.Errorf("process.user.additionalGids %v: setgroups is denied in the container's user namespace: %s (user_namespaces(7)); to use additional gids, map subordinate gid ranges from /etc/subgid in linux.gidMappings (written through newgidmap), or remove them", gids, why)
}

// CheckMappings checks, for a runtime that is not root, the maps of a user namespace it makes,
// before anything is made: each line must map the caller's own id (once), or host ids inside the
// ranges /etc/subuid and /etc/subgid give the caller, which newuidmap and newgidmap would write.
// The kernel and those tools refuse the rest with less to go on (EPERM; "write to uid_map
// failed").
func CheckMappings(l *specs.Linux) error {
	if os.Geteuid() == 0 || l == nil {
		return nil
	}
	newUser, anyUser := false, false
	for _, ns := range l.Namespaces {
		newUser = newUser || (ns.Type == specs.UserNamespace && ns.Path == "")
		anyUser = anyUser || ns.Type == specs.UserNamespace
	}
	if !anyUser {
		// As runc refuses it: without one, the other namespaces' unshare fails with a bare EPERM.
		return fmt.Errorf("linux.namespaces: no user namespace: nebulon runs as uid %d, and a container of an unprivileged user needs one (nebulon spec --rootless makes it)", os.Geteuid())
	}
	if !newUser {
		return nil
	}
	u, err := user.LookupId(strconv.Itoa(os.Geteuid()))
	name := ""
	if err == nil {
		name = u.Username
	}
	checks := []struct {
		field, file string
		maps        []specs.LinuxIDMapping
		own         int
	}{
		{"uidMappings", "/etc/subuid", l.UIDMappings, os.Geteuid()},
		{"gidMappings", "/etc/subgid", l.GIDMappings, os.Getegid()},
	}
	for _, c := range checks {
		if len(c.maps) == 0 {
			return fmt.Errorf("linux.%s: empty: nebulon runs as uid %d, and the user namespace it makes must map ids (nebulon spec --rootless maps the caller's own)", c.field, os.Geteuid())
		}
		if ownIDOnly(c.maps, c.own) {
			continue
		}
		ranges, source, err := subordinateRanges(c.file, name, os.Geteuid())
		if err != nil {
			return fmt.Errorf("linux.%s: %w", c.field, err)
		}
		if source == "" {
			// Neither /etc/subuid nor getsubids lists the user: newuidmap, which may know
			// more (an nsswitch subid service getsubids could not ask), decides, and its
			// error says why (runIDMapper).
			continue
		}
		for i, m := range c.maps {
			if (m.Size == 1 && m.HostID == uint32(c.own)) || inRanges(ranges, m) {
				continue
			}
			return fmt.Errorf("linux.%s[%d]: host ids %d-%d (containerID %d, size %d) are not this user's: uid %d may map its own id (%d) and the ranges %s gives it (%s)",
				c.field, i, m.HostID, uint64(m.HostID)+uint64(m.Size)-1, m.ContainerID, m.Size, os.Geteuid(), c.own, source, describeRanges(ranges))
		}
	}
	return nil
}

// idRange is a line of /etc/subuid or /etc/subgid.
type idRange = subid.Range

// subordinateRanges returns the user's subordinate ranges (file, /etc/subuid or /etc/subgid)
// and where they come from: file when it lists the user; else getsubids (shadow's, in Debian's
// uidmap package), which asks nsswitch's subid service too (sssd, through libsubid) as
// newuidmap does. Source "" means neither knows the user: the ranges are unknown, not empty.
func subordinateRanges(file, name string, uid int) ([]idRange, string, error) {
	ranges, listed, err := subIDRanges(file, name, uid)
	if err != nil || listed {
		return ranges, file, err
	}
	if name == "" {
		return nil, "", nil
	}
	if ranges, ok := getsubids(name, file == "/etc/subgid"); ok {
		return ranges, "getsubids", nil
	}
	return nil, "", nil
}

// getsubidsWait bounds getsubids, which may ask a directory service.
const getsubidsWait = 10 * time.Second

// getsubids asks shadow's getsubids for the user's subordinate uid (or, groups, gid) ranges; ok
// is false when it is not installed or does not know the user.
func getsubids(name string, groups bool) (_ []idRange, ok bool) {
	path, err := exec.LookPath("getsubids")
	if err != nil {
		return nil, false
	}
	args := []string{name}
	if groups {
		args = []string{"-g", name}
	}
	ctx, cancel := context.WithTimeout(context.Background(), getsubidsWait)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).Output()
	if err != nil {
		return nil, false
	}
	ranges := parseGetsubids(string(out), name)
	return ranges, len(ranges) > 0
}

// parseGetsubids reads getsubids' lines, "index: name start count".
func parseGetsubids(out, name string) []idRange {
	var ranges []idRange
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) != 4 || !strings.HasSuffix(f[0], ":") || f[1] != name {
			continue
		}
		start, err1 := strconv.ParseUint(f[2], 10, 32)
		count, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 == nil && err2 == nil {
			ranges = append(ranges, idRange{Start: start, Count: count})
		}
	}
	return ranges
}

// subIDRanges is subid.Read.
func subIDRanges(file, name string, uid int) ([]idRange, bool, error) {
	return subid.Read(file, name, uid)
}

func inRanges(ranges []idRange, m specs.LinuxIDMapping) bool {
	lo, hi := uint64(m.HostID), uint64(m.HostID)+uint64(m.Size)
	for _, r := range ranges {
		if lo >= r.Start && hi <= r.Start+r.Count {
			return true
		}
	}
	return false
}

func describeRanges(ranges []idRange) string {
	if len(ranges) == 0 {
		return "none"
	}
	s := make([]string, len(ranges))
	for i, r := range ranges {
		s[i] = fmt.Sprintf("%d-%d", r.Start, r.Start+r.Count-1)
	}
	return strings.Join(s, ", ")
}

// Package resctrl puts a container in an Intel RDT class of service (linux.intelRdt,
// config-linux.md#intelrdt): a directory of the resctrl filesystem whose schemata file says how
// much L3 cache and memory bandwidth its tasks may use, and optionally a monitoring group of its
// own. It runs in the runtime. Everything is done through files below one resctrl mount, found
// in the runtime's mount table (or given, for tests on a fake tree).
package resctrl

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
)

// ErrNotMounted is returned when no resctrl filesystem is mounted in the runtime's mount
// namespace: the spec then requires an error (config-linux.md#intelrdt).
var ErrNotMounted = errors.New("no resctrl filesystem is mounted on this host (Intel RDT is not available, or mount -t resctrl resctrl /sys/fs/resctrl)")

var mountpoint = sync.OnceValues(func() (string, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("resctrl"))
	if err != nil {
		return "", fmt.Errorf("find the resctrl mount: %w", err)
	}
	if len(mounts) == 0 {
		return "", ErrNotMounted
	}
	return mounts[0].Mountpoint, nil
})

// Root is the resctrl mount point of the runtime's mount namespace, found once.
func Root() (string, error) { return mountpoint() }

// Check validates a linux.intelRdt before anything is made; errors name the field.
func Check(r *specs.LinuxIntelRdt) error {
	if strings.ContainsAny(r.ClosID, "\n") || strings.Contains(r.ClosID, "..") ||
		(r.ClosID != "/" && strings.Contains(r.ClosID, "/")) {
		return fieldErr("closID", fmt.Sprintf("%q is not the name of a resctrl group (one path component, or / for the default group)", r.ClosID))
	}
	if s := r.L3CacheSchema; s != "" && (!strings.HasPrefix(s, "L3") || strings.Contains(s, "\n")) {
		return fieldErr("l3CacheSchema", fmt.Sprintf("%q: want one line starting with L3", s))
	}
	if s := r.MemBwSchema; s != "" && (!strings.HasPrefix(s, "MB:") || strings.Contains(s, "\n")) {
		return fieldErr("memBwSchema", fmt.Sprintf("%q: want one line starting with MB:", s))
	}
	for i, line := range r.Schemata {
		if line == "" || strings.Contains(line, "\n") {
			return fieldErr(fmt.Sprintf("schemata[%d]", i), fmt.Sprintf("%q: want one non-empty line", line))
		}
	}
	return nil
}

// fieldErr names the field of linux.intelRdt that is wrong.
func fieldErr(field, msg string) error { return linuxspec.Errorf("linux.intelRdt."+field, "%s", msg) }

// Group is a container's place in resctrl, as saved in its state: what Apply made is what
// Destroy removes.
type Group struct {
	Dir        string `json:"dir"`                  // the CTRL_MON group's directory
	Made       bool   `json:"made,omitempty"`       // Apply made Dir (no closID): delete removes it
	MonitorDir string `json:"monitorDir,omitempty"` // the container's MON group, made by Apply
}

// lines is what goes to the schemata file, in the order the spec gives: l3CacheSchema, then
// memBwSchema, then schemata.
func lines(r *specs.LinuxIntelRdt) []string {
	var out []string
	for _, s := range []string{r.L3CacheSchema, r.MemBwSchema} {
		if s != "" {
			out = append(out, s)
		}
	}
	return append(out, r.Schemata...)
}

// Apply puts pid, the container's init, in the class of service r names under root (the
// resctrl mount), for container id, following config-linux.md#intelrdt:
//   - no closID: a group named id, made here (and removed by Destroy);
//   - a closID with schemata: that group, made if missing; if it exists, its schemata must
//     already say what r says;
//   - a closID without schemata: that group, which must exist; "/" is the default group.
//
// With enableMonitoring a MON group named id is made for the container. On failure what Apply
// made is removed.
func Apply(root, id string, r *specs.LinuxIntelRdt, pid int) (_ *Group, retErr error) {
	g := &Group{Dir: filepath.Join(root, r.ClosID)}
	if r.ClosID == "" {
		g.Dir = filepath.Join(root, id)
	}
	defer func() {
		if retErr != nil {
			g.Destroy()
		}
	}()
	want := lines(r)
	made, err := g.enter(r.ClosID, want)
	if err != nil {
		return nil, err
	}
	if made && len(want) > 0 {
		if err := writeSchemata(g.Dir, want); err != nil {
			return nil, err
		}
	}
	if err := writeTask(g.Dir, pid); err != nil {
		return nil, err
	}
	if r.EnableMonitoring {
		mon := filepath.Join(g.Dir, "mon_groups", id)
		if err := os.Mkdir(mon, 0o755); err != nil {
			return nil, fmt.Errorf("enableMonitoring: make the monitoring group: %w", err)
		}
		g.MonitorDir = mon
		if err := writeTask(mon, pid); err != nil {
			return nil, fmt.Errorf("enableMonitoring: %w", err)
		}
	}
	return g, nil
}

// enter finds or makes the group's directory, as the spec's rules for closID say, and reports
// whether it made it: only a group made here gets the schemata written; an existing one must
// already have them.
func (g *Group) enter(closID string, want []string) (bool, error) {
	if closID == "/" {
		return false, checkSchemata(g.Dir, want) // the default group, the resctrl root
	}
	err := os.Mkdir(g.Dir, 0o755)
	switch {
	case err == nil && closID != "" && len(want) == 0:
		os.Remove(g.Dir)
		return false, fieldErr("closID", fmt.Sprintf("no resctrl group %s: without a schema, the group must exist", g.Dir))
	case err == nil:
		// A group named by closID is kept at delete even when made here; the container's own
		// group (no closID) is removed.
		g.Made = closID == ""
		return true, nil
	case errors.Is(err, os.ErrExist) && closID == "":
		return false, fmt.Errorf("resctrl group %s exists already: another container's", g.Dir)
	case errors.Is(err, os.ErrExist):
		return false, checkSchemata(g.Dir, want)
	default:
		return false, fmt.Errorf("make resctrl group %s: %w", g.Dir, err)
	}
}

// checkSchemata compares what an existing group's schemata file says with what the config asks
// for: each line asked for must be there, resource by resource and domain by domain.
func checkSchemata(dir string, want []string) error {
	if len(want) == 0 {
		return nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "schemata"))
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Join(dir, "schemata"), err)
	}
	have := parseSchemata(strings.Split(string(data), "\n"))
	for res, domains := range parseSchemata(want) {
		for dom, val := range domains {
			if !strings.EqualFold(strings.TrimLeft(have[res][dom], "0"), strings.TrimLeft(val, "0")) {
				return fieldErr("closID", fmt.Sprintf("resctrl group %s exists with %s:%s=%s, not the %s:%s=%s asked for",
					dir, res, dom, have[res][dom], res, dom, val))
			}
		}
	}
	return nil
}

// parseSchemata reads schemata lines ("L3:0=7f0;1=1f") into resource -> domain -> value.
func parseSchemata(ls []string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, l := range ls {
		res, doms, ok := strings.Cut(strings.TrimSpace(l), ":")
		if !ok {
			continue
		}
		res = strings.TrimSpace(res)
		if out[res] == nil {
			out[res] = map[string]string{}
		}
		for _, d := range strings.Split(doms, ";") {
			if k, v, ok := strings.Cut(d, "="); ok {
				out[res][strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}

// writeSchemata writes the lines one at a time: the kernel takes one resource per write and
// names the line it refuses in info/last_cmd_status.
func writeSchemata(dir string, ls []string) error {
	path := filepath.Join(dir, "schemata")
	for _, l := range ls {
		if err := os.WriteFile(path, []byte(l+"\n"), 0); err != nil {
			return fmt.Errorf("write %q to %s: %w%s", l, path, err, lastStatus(filepath.Dir(dir)))
		}
	}
	return nil
}

// lastStatus is the kernel's word on the last failed write, from info/last_cmd_status.
func lastStatus(root string) string {
	f, err := os.Open(filepath.Join(root, "info", "last_cmd_status"))
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	if s.Scan() && s.Text() != "ok" {
		return " (" + s.Text() + ")"
	}
	return ""
}

func writeTask(dir string, pid int) error {
	path := filepath.Join(dir, "tasks")
	if err := os.WriteFile(path, []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("put process %d in resctrl group %s: %w", pid, dir, err)
	}
	return nil
}

// Update writes new schemata to the group (nebulon update --l3-cache-schema, --mem-bw-schema).
func (g *Group) Update(r *specs.LinuxIntelRdt) error {
	if err := Check(r); err != nil {
		return err
	}
	return writeSchemata(g.Dir, lines(r))
}

// Destroy removes the MON group and, when Apply made it, the group (config-linux.md#intelrdt:
// a closID group is never removed). Their tasks go back to the parent group. On resctrl a group
// is removed by rmdir alone, files and all; RemoveAll does that first.
func (g *Group) Destroy() error {
	var errs []error
	if g.MonitorDir != "" {
		if err := os.RemoveAll(g.MonitorDir); err != nil {
			errs = append(errs, fmt.Errorf("remove resctrl monitoring group: %w", err))
		}
	}
	if g.Made {
		if err := os.RemoveAll(g.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove resctrl group: %w", err))
		}
	}
	return errors.Join(errs...)
}

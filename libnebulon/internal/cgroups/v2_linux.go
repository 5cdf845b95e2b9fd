package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/devicefilter"
)

// v2Manager is a container's cgroup on a cgroup v2-only host.
type v2Manager struct {
	path string
}

func (m *v2Manager) Create() ([]string, error) {
	isNew, err := mkdirOwned(m.path, mkdirOne)
	if err == nil {
		enableControllers(m.path)
	}
	if isNew {
		return []string{""}, err
	}
	return nil, err
}

// enableControllers lets a cgroup below the hierarchy's root have every controller its ancestors
// have, writing each ancestor's cgroup.subtree_control (as runc does). The root's is the host's
// choice and left alone. A controller an ancestor cannot pass on (it holds processes itself, the
// "no internal processes" rule) stays off; a limit that needs it is then an error at Set.
func enableControllers(dir string) {
	rel, err := filepath.Rel(root, filepath.Dir(dir))
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return
	}
	cur := root
	for _, part := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, part)
		data, err := os.ReadFile(filepath.Join(cur, "cgroup.controllers"))
		if err != nil {
			return
		}
		for _, c := range strings.Fields(string(data)) {
			os.WriteFile(filepath.Join(cur, "cgroup.subtree_control"), []byte("+"+c), 0)
		}
	}
}

func (m *v2Manager) EnterV2(pid int) error { return Enter(m.path, pid) }

func (m *v2Manager) Entry() (*Entry, error) {
	dir, err := openV2Dir(m.path)
	if err != nil {
		return nil, err
	}
	return &Entry{V2Dir: dir}, nil
}

func (m *v2Manager) Pids() ([]int, error) { return readPids(m.path) }

func (m *v2Manager) Destroy(made []string) error { return removeMade(m.Paths(), made) }

func (m *v2Manager) Paths() map[string]string { return map[string]string{"": m.path} }

func (m *v2Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	ws, err := v2Writes(r)
	if err != nil {
		return err
	}
	if err := m.setDevices(r.Devices); err != nil {
		return err
	}
	_, err = applyWrites(ws, m.dirOf(), false)
	return err
}

func (m *v2Manager) Update(r *specs.LinuxResources) error {
	ws, err := v2Writes(r)
	if err != nil {
		return err
	}
	return update(ws, m.dirOf(), r.Memory, "memory.current")
}

// dirOf checks that the cgroup has each controller written to (its parent's
// cgroup.subtree_control enables it) and gives the one directory of v2.
func (m *v2Manager) dirOf() func(ctrl string) (string, error) {
	var enabled map[string]bool
	return func(ctrl string) (string, error) {
		if ctrl == "" {
			return m.path, nil
		}
		if enabled == nil {
			enabled = map[string]bool{}
			data, err := os.ReadFile(filepath.Join(m.path, "cgroup.controllers"))
			if err != nil {
				return "", err
			}
			for _, c := range strings.Fields(string(data)) {
				enabled[c] = true
			}
		}
		if !enabled[ctrl] {
			return "", fmt.Errorf("the %s controller is not enabled for %s (see cgroup.subtree_control of its parent)", ctrl, m.path)
		}
		return m.path, nil
	}
}

func (m *v2Manager) setDevices(rules []specs.LinuxDeviceCgroup) error {
	if len(rules) == 0 || rootlessCaller() {
		// A rootless caller cannot load or attach a device program (BPF_PROG_QUERY is refused
		// first) even in a cgroup delegated to it, and makes no device nodes in its user
		// namespace: skipped, as on v1 and as runc's fs2 manager ignores the error rootless.
		return nil
	}
	dir, err := openV2Dir(m.path)
	if err != nil {
		return &ResourceError{Field: "devices", Err: err}
	}
	defer dir.Close()
	if err := devicefilter.Apply(dir, rules); err != nil {
		return &ResourceError{Field: "devices", Err: err}
	}
	return nil
}

// CheckDelegated refuses the first limit of r whose v2 controller is not among have, the
// cgroup.controllers of the subtree a user's systemd was delegated (where names it): systemd
// would take the unit's property and leave the limit unapplied, and the file would be missing.
// The error names the field, before anything is made.
func CheckDelegated(r *specs.LinuxResources, have []string, where string) error {
	if r == nil {
		return nil
	}
	ws, err := v2Writes(r)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if w.ctrl != "" && !w.optional && !slices.Contains(have, w.ctrl) {
			return resErr(w.field, "the %s controller is not delegated to %s (its cgroup.controllers: %q), so this user's containers cannot be limited by it; drop the limit, or have systemd delegate %s to the user (Delegate= of user@.service)",
				w.ctrl, where, strings.Join(have, " "), w.ctrl)
		}
	}
	return nil
}

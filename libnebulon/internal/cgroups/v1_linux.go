package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/sys/mountinfo"
	"github.com/moby/sys/userns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// v1Manager keeps a directory per v1 hierarchy. In hybrid mode the container also gets a
// directory in the controller-less v2 hierarchy, so tools reading 0::/ see where it is.
type v1Manager struct {
	paths map[string]string
}

// Hierarchy is one mounted v1 hierarchy: its mount point and the subsystems bound to it.
type Hierarchy struct {
	Mountpoint string
	Subsystems []string // e.g. cpu, cpuacct; name=systemd for a named one
}

// V1Hierarchies lists the mounted v1 hierarchies. The host's cgroup mounts do not change while a
// command runs, and create needs them twice (its cgroup paths, the init's cgroup mounts), so the
// mountinfo is parsed once per process.
var V1Hierarchies = sync.OnceValues(readV1Hierarchies)

func readV1Hierarchies() ([]Hierarchy, error) {
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("list cgroup mounts: %w", err)
	}
	seen := map[string]bool{}
	var hs []Hierarchy
	for _, m := range mounts {
		if !strings.HasPrefix(m.Mountpoint, root+"/") || m.Root != "/" {
			continue
		}
		var subs []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if knownSubsystem(o) || strings.HasPrefix(o, "name=") {
				subs = append(subs, o)
			}
		}
		key := strings.Join(subs, ",")
		if len(subs) == 0 || seen[key] {
			continue
		}
		seen[key] = true
		hs = append(hs, Hierarchy{Mountpoint: m.Mountpoint, Subsystems: subs})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Mountpoint < hs[j].Mountpoint })
	return hs, nil
}

func knownSubsystem(s string) bool {
	switch s {
	case "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls",
		"net_prio", "perf_event", "hugetlb", "rdma", "misc":
		return true
	}
	return false
}

func newV1(rel string) (*v1Manager, error) {
	hs, err := V1Hierarchies()
	if err != nil {
		return nil, err
	}
	paths := map[string]string{}
	for _, h := range hs {
		key := strings.Join(h.Subsystems, ",")
		p := rel
		if !filepath.IsAbs(p) {
			own, err := ownCgroup(h.Subsystems[0])
			if err != nil {
				return nil, err
			}
			p = filepath.Join(own, p)
		}
		paths[key] = filepath.Join(h.Mountpoint, filepath.Clean(p))
	}
	if DetectMode() == Hybrid {
		p := rel
		if !filepath.IsAbs(p) {
			own, err := ownCgroup("")
			if err != nil {
				return nil, err
			}
			p = filepath.Join(own, p)
		}
		paths[""] = filepath.Join(root, "unified", filepath.Clean(p))
	}
	return &v1Manager{paths: paths}, nil
}

func (m *v1Manager) Create() ([]string, error) {
	var made []string
	for key := range m.paths {
		isNew, err := m.mkdir(key)
		if isNew {
			made = append(made, key)
		}
		if err != nil {
			return made, err
		}
	}
	return made, nil
}

// mkdir makes the cgroup of hierarchy key (mkdirOwned), a cpuset one with its parent's cpus
// and mems; isNew reports whether it made it.
func (m *v1Manager) mkdir(key string) (isNew bool, err error) {
	mkdir := mkdirOne
	if key == "cpuset" {
		mkdir = mkdirCpuset
	}
	return mkdirOwned(m.paths[key], mkdir)
}

// CreateRootless is Create for a caller that may not be able to write every cgroup (rootless,
// runc's --rootless): on cgroup v1, whose hierarchies are independent, a hierarchy whose cgroup
// it may not make or write (IsPermission) is dropped from m, as runc's rootless fs manager drops
// it, and the container runs in the others; dropped lists those left out. When every one is
// dropped, or on v2 (one hierarchy), the permission error comes back, with m unchanged on v2.
func CreateRootless(m Manager) (made, dropped []string, err error) {
	v1, ok := m.(*v1Manager)
	if !ok {
		made, err = m.Create()
		return made, nil, err
	}
	return v1.createRootless()
}

func (m *v1Manager) createRootless() (made, dropped []string, err error) {
	var refused error
	for _, key := range sortedKeys(m.paths) {
		dir := m.paths[key]
		isNew, err := m.mkdir(key)
		if isNew {
			made = append(made, key)
		}
		if err == nil {
			// An existing cgroup (a cgroupsPath) may be there but not this user's: its init
			// could not join it. The v2 hierarchy (key "") has no tasks file: it is joined
			// through cgroup.procs (EnterV2).
			join := "tasks"
			if key == "" {
				join = "cgroup.procs"
			}
			if err = unix.Access(filepath.Join(dir, join), unix.W_OK); err != nil {
				err = &os.PathError{Op: "write", Path: filepath.Join(dir, join), Err: err}
			}
		}
		if err == nil {
			continue
		}
		if !IsPermission(err) {
			return made, dropped, err
		}
		if isNew { // made, then found unwritable (a cpuset's cpus): not the container's after all
			if rerr := removeCgroup(dir); rerr != nil {
				return made, dropped, rerr
			}
			made = made[:len(made)-1]
		}
		if refused == nil {
			refused = err
		}
		dropped = append(dropped, key)
		delete(m.paths, key)
	}
	if len(m.paths) == 0 {
		return made, dropped, refused
	}
	return made, dropped, nil
}

func (m *v1Manager) EnterV2(pid int) error {
	if dir, ok := m.paths[""]; ok {
		return Enter(dir, pid)
	}
	return nil
}

func (m *v1Manager) Entry() (_ *Entry, retErr error) {
	e := &Entry{}
	defer func() {
		if retErr != nil {
			e.Close()
		}
	}()
	keys := make([]string, 0, len(m.paths))
	memKey, pidsKey := "", ""
	for key := range m.paths {
		switch {
		case key == "":
		case hasSubsystem(key, "memory"):
			memKey = key
		case hasSubsystem(key, "pids"):
			pidsKey = key
		default:
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	if pidsKey != "" {
		keys = append(keys, pidsKey)
		e.Pids = true
	}
	if memKey != "" {
		keys = append(keys, memKey)
	}
	for _, key := range keys {
		f, err := os.OpenFile(filepath.Join(m.paths[key], "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup tasks: %w", err)
		}
		e.Tasks = append(e.Tasks, f)
	}
	if memKey != "" {
		e.Memory = true
		home, err := ownTasksFile(memKey)
		if err != nil {
			return nil, err
		}
		e.MemoryHome = home
	}
	if dir, ok := m.paths[""]; ok {
		var err error
		if e.V2Dir, err = openV2Dir(dir); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// ownTasksFile opens the tasks file of the runtime's own cgroup in the hierarchy key.
func ownTasksFile(key string) (*os.File, error) {
	dir, err := ownDir(key)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the runtime's own cgroup tasks: %w", err)
	}
	return f, nil
}

// LeaveMemory moves pid, every thread of it, out of the container's v1 memory cgroup (paths, as
// Paths gives them) back into the runtime's own, and opens the memory pair (Entry.Memory) for
// its init to join the container's last. It returns nil when paths has no memory hierarchy.
func LeaveMemory(paths map[string]string, pid int) (_ *Entry, retErr error) {
	for key, dir := range paths {
		if key == "" || !hasSubsystem(key, "memory") {
			continue
		}
		e := &Entry{Memory: true}
		defer func() {
			if retErr != nil {
				e.Close()
			}
		}()
		tasks, err := os.OpenFile(filepath.Join(dir, "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup tasks: %w", err)
		}
		e.Tasks = []*os.File{tasks}
		home, err := ownDir(key)
		if err != nil {
			return nil, err
		}
		if e.MemoryHome, err = os.OpenFile(filepath.Join(home, "tasks"), unix.O_WRONLY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("open the runtime's own cgroup tasks: %w", err)
		}
		return e, Enter(home, pid)
	}
	return nil, nil
}

// ownDir is the directory of the runtime's own cgroup in the v1 hierarchy key.
func ownDir(key string) (string, error) {
	hs, err := V1Hierarchies()
	if err != nil {
		return "", err
	}
	for _, h := range hs {
		if strings.Join(h.Subsystems, ",") != key {
			continue
		}
		own, err := ownCgroup(h.Subsystems[0])
		if err != nil {
			return "", fmt.Errorf("the runtime's own cgroup: %w", err)
		}
		return filepath.Join(h.Mountpoint, own), nil
	}
	return "", fmt.Errorf("no v1 hierarchy %s", key)
}

func hasSubsystem(key, sub string) bool {
	for _, s := range strings.Split(key, ",") {
		if s == sub {
			return true
		}
	}
	return false
}

// Pids reads the pids hierarchy, or another when pids is not mounted: every one holds all of the
// container's processes.
func (m *v1Manager) Pids() ([]int, error) {
	for _, ctrl := range []string{"pids", "freezer", "memory", "cpu", "devices"} {
		if dir, err := m.dirOf(ctrl); err == nil {
			return readPids(dir)
		}
	}
	for _, key := range sortedKeys(m.paths) {
		return readPids(m.paths[key])
	}
	return nil, errors.New("container has no cgroup")
}

func (m *v1Manager) Destroy(made []string) error { return removeMade(m.paths, made) }

func (m *v1Manager) Paths() map[string]string { return m.paths }

// mkdirCpuset makes one level of a v1 cpuset cgroup and fills its cpus and mems: a new cpuset
// cgroup starts with none, and no process can join it then (cpuset(7); the write to tasks
// fails with ENOSPC).
func mkdirCpuset(dir string) error {
	if err := mkdirOne(dir); err != nil {
		return err
	}
	return fillCpuset(dir)
}

// fillCpuset gives dir, and each ancestor on the way up whose own are empty, the cpuset.cpus and
// cpuset.mems of the nearest ancestor that has them, as runc does: a parent made by someone
// else (or with cgroup.clone_children off) may have none, and its children inherit nothing.
// Ancestors are filled top down, since a cgroup's cpus must be a subset of its parent's.
func fillCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		if _, err := fillCpusetFile(dir, f); err != nil {
			return err
		}
	}
	return nil
}

// fillCpusetFile returns dir's value of file, first filled from its ancestors when empty.
func fillCpusetFile(dir, file string) (string, error) {
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if val := strings.TrimSpace(string(data)); val != "" {
		return val, nil
	}
	parent := filepath.Dir(dir)
	if parent == dir {
		return "", fmt.Errorf("%s is empty up to the root of the hierarchy", file)
	}
	val, err := fillCpusetFile(parent, file)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(val), 0); err != nil {
		return "", fmt.Errorf("copy %s %q into %s: %w", file, val, dir, err)
	}
	return val, nil
}

func (m *v1Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	ws, err := v1Writes(r)
	if err != nil {
		return err
	}
	if err := m.setDevices(r.Devices); err != nil {
		return err
	}
	_, err = applyWrites(ws, m.dirOf, false)
	return err
}

func (m *v1Manager) Update(r *specs.LinuxResources) error {
	ws, err := v1Writes(r)
	if err != nil {
		return err
	}
	return update(m.orderMemory(ws), m.dirOf, r.Memory, "memory.usage_in_bytes")
}

// orderMemory writes memory+swap before memory when the new memory limit is above the current
// memory+swap limit: v1 keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every
// write, so raising both must start with memsw and lowering both with memory.
func (m *v1Manager) orderMemory(ws []write) []write {
	li, si := -1, -1
	for i, w := range ws {
		switch w.files[0] {
		case "memory.limit_in_bytes":
			li = i
		case "memory.memsw.limit_in_bytes":
			si = i
		}
	}
	if li < 0 || si < 0 {
		return ws
	}
	dir, err := m.dirOf("memory")
	if err != nil {
		return ws
	}
	cur, err := readInt(filepath.Join(dir, "memory.memsw.limit_in_bytes"))
	limit, _ := strconv.ParseInt(ws[li].vals[0], 10, 64)
	if err == nil && (limit == -1 || limit > cur) && li < si {
		ws[li], ws[si] = ws[si], ws[li]
	}
	return ws
}

// dirOf is the directory of the hierarchy that has the controller.
func (m *v1Manager) dirOf(ctrl string) (string, error) {
	for key, dir := range m.paths {
		if key != "" && hasSubsystem(key, ctrl) {
			return dir, nil
		}
	}
	if hs, err := V1Hierarchies(); err == nil {
		for _, h := range hs {
			if hasSubsystem(strings.Join(h.Subsystems, ","), ctrl) {
				// Mounted, but left out by CreateRootless.
				return "", fmt.Errorf("the container has no cgroup in the %s hierarchy: it was created rootless, by a user who may not write its cgroup under %s", ctrl, h.Mountpoint)
			}
		}
	}
	return "", fmt.Errorf("the %s controller is not mounted on this host", ctrl)
}

// rootlessCaller is a caller that is not the host's root (not root, or root in a user
// namespace), who may not write device rules (runc's config.RootlessCgroups for cgroupfs).
func rootlessCaller() bool {
	return os.Geteuid() != 0 || userns.RunningInUserNS()
}

func (m *v1Manager) setDevices(rules []specs.LinuxDeviceCgroup) error {
	if len(rules) == 0 {
		return nil
	}
	if rootlessCaller() {
		// As None skips them, and runc's rootless manager ignores the devices errors: writing
		// devices.allow or devices.deny needs CAP_SYS_ADMIN in the host's user namespace even
		// in a devices cgroup delegated to the caller, a user namespace makes no device nodes,
		// and the caller opens host devices with its own rights only.
		return nil
	}
	dir, err := m.dirOf("devices")
	if err != nil {
		return &ResourceError{Field: "devices", Err: err}
	}
	return setV1Devices(dir, rules)
}

// setV1Devices writes device rules in order, which is what the spec asks (config-linux.md,
// "Device allowlist"): "a" to devices.deny resets to deny-all, to devices.allow to allow-all, and
// other rules add or remove exceptions.
func setV1Devices(dir string, rules []specs.LinuxDeviceCgroup) error {
	for i, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		if err := writeFile(dir, file, v1DeviceRule(r)); err != nil {
			return &ResourceError{Field: fmt.Sprintf("devices[%d]", i), Err: err}
		}
	}
	return nil
}

func v1DeviceRule(r specs.LinuxDeviceCgroup) string {
	typ := r.Type
	if typ == "" {
		typ = "a"
	}
	access := r.Access
	if access == "" {
		access = "rwm"
	}
	if typ == "a" && (r.Major == nil || *r.Major < 0) && (r.Minor == nil || *r.Minor < 0) && access == "rwm" {
		return "a"
	}
	num := func(n *int64) string {
		if n == nil || *n < 0 {
			return "*"
		}
		return strconv.FormatInt(*n, 10)
	}
	return fmt.Sprintf("%s %s:%s %s", typ, num(r.Major), num(r.Minor), access)
}

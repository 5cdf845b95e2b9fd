// Package cgroups places containers in cgroups, lists their processes and removes the cgroups,
// on cgroup v1 (with or without a v2 hierarchy beside it) and on cgroup v2 alone.
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mode is how the host mounts cgroups.
type Mode int

const (
	Legacy  Mode = iota // v1 controllers only
	Hybrid              // v1 controllers, and a v2 hierarchy with none at /sys/fs/cgroup/unified
	Unified             // v2 only, at /sys/fs/cgroup
)

func (m Mode) String() string { return [...]string{"v1", "hybrid", "v2"}[m] }

const root = "/sys/fs/cgroup"

// DetectMode reads the host's mode once; it does not change while the runtime runs.
var DetectMode = sync.OnceValue(func() Mode {
	var st unix.Statfs_t
	if unix.Statfs(root, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Unified
	}
	if unix.Statfs(filepath.Join(root, "unified"), &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Hybrid
	}
	return Legacy
})

// Manager is one container's cgroup, on v1 or v2.
//
// A new container does not migrate into its cgroup: migrating a process (cgroup.procs) takes the
// write side of cgroup_threadgroup_rwsem, which waits for an RCU grace period, several
// milliseconds per container. Instead Entry gives what places the init for free: on v1 the
// `tasks` files, into which the init's single setup thread writes "0" (recent kernels let a
// thread moving itself skip that lock, kernel/cgroup/cgroup.c:cgroup_procs_write_start; older
// ones take it, which is slower but as correct), and on v2 the directory for clone3's
// CLONE_INTO_CGROUP, which only takes the lock's read side.
type Manager interface {
	// Create makes the cgroup directories and returns the hierarchies (Paths keys) in which it
	// made the container's directory, also when it fails part way: only those are the
	// container's to remove. A cgroupsPath naming an existing cgroup is used, never removed.
	Create() (made []string, err error)
	// EnterV2 moves pid into the v2 cgroup through cgroup.procs: the slow path, for kernels
	// without CLONE_INTO_CGROUP. It does nothing where there is no v2 cgroup.
	EnterV2(pid int) error
	// Entry opens what places the init in the cgroups. The files are opened by the runtime, so
	// the kernel checks the runtime's credentials when the init writes to them, even from
	// inside a user namespace.
	Entry() (*Entry, error)
	// Set applies resource limits to a new cgroup. A limit the host cannot honour is a
	// *ResourceError naming the field, never ignored.
	Set(r *specs.LinuxResources) error
	// Update changes what r sets, and nothing else, on a live container; device rules are not
	// changed (r.Devices is ignored, as runc ignores it). On failure the values it had written
	// are restored.
	Update(r *specs.LinuxResources) error
	// Freeze freezes (true) or thaws (false) every process in the cgroup, and returns when done.
	Freeze(freeze bool) error
	// Frozen reports whether the cgroup is frozen, or being frozen.
	Frozen() (bool, error)
	// Stats reads the cgroup's resource usage.
	Stats() (*Stats, error)
	// NotifyOOM reports the cgroup's out-of-memory events until stop is called or the cgroup
	// is removed, when the channel is closed.
	NotifyOOM() (events <-chan struct{}, stop func(), err error)
	// Pids lists the processes in the cgroup.
	Pids() ([]int, error)
	// Destroy removes the directories of the given hierarchies (those Create made), with any
	// child cgroups the container made in them; the processes in them must be gone.
	Destroy(made []string) error
	// Paths maps each hierarchy (the v1 subsystem names, "" for v2) to its directory.
	Paths() map[string]string
}

// Attacher is a Manager whose cgroup is made around a process that exists: the systemd
// driver's unit, which systemd makes with the init in it. Its Create and Set only prepare the
// cgroup, and Entry places nothing; Attach makes it with pid in it and applies the resources.
type Attacher interface {
	Attach(pid int) error
	// LeaveMemory moves pid, which Attach put in every hierarchy, back into the runtime's own
	// v1 memory cgroup, and returns the memory pair (Entry.Memory) for the init to join the
	// container's memory cgroup last, as the cgroupfs driver's init does. It returns nil on v2,
	// or when no memory hierarchy is mounted.
	LeaveMemory(pid int) (*Entry, error)
}

// Entry places a container's init in its cgroups.
//
// On v1 the memory hierarchy is the init's to join last: the memory controller charges a page to
// the cgroup its process is in when the page is allocated, and charges stay where they were
// made. The Go init's runtime and setup (about 0.5 MiB) would otherwise count against the
// container's limit; joining memory just before exec keeps the runtime's memory the runtime's,
// and a container with a limit of a few hundred KiB runs.
type Entry struct {
	Tasks []*os.File // v1 `tasks` files, the memory hierarchy's last when Memory
	// Pids: the last of Tasks but the memory hierarchy's is the pids hierarchy's, which a C init
	// joins once its Go helper is forked (syncmsg.EnvCgroupPids).
	Pids bool
	// Memory: the last of Tasks is the memory hierarchy's. MemoryHome is then the `tasks` file
	// of the runtime's own memory cgroup, where an init that must join memory early (to root
	// its cgroup namespace there) steps back to until it is done.
	Memory     bool
	MemoryHome *os.File
	V2Dir      *os.File // the v2 directory, for CLONE_INTO_CGROUP; nil when there is none
}

// Close closes the files.
func (e *Entry) Close() {
	if e == nil {
		return
	}
	for _, f := range append(e.Tasks, e.MemoryHome, e.V2Dir) {
		if f != nil {
			f.Close()
		}
	}
}

// SystemdBooted reports whether systemd is PID 1, the one that would own the cgroup tree.
func SystemdBooted() bool {
	comm, _ := os.ReadFile("/proc/1/comm")
	return strings.TrimSpace(string(comm)) == "systemd"
}

// New returns the manager for a container's cgroupsPath (absolute, or relative to the runtime's
// own cgroup); an empty cgroupsPath means /<id>.
func New(cgroupsPath, id string) (Manager, error) {
	if strings.Contains(cgroupsPath, ":") && !strings.HasPrefix(cgroupsPath, "/") {
		return nil, fmt.Errorf("cgroupsPath %q is a systemd slice:prefix:name path, which needs the systemd cgroup driver (nebulon --systemd-cgroup); with the cgroupfs driver give a path such as /mygroup/%s", cgroupsPath, id)
	}
	rel := cgroupsPath
	if rel == "" {
		rel = "/" + id
	}
	if strings.Contains("/"+rel+"/", "/../") {
		return nil, fmt.Errorf("cgroupsPath %q must not contain ..", cgroupsPath)
	}
	if DetectMode() == Unified {
		if !filepath.IsAbs(rel) {
			own, err := ownCgroup("")
			if err != nil {
				return nil, err
			}
			// Beside the runtime's cgroup, not below it, as runc does on v2: the runtime's
			// cgroup holds a process, so it cannot enable controllers for children (the "no
			// internal processes" rule, cgroup-v2.rst).
			rel = filepath.Join(filepath.Dir(own), rel)
		}
		return &v2Manager{path: filepath.Join(root, filepath.Clean(rel))}, nil
	}
	return newV1(rel)
}

// Load returns the manager for cgroups made earlier, from their saved paths.
func Load(paths map[string]string) Manager {
	if DetectMode() == Unified {
		return &v2Manager{path: paths[""]}
	}
	return &v1Manager{paths: paths}
}

// ownCgroup returns the runtime's own cgroup in a hierarchy ("" for v2 or the unified one), "/"
// where it is in none.
func ownCgroup(subsystem string) (string, error) {
	path, ok, err := ProcCgroup(0, subsystem)
	if err != nil || !ok {
		return "/", err
	}
	return path, nil
}

// ProcCgroup returns the cgroup of process pid (0: this process) in a hierarchy, as
// /proc/PID/cgroup gives it: a v1 subsystem ("memory", "name=systemd"), or "" for the v2 (or
// unified) one. ok is false where the process is in no such hierarchy.
func ProcCgroup(pid int, hierarchy string) (path string, ok bool, err error) {
	file := "/proc/self/cgroup"
	if pid != 0 {
		file = "/proc/" + strconv.Itoa(pid) + "/cgroup"
	}
	f, err := os.Open(file)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, s := range strings.Split(parts[1], ",") {
			if s == hierarchy || (hierarchy == "" && parts[0] == "0" && parts[1] == "") {
				return parts[2], true, nil
			}
		}
	}
	return "", false, sc.Err()
}

// readPids lists the processes of dir and of every cgroup below it: a container may make child
// cgroups (systemd in it, a nested runtime), and on v2 a cgroup that delegates controllers holds
// its processes only in children.
func readPids(dir string) ([]int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		if e.IsDir() {
			sub, err := readPids(filepath.Join(dir, e.Name()))
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
			pids = append(pids, sub...)
		}
	}
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("parse %s/cgroup.procs: %w", dir, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// removeCgroup removes dir and any child cgroups the container made, deepest first. A cgroup
// whose last process just exited can stay busy for a moment, so EBUSY is retried briefly.
func removeCgroup(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroup(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for i := 0; ; i++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || i == 10 {
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
		time.Sleep(delay)
		delay *= 2
	}
}

func writeFile(dir, file, val string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(val), 0); err != nil {
		return fmt.Errorf("set %s to %s: %w", file, val, err)
	}
	return nil
}

func pidsMax(limit int64) string {
	// 0 is a limit like any other (runtime-spec 1.3, config-linux.md#pids): no new task at all.
	if limit < 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// mkdirOwned makes dir and reports whether this call made it: of two creates racing for one
// cgroupsPath, exactly one owns the cgroup. mkdir makes one level (and may prepare it).
func mkdirOwned(dir string, mkdir func(string) error) (bool, error) {
	if err := mkdirAllWith(filepath.Dir(dir), mkdir); err != nil {
		return false, err
	}
	err := mkdir(dir)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	return err == nil, err
}

// mkdirAllWith makes dir and its missing parents one level at a time with mkdir.
func mkdirAllWith(dir string, mkdir func(string) error) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirAllWith(filepath.Dir(dir), mkdir); err != nil {
		return err
	}
	if err := mkdir(dir); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

func mkdirOne(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return nil
}

func removeMade(paths map[string]string, made []string) error {
	var errs []error
	for _, key := range made {
		if dir, ok := paths[key]; ok {
			errs = append(errs, removeCgroup(dir))
		}
	}
	return errors.Join(errs...)
}

func openV2Dir(dir string) (*os.File, error) {
	f, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return f, nil
}

// LeafFor returns the v2 cgroup a process joining dir, the container's, goes to: dir itself, or,
// when dir has controllers enabled for its children (systemd or another cgroup manager in the
// container made sub-cgroups), the cgroup of pid, the container's init. The kernel refuses
// processes in a cgroup that hands controllers down ("no internal processes", cgroup-v2.rst);
// runc's exec falls back to the init's cgroup too.
func LeafFor(dir string, pid int) (string, error) {
	ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil || len(strings.TrimSpace(string(ctl))) == 0 {
		return dir, nil
	}
	rel, ok, err := ProcCgroup(pid, "")
	if err != nil {
		return "", fmt.Errorf("the cgroup of the container's init: %w", err)
	}
	if ok {
		v2 := root
		if DetectMode() == Hybrid {
			v2 = filepath.Join(root, "unified")
		}
		return filepath.Join(v2, filepath.Clean(rel)), nil
	}
	return "", fmt.Errorf("the container's cgroup %s is not a leaf (cgroup.subtree_control: %s), and its init (pid %d) is in no cgroup v2 cgroup to join instead", dir, strings.TrimSpace(string(ctl)), pid)
}

// EnterOwnV2 moves pid into the runtime's own cgroup v2 cgroup (unified mode only): back out of
// the container's, for an init that joins late (syncmsg.LeaveCgroup).
func EnterOwnV2(pid int) error {
	own, err := ownCgroup("")
	if err != nil {
		return fmt.Errorf("the runtime's own cgroup: %w", err)
	}
	return Enter(filepath.Join(root, own), pid)
}

// Enter moves pid into the cgroup dir through cgroup.procs.
func Enter(dir string, pid int) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, dir, err)
	}
	return nil
}

func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// checkBeforeUpdate refuses a new memory limit below what the container uses now, when the
// resources ask for that check (config-linux.md, memory.checkBeforeUpdate).
func checkBeforeUpdate(m *specs.LinuxMemory, dirOf func(string) (string, error), usageFile string) error {
	if m == nil || m.CheckBeforeUpdate == nil || !*m.CheckBeforeUpdate || m.Limit == nil || *m.Limit <= 0 {
		return nil
	}
	dir, err := dirOf("memory")
	if err != nil {
		return &ResourceError{Field: "memory.limit", Err: err}
	}
	usage, err := readInt(filepath.Join(dir, usageFile))
	if err != nil {
		return &ResourceError{Field: "memory.checkBeforeUpdate", Err: err}
	}
	if usage > *m.Limit {
		return resErr("memory.limit", "the container uses %d bytes, more than the new limit %d (memory.checkBeforeUpdate)", usage, *m.Limit)
	}
	return nil
}

// CheckDeviceRule checks what the kernel would otherwise reject half way through a rule list.
func CheckDeviceRule(r specs.LinuxDeviceCgroup) error {
	switch r.Type {
	case "", "a", "b", "c":
	default:
		return fmt.Errorf("type %q is not a, b or c", r.Type)
	}
	if strings.Trim(r.Access, "rwm") != "" {
		return fmt.Errorf("access %q has letters other than r, w and m", r.Access)
	}
	return nil
}

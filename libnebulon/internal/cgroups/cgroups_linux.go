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
	// Entry opens the v1 `tasks` files and the v2 directory (nil when there is none). The
	// files are opened by the runtime, so the kernel checks the runtime's credentials when the
	// init writes to them, even from inside a user namespace.
	Entry() (tasks []*os.File, v2dir *os.File, err error)
	// Set applies resource limits. A limit the host cannot honour is an error, never ignored.
	Set(r *specs.LinuxResources) error
	// Pids lists the processes in the cgroup.
	Pids() ([]int, error)
	// Destroy removes the directories of the given hierarchies (those Create made), with any
	// child cgroups the container made in them; the processes in them must be gone.
	Destroy(made []string) error
	// Paths maps each hierarchy (the v1 subsystem names, "" for v2) to its directory.
	Paths() map[string]string
}

// New returns the manager for a container's cgroupsPath (absolute, or relative to the runtime's
// own cgroup); an empty cgroupsPath means /<id>.
func New(cgroupsPath, id string) (Manager, error) {
	if strings.Contains(cgroupsPath, ":") && !strings.HasPrefix(cgroupsPath, "/") {
		return nil, fmt.Errorf("cgroupsPath %q is a systemd slice:prefix:name path, which needs the systemd cgroup driver", cgroupsPath)
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
			rel = filepath.Join(own, rel)
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

// ownCgroup returns the runtime's own cgroup in a hierarchy ("" for v2 or the unified one), from
// /proc/self/cgroup.
func ownCgroup(subsystem string) (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, s := range strings.Split(parts[1], ",") {
			if s == subsystem || (subsystem == "" && parts[0] == "0" && parts[1] == "") {
				return parts[2], nil
			}
		}
	}
	return "/", nil
}

func readPids(dir string) ([]int, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
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
	if limit <= 0 {
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

func enterCgroup(dir string, pid int) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("move pid %d into cgroup %s: %w", pid, dir, err)
	}
	return nil
}

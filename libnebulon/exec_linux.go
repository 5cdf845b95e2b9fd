package libnebulon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/parent"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
)

// ExecOpts are `exec`'s options beyond the process.
type ExecOpts struct {
	PreserveFds  int
	IgnorePaused bool
	// Cgroup is a sub-cgroup of the container's to run in: "path" for every hierarchy, or
	// "controller:path" (repeatable) on v1.
	Cgroup []string
	// Stdin, Stdout and Stderr become the process's stdio; nil means the runtime's own.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket and Foreground are CreateOpts's, for a process with a terminal.
	ConsoleSocket string
	Foreground    bool
}

// Exec starts p inside the running container: in each of its namespaces (user and mount
// included), its cgroups, with p's user, capabilities, rlimits, no_new_privs and environment.
// It returns the process's pid (in the runtime's pid namespace) once the process has exec'd, and
// the pty master of its terminal when the caller relays it (opts.Foreground); an error means it
// never ran. The caller must be a child subreaper to wait for it: the process is
// the child of a stage that exits at once. Exec only reads the container's state and may run
// without its lock (a container that goes away meanwhile makes it fail).
func (c *Container) Exec(p *specs.Process, opts ExecOpts) (int, *os.File, error) {
	status := c.Status()
	switch status {
	case specs.StateCreating:
		return 0, nil, c.errCreating()
	case specs.StateStopped:
		return 0, nil, errors.New("cannot exec in a stopped container")
	case StatePaused:
		if !opts.IgnorePaused {
			return 0, nil, errors.New("cannot exec in a paused container (use --ignore-paused to override)")
		}
	}
	if err := checkExecProcess(p); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			fe.Source = "exec" // the flags or --process, not the bundle's config.json
		}
		return 0, nil, err
	}
	spec, err := c.ProcessSpec()
	if err != nil {
		return 0, nil, err
	}
	pidfd, err := proc.PidfdFor(c.state.InitPid, c.state.InitStartTime)
	if errors.Is(err, unix.ESRCH) {
		return 0, nil, ErrNotRunning
	}
	if err != nil {
		return 0, nil, err
	}
	initFd := os.NewFile(uintptr(pidfd), "pidfd")
	defer initFd.Close()
	namespaces, err := parent.ExecNamespacePlan(spec, initFd, c.state.InitPid)
	if err != nil {
		return 0, nil, err
	}
	// Read through the init's pid before it is checked alive below: then it was the init's.
	if err := parent.CheckExecAdditionalGids(p, c.state.InitPid); err != nil {
		if !proc.Alive(c.state.InitPid, c.state.InitStartTime) {
			return 0, nil, ErrNotRunning // the refusal was read from another's setgroups
		}
		return 0, nil, err
	}
	if !proc.Alive(c.state.InitPid, c.state.InitStartTime) {
		return 0, nil, ErrNotRunning // and a plan by paths names a process that is not the init
	}
	paths, err := execCgroups(c.state, opts.Cgroup)
	if err != nil {
		return 0, nil, err
	}
	filter, err := c.execSeccomp(spec)
	if err != nil {
		return 0, nil, err
	}
	tty, err := openTerminal(p, opts.Foreground, opts.ConsoleSocket)
	if err != nil {
		return 0, nil, err
	}
	defer tty.Close()
	execSpec := *spec
	execSpec.Process = p
	pid, err := parent.StartExec(&parent.Exec{
		Process: parent.Process{
			ID: c.ID, Bundle: c.state.Bundle, Spec: &execSpec, Cgroup: cgroups.Load(paths), Namespaces: namespaces,
			Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, PreserveFds: opts.PreserveFds,
			Console: tty.sock, Seccomp: filter, InitPidfd: initFd, InitPid: c.state.InitPid,
		},
		Status: status,
	})
	if err != nil {
		return 0, nil, err
	}
	master, err := tty.master()
	if err != nil {
		parent.Kill(pid)
		return 0, nil, err
	}
	return pid, master, nil
}

func checkExecProcess(p *specs.Process) error {
	if err := validateProcess(p); err != nil {
		return err
	}
	return checkLSM(p.ApparmorProfile, p.SelinuxLabel, "")
}

// execCgroups are the cgroups an exec'd process joins: the container's, the sub-cgroups --cgroup
// names below them, or, for a container v2 cgroup that is not a leaf (cgroups.LeafFor), the
// init's.
func execCgroups(s *State, subs []string) (map[string]string, error) {
	if len(subs) > 0 {
		return subCgroup(s.CgroupPaths, subs)
	}
	dir, ok := s.CgroupPaths[""]
	if !ok {
		return s.CgroupPaths, nil
	}
	leaf, err := cgroups.LeafFor(dir, s.InitPid)
	if err != nil || leaf == dir {
		return s.CgroupPaths, err
	}
	out := make(map[string]string, len(s.CgroupPaths))
	for k, v := range s.CgroupPaths {
		out[k] = v
	}
	out[""] = leaf
	return out, nil
}

// subCgroup applies exec's --cgroup to the container's cgroup paths; the sub-cgroup must exist.
func subCgroup(paths map[string]string, subs []string) (map[string]string, error) {
	if len(subs) == 0 {
		return paths, nil
	}
	out := map[string]string{}
	for k, v := range paths {
		out[k] = v
	}
	for _, s := range subs {
		ctrl, sub, ok := strings.Cut(s, ":")
		if !ok {
			ctrl, sub = "", s
		}
		if sub == "" || filepath.IsAbs(sub) || strings.Contains("/"+sub+"/", "/../") {
			return nil, fmt.Errorf("--cgroup %q: want a path below the container's cgroup, such as sub or memory:sub", s)
		}
		matched := false
		for key, dir := range paths {
			if ctrl != "" && !containsString(strings.Split(key, ","), ctrl) {
				continue
			}
			matched = true
			p := filepath.Join(dir, sub)
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("--cgroup %q: no cgroup %s", s, p)
			}
			out[key] = p
		}
		if !matched {
			return nil, fmt.Errorf("--cgroup %q: the container has no %s hierarchy", s, ctrl)
		}
	}
	return out, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

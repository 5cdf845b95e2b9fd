package libnebulon

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/systemd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/hooks"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/netdev"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/parent"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/resctrl"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/seccomp"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// CreateOpts are create's options, as runc names them.
type CreateOpts struct {
	Bundle       string
	PidFile      string
	NoPivot      bool
	NoNewKeyring bool
	PreserveFds  int
	// ExtraEnv is added to process.env (socket activation's LISTEN_FDS, LISTEN_PID).
	ExtraEnv []string
	// Stdin, Stdout and Stderr become the container process's stdio; nil means the runtime's own.
	// With process.terminal the process's stdio is its terminal instead.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket is the path of a unix socket that receives the pty master of a process with
	// process.terminal (runc's --console-socket). Foreground means the caller relays the
	// terminal itself: the master comes back from Container.Console. A detached process with a
	// terminal needs a console socket.
	ConsoleSocket string
	Foreground    bool
	// SystemdCgroup selects the systemd cgroup driver (runc's --systemd-cgroup): the container's
	// cgroup is a transient unit named by a "slice:prefix:name" cgroupsPath.
	SystemdCgroup bool
	// SystemdUser makes the systemd driver use the user's systemd (on the user's bus) rather
	// than the system's: runc's rootless cgroup manager with --systemd-cgroup. cmd/nebulon
	// decides it as runc does (systemdUser).
	SystemdUser bool
	// RootlessCgroups is runc's rootless cgroup manager (--rootless, by default true for a
	// caller that is not root): a container with no cgroupsPath whose cgroup the caller may not
	// make runs without one (cgroups.None).
	RootlessCgroups bool
}

// LoadBundle reads and validates a bundle's config.json. Paths come back absolute.
func LoadBundle(bundle string) (string, *specs.Spec, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return "", nil, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return "", nil, fmt.Errorf("bundle: %w", err)
	} else if !fi.IsDir() {
		return "", nil, fmt.Errorf("bundle %s: not a directory", abs)
	}
	data, err := readConfig(filepath.Join(abs, "config.json"))
	if err != nil {
		return "", nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return "", nil, fmt.Errorf("%s: invalid JSON: %w", filepath.Join(abs, "config.json"), err)
	}
	if err := Validate(&s); err != nil {
		return "", nil, err
	}
	return abs, &s, nil
}

// readConfig reads a bundle's config.json, which must be a file of the bundle's own: a symlink
// could make the runtime read (and echo in its errors) any file of the host.
func readConfig(path string) ([]byte, error) {
	// O_NONBLOCK: a fifo there must not hang the runtime.
	f, err := os.OpenFile(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("bundle: %s is a symlink: a bundle's config must be its own file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("bundle: %s is not a regular file", path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	return data, nil
}

// Create makes a container from a bundle and leaves it "created", unlocked: namespaces
// and root filesystem ready, its init waiting for Start. On failure what it made is removed: the
// init, the cgroups it made (not their parents), the state directory; mounts live in the init's
// mount namespace and go with it.
func Create(root, id string, opts CreateOpts) (_ *Container, retErr error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	plan, err := planCreate(id, opts)
	if err != nil {
		return nil, err
	}
	slog.Debug("config read and checked", "id", id)
	tty, err := openTerminal(plan.spec.Process, opts.Foreground, opts.ConsoleSocket)
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	c, err := newContainer(root, id, plan)
	if err != nil {
		return nil, err
	}
	slog.Debug("state saved", "id", id)
	defer func() {
		if retErr != nil {
			c.abortCreate(retErr)
		}
	}()
	if err := c.startInit(plan, opts, tty.sock); err != nil {
		return nil, err
	}
	if err := c.finishCreate(tty, opts.PidFile); err != nil {
		return nil, err
	}
	return c, nil
}

// finishCreate ends the making of a container whose init is up (create's, or restore's): it
// receives the terminal the runtime relays, saves the state as no longer creating and writes
// the pid file.
func (c *Container) finishCreate(tty *terminal, pidFile string) error {
	var err error
	if c.console, err = tty.master(); err != nil {
		return err
	}
	c.state.Creating = false
	if err := c.store.save(c.state); err != nil {
		return err
	}
	if pidFile != "" {
		return WritePidFile(pidFile, c.state.InitPid)
	}
	return nil
}

// createPlan is what create reads, checks and works out before it makes anything: a bad config
// fails here, leaving nothing behind.
type createPlan struct {
	bundle, rootfs string // absolute
	spec           *specs.Spec
	namespaces     *syncmsg.Bootstrap
	seccomp        *seccomp.Filter // linux.seccomp compiled, or nil
	cgroup         cgroups.Manager
	// rootlessCgroups: a cgroup the caller may not make is done without (withoutCgroup).
	rootlessCgroups bool
	resctrl         string // the resctrl mount, for linux.intelRdt
}

func planCreate(id string, opts CreateOpts) (*createPlan, error) {
	bundle, spec, err := LoadBundle(opts.Bundle)
	if err != nil {
		return nil, err
	}
	spec.Process.Env = append(spec.Process.Env, opts.ExtraEnv...)
	if err := checkApplicable(spec); err != nil {
		return nil, err
	}
	p := &createPlan{bundle: bundle, spec: spec, rootlessCgroups: opts.RootlessCgroups && !opts.SystemdCgroup}
	if p.rootfs, err = resolvePaths(bundle, spec); err != nil {
		return nil, err
	}
	if err := parent.CheckMappings(spec.Linux); err != nil {
		return nil, err
	}
	if err := parent.CheckAdditionalGids(spec.Process, spec.Linux); err != nil {
		return nil, err
	}
	if p.namespaces, err = parent.NamespacePlan(spec, 0); err != nil {
		return nil, err
	}
	if p.seccomp, err = compileSeccomp(spec.Linux.Seccomp); err != nil {
		return nil, err
	}
	if p.cgroup, err = newCgroup(spec, id, opts.SystemdCgroup, opts.SystemdUser); err != nil {
		return nil, err
	}
	if rdt := spec.Linux.IntelRdt; rdt != nil {
		if p.resctrl, err = checkIntelRdt(rdt); err != nil {
			return nil, err
		}
	}
	newNet := linuxspec.NewNamespace(spec.Linux, specs.NetworkNamespace)
	if err := netdev.Check(spec.Linux.NetDevices, newNet); err != nil {
		return nil, err
	}
	return p, nil
}

// checkIntelRdt checks linux.intelRdt and finds the resctrl mount it needs.
func checkIntelRdt(r *specs.LinuxIntelRdt) (string, error) {
	if err := resctrl.Check(r); err != nil {
		return "", err
	}
	root, err := resctrl.Root()
	if err != nil {
		return "", linuxspec.Errorf("linux.intelRdt", "%v", err)
	}
	return root, nil
}

// newContainer makes the state directory of a new container and saves its state as "creating",
// with this process as its creator, before anything else is made: if this process is killed
// part way, delete still finds the container, as stopped, and removes what it made. The
// directory's lock is let go once the state is saved: the status says "creating" to the other
// commands, and create's hooks may call them.
func newContainer(root, id string, p *createPlan) (*Container, error) {
	self, err := proc.ReadStat(os.Getpid())
	if err != nil {
		return nil, err
	}
	st, err := createStore(root, id)
	if err != nil {
		return nil, err
	}
	defer st.unlock()
	c := &Container{ID: id, store: st, state: &State{
		ID: id, Bundle: p.bundle, Rootfs: p.rootfs, Created: time.Now().UTC(), OCIVersion: p.spec.Version,
		Annotations: p.spec.Annotations, Hooks: p.spec.Hooks,
		Creating: true, Creator: os.Getpid(), CreatorStartTime: self.StartTime,
		CgroupPaths: p.cgroup.Paths(), HostMounts: !linuxspec.HasNamespace(p.spec.Linux, specs.MountNamespace),
		// What makeCgroups is about to make, saved with this first state: a create killed
		// between the mkdirs and their save would otherwise leave cgroups delete does not know
		// are the container's.
		CgroupMade: missingCgroups(p),
	}}
	if c.state.HostMounts {
		if c.state.RootfsMountID, err = topMountID(p.rootfs); err != nil {
			st.remove()
			return nil, err
		}
	}
	if err := st.save(c.state); err != nil {
		st.remove()
		return nil, err
	}
	if err := st.publish(); err != nil {
		st.remove()
		return nil, err
	}
	return c, nil
}

// startInit makes the container's cgroups and exec.fifo and starts its init (parent.StartInit),
// saving the init's pid, the spec and the compiled filter as soon as the init exists.
func (c *Container) startInit(p *createPlan, opts CreateOpts, console *os.File) error {
	if err := c.makeCgroups(p); err != nil {
		return err
	}
	slog.Debug("cgroups made", "id", c.ID)
	fifo, err := makeFifo(c.store)
	if err != nil {
		return err
	}
	defer fifo.Close()
	return parent.StartInit(&parent.Init{
		Process: parent.Process{
			ID: c.ID, Bundle: p.bundle, Spec: p.spec, Cgroup: p.cgroup, Namespaces: p.namespaces,
			Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, PreserveFds: opts.PreserveFds,
			Console: console, Seccomp: p.seccomp,
		},
		Rootfs: p.rootfs, NoPivot: opts.NoPivot, NoNewKeyring: opts.NoNewKeyring,
		CgroupPaths: c.state.CgroupPaths, Fifo: fifo,
		Started: func(pid int, startTime uint64) error {
			c.state.InitPid, c.state.InitStartTime = pid, startTime
			if err := c.joinIntelRdt(p, pid); err != nil {
				return err
			}
			// Before anything of the container runs, in the namespace the init made.
			if err := netdev.Move(p.spec.Linux.NetDevices, pid); err != nil {
				return err
			}
			// The unit is in the state from the moment it may exist: a create that failed
			// before never asked systemd for anything, and its clean-up asks nothing either.
			if sm, ok := p.cgroup.(*systemd.Manager); ok {
				u := sm.Unit()
				c.state.SystemdUnit, c.state.SystemdUser = &u, sm.User()
			}
			if err := c.saveStarted(p); err != nil {
				return err
			}
			// The systemd driver's unit is made now, with the init in it, before the init is
			// sent its config: it roots its cgroup namespace in the cgroup it is in then.
			if a, ok := p.cgroup.(cgroups.Attacher); ok {
				if err := a.Attach(pid); err != nil {
					return resourcesError(err, p.cgroup)
				}
				slog.Debug("systemd unit made", "id", c.ID)
			}
			return nil
		},
	})
}

// joinIntelRdt puts the init in its resctrl group (linux.intelRdt), before it runs anything of
// the container's; its children inherit the group.
func (c *Container) joinIntelRdt(p *createPlan, pid int) error {
	rdt := p.spec.Linux.IntelRdt
	if rdt == nil {
		return nil
	}
	g, err := resctrl.Apply(p.resctrl, c.ID, rdt, pid)
	var fe *linuxspec.FieldError
	if err != nil && !errors.As(err, &fe) {
		err = linuxspec.Errorf("linux.intelRdt", "%v", err)
	}
	if err != nil {
		return err
	}
	c.state.IntelRdt = g
	return nil
}

// saveStarted saves what a container whose init exists needs: the state with the init's pid,
// so a failed or killed create can be cleaned up, init included; the spec; the compiled filter.
func (c *Container) saveStarted(p *createPlan) error {
	if err := c.store.save(c.state); err != nil {
		return err
	}
	if err := c.store.saveSpec(p.spec); err != nil {
		return err
	}
	return c.store.saveSeccomp(p.seccomp)
}

// resolvePaths makes root.path and relative bind mount sources absolute against the bundle,
// and checks the rootfs is a directory.
func resolvePaths(bundle string, spec *specs.Spec) (string, error) {
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	rootfs, err := filepath.EvalSymlinks(rootfs)
	if err != nil {
		return "", fmt.Errorf("root.path: %w", err)
	}
	if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
		return "", linuxspec.Errorf("root.path", "%s is not a directory", rootfs)
	}
	for i := range spec.Mounts {
		m := &spec.Mounts[i]
		if mountopt.IsBind(m.Options) && !filepath.IsAbs(m.Source) {
			m.Source = filepath.Join(bundle, m.Source)
		}
	}
	return rootfs, nil
}

// abortCreate removes what a failed create made. A failed hook stops the
// container and the lifecycle goes on to poststop (runtime.md#lifecycle, steps 3-5); other
// failures never made a container.
func (c *Container) abortCreate(err error) {
	c.destroy()
	var hookErr *hooks.Error
	if errors.As(err, &hookErr) {
		c.poststop()
	}
}

// makeCgroups makes the container's cgroups, saving which it made (for delete), and applies the
// limits. Those about to be made were saved with the first state (missingCgroups); the state is
// saved again only if Create made others.
func (c *Container) makeCgroups(p *createPlan) error {
	if err := checkCgroupEmpty(p); err != nil {
		return err
	}
	var made []string
	var err error
	if p.rootlessCgroups {
		made, err = c.createRootlessCgroup(p)
	} else {
		made, err = p.cgroup.Create()
	}
	if !sameKeys(made, c.state.CgroupMade) {
		c.state.CgroupMade = made
		if serr := c.store.save(c.state); err == nil {
			err = serr
		}
	}
	if err != nil {
		return err
	}
	if err := p.cgroup.Set(cgroupResources(p.spec)); err != nil {
		return resourcesError(err, p.cgroup)
	}
	return nil
}

// createRootlessCgroup makes the cgroups a rootless caller may make (cgroups.CreateRootless): the
// container does without those of the v1 hierarchies this user may not write, as with runc's
// rootless manager, and without any cgroup when it may write none (withoutCgroup).
func (c *Container) createRootlessCgroup(p *createPlan) ([]string, error) {
	made, dropped, err := cgroups.CreateRootless(p.cgroup)
	if err != nil && cgroups.IsPermission(err) {
		return c.withoutCgroup(p, made, err)
	}
	if err != nil || len(dropped) == 0 {
		return made, err
	}
	// Only with a cgroupsPath: without one the path is /<id> at each hierarchy's root, which no
	// user owns, and every hierarchy is dropped (withoutCgroup). A cgroup was asked for and is
	// only partly had; runc fails here, nebulon runs the container and says what is missing.
	names := make([]string, len(dropped))
	for i, key := range dropped {
		names[i] = cmp.Or(key, "unified")
	}
	slog.Warn("rootless: the container has no cgroup in the hierarchies this user may not write: limits of their controllers are refused (create, update), and their stats are missing (events --stats)", "id", c.ID, "hierarchies", strings.Join(names, " "))
	c.state.CgroupPaths = p.cgroup.Paths()
	return made, c.store.save(c.state)
}

// withoutCgroup lets a rootless container that may not make its cgroup (createErr, a permission
// error) run without one, as runc's rootless cgroup manager does: only when the config names no
// cgroupsPath (one it names must be used, runc's c.Path == "") and the cgroupfs driver is in use.
// The cgroups made before the refusal (made) are removed; the state forgets the paths.
func (c *Container) withoutCgroup(p *createPlan, made []string, createErr error) ([]string, error) {
	if p.spec.Linux.CgroupsPath != "" {
		return made, linuxspec.Errorf("linux.cgroupsPath", "%q: %v (nebulon runs rootless: a cgroupsPath must name a cgroup this user may write)", p.spec.Linux.CgroupsPath, createErr)
	}
	if err := p.cgroup.Destroy(made); err != nil {
		return made, fmt.Errorf("%w (and removing the cgroups made: %v)", createErr, err)
	}
	slog.Debug("rootless: no cgroup", "id", c.ID, "err", createErr)
	p.cgroup = cgroups.None()
	c.state.CgroupPaths, c.state.CgroupMade = nil, nil
	return nil, c.store.save(c.state)
}

// resourcesError names the field of linux.resources that err, from cg, is about. The systemd
// driver's own errors (cg is an Attacher) name theirs: a unit property's field, or what systemd
// did not do.
func resourcesError(err error, cg cgroups.Manager) error {
	var re *cgroups.ResourceError
	if errors.As(err, &re) {
		return linuxspec.Errorf("linux.resources."+re.Field, "%v", re.Err)
	}
	if _, driver := cg.(cgroups.Attacher); driver {
		return err
	}
	return fmt.Errorf("linux.resources: %w", err)
}

// missingCgroups lists the hierarchies whose cgroup does not exist yet: those create will make.
func missingCgroups(p *createPlan) []string {
	var missing []string
	for key, dir := range p.cgroup.Paths() {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			missing = append(missing, key)
		}
	}
	return missing
}

// sameKeys reports whether a and b hold the same hierarchies.
func sameKeys(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	set := make(map[string]bool, len(a))
	for _, k := range a {
		set[k] = true
	}
	for _, k := range b {
		if !set[k] {
			return false
		}
	}
	return true
}

// checkCgroupEmpty refuses a cgroupsPath whose cgroup already holds processes or is frozen, as runc does
// (libcontainer's Create): they would count against the container's limits, be frozen by its
// pause and killed with it. Only one hierarchy is read on v1, as in runc. Nothing is made yet,
// and the cgroup is not the container's: a failed create leaves it and its processes alone.
func checkCgroupEmpty(p *createPlan) error {
	// An init that joins a frozen cgroup stops there and never answers; runc refuses it too.
	if frozen, err := p.cgroup.Frozen(); err == nil && frozen {
		return linuxspec.Errorf("linux.cgroupsPath", "%q: container's cgroup unexpectedly frozen", p.spec.Linux.CgroupsPath)
	}
	pids, err := p.cgroup.Pids()
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) {
		return nil // not there yet (or removed as we read it): create makes it
	}
	if err != nil {
		return fmt.Errorf("linux.cgroupsPath %q: list its processes: %w", p.spec.Linux.CgroupsPath, err)
	}
	if len(pids) > 0 {
		return linuxspec.Errorf("linux.cgroupsPath", "%q: container's cgroup is not empty: %d process(es) found", p.spec.Linux.CgroupsPath, len(pids))
	}
	return nil
}

// makeFifo makes exec.fifo and opens it read-write, which never blocks; the init keeps this fd
// (see Start).
func makeFifo(st *store) (*os.File, error) {
	path := st.path(syncmsg.ExecFifo)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return nil, &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	return os.OpenFile(path, os.O_RDWR, 0)
}

package libnebulon

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"
	"github.com/moby/sys/user"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/hooks"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// Container is one container under a state root. Load holds its lock until Close.
type Container struct {
	ID    string
	store *store
	state *State
	gone  bool        // destroyed by this process: nothing is left to delete
	spec  *specs.Spec // see Spec
	// processSpec is the part of the spec ProcessSpec reads, when Spec has not been read.
	processSpec *specs.Spec
	// console is the pty master of a process with a terminal, created in the foreground.
	console *os.File
}

// Console returns the pty master of the container's process when Create was told to relay its
// terminal (CreateOpts.Foreground with process.terminal); the caller owns it. Otherwise nil.
func (c *Container) Console() *os.File { return c.console }

// Load opens an existing container and locks it against other commands that change it, until
// Close (see store).
func Load(root, id string) (*Container, error) {
	return load(root, id, unix.LOCK_EX)
}

// Peek opens an existing container without a lock, to read it: state.json is replaced whole,
// so what it reads is one state. Methods that change the container must not be called.
func Peek(root, id string) (*Container, error) {
	return load(root, id, 0)
}

func load(root, id string, how int) (*Container, error) {
	st, err := openStore(root, id, how)
	if err != nil {
		return nil, err
	}
	s, err := st.load()
	if err != nil {
		st.unlock()
		return nil, err
	}
	return &Container{ID: id, store: st, state: s}, nil
}

// Close releases the container's lock, and the directory a create works in.
func (c *Container) Close() { c.store.close() }

// State returns the saved state.
func (c *Container) State() *State { return c.state }

// Spec returns the spec the container was created from (with updated resources), read once.
func (c *Container) Spec() (*specs.Spec, error) {
	if c.spec == nil {
		spec, err := c.store.loadSpec()
		if err != nil {
			return nil, err
		}
		c.spec = spec
	}
	return c.spec, nil
}

// ProcessSpec returns the part of the spec about the container's processes, which exec and kill
// read (the process, namespaces, id mappings, linux.seccomp, personality, memory policy and
// annotations), read once; the rest is empty. It is cheaper to read than Spec (processView).
func (c *Container) ProcessSpec() (*specs.Spec, error) {
	if c.spec != nil {
		return c.spec, nil
	}
	if c.processSpec == nil {
		spec, err := c.store.loadProcessSpec()
		if err != nil {
			return nil, err
		}
		c.processSpec = spec
	}
	return c.processSpec, nil
}

// Status is the container's status now, read from the kernel: creating while the create that
// makes it lives, stopped when its init is gone (or its create died part way), paused while its
// cgroup is frozen, created while the init waits on the exec fifo (or a start is handing over),
// running after.
func (c *Container) Status() specs.ContainerState {
	return statusOf(c.store.path("."), c.state)
}

func statusOf(dir string, s *State) specs.ContainerState {
	if s.Creating {
		if proc.Alive(s.Creator, s.CreatorStartTime) {
			return specs.StateCreating
		}
		return specs.StateStopped
	}
	if !proc.Alive(s.InitPid, s.InitStartTime) {
		return specs.StateStopped
	}
	status := specs.StateRunning
	for _, name := range []string{syncmsg.ExecFifo, execFifoStarting} {
		if _, err := os.Lstat(filepath.Join(dir, name)); err == nil {
			status = specs.StateCreated
		}
	}
	if len(s.CgroupPaths) > 0 {
		if frozen, _ := loadCgroup(s).Frozen(); frozen {
			return StatePaused
		}
	}
	return status
}

// OCIState is the state the spec defines (runtime.md#state), with runc's extra fields.
type OCIState struct {
	specs.State
	Rootfs  string `json:"rootfs"`
	Created string `json:"created"`
	Owner   string `json:"owner"`
}

// OCIState returns the container's state as `state` prints it.
func (c *Container) OCIState() *OCIState {
	return ociState(c.store.path("."), c.state)
}

func ociState(dir string, s *State) *OCIState {
	status := statusOf(dir, s)
	pid := s.InitPid
	if status == specs.StateStopped || (status == specs.StateCreating && !proc.Alive(s.InitPid, s.InitStartTime)) {
		pid = 0
	}
	return &OCIState{
		State: specs.State{
			Version: specs.Version, ID: s.ID, Status: status, Pid: pid, Bundle: s.Bundle, Annotations: s.Annotations,
		},
		Rootfs: s.Rootfs, Created: s.Created.Format("2006-01-02T15:04:05.999999999Z"), Owner: s.Owner,
	}
}

// List returns the state of every container under root, sorted by id. It takes no locks: state
// files are replaced atomically, so each read is of a whole state.
func List(root string) ([]*OCIState, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*OCIState
	owners := map[uint32]string{} // /etc/passwd is read once per owner, not per container
	for _, e := range entries {
		if !e.IsDir() || strings.Contains(e.Name(), ":") { // creatingMark, deletingMark
			continue
		}
		st := &store{dir: filepath.Join(root, e.Name())}
		s, err := st.load()
		if err != nil {
			continue // just made, or being removed
		}
		cs := ociState(st.dir, s)
		cs.Owner = ownerOf(st.dir, owners)
		out = append(out, cs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// errCreating is the error of a command that needs the container's create to have finished.
func (c *Container) errCreating() error {
	return fmt.Errorf("container %s is still being created (by nebulon pid %d)", c.ID, c.state.Creator)
}

// ErrNotRunning is returned for operations that need a live container.
var ErrNotRunning = errors.New("container not running")

// Signal sends sig to the container's init, or with all to every process in its cgroup.
//
// As in runc (libcontainer's Container.Signal), SIGKILL to a container without a pid namespace
// of its own goes to every process in its cgroup: only the death of a namespace's pid 1 takes
// the namespace's other processes with it (pid_namespaces(7)), so without one, processes
// started by exec outlive the init. The same holds once the init has exited: a stopped
// container's leftovers are killed, and with all that is no error, as runc's kill --all
// returns 0 there (containerd kills a pod's containers so when they share its pid namespace).
// A stopped container with nothing to signal is ErrNotRunning, whose text engines match.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	whole := all || (sig == unix.SIGKILL && !c.ownPidNamespace())
	if c.Status() == specs.StateStopped {
		if !whole {
			return ErrNotRunning
		}
		n, err := c.signalAll(sig)
		if all {
			return err
		}
		if err == nil && n == 0 {
			return ErrNotRunning
		}
		return err
	}
	if sig == unix.SIGKILL {
		// A frozen process takes SIGKILL only when thawed: a paused container is killed, then
		// thawed, as in runc, not left frozen with the kill pending.
		defer c.thaw()
	}
	if whole {
		_, err := c.signalAll(sig)
		if errors.Is(err, errInitOnly) {
			// As runc does for a rootless container whose cgroup it cannot use: warn, and
			// signal the init, rather than nothing.
			// runc's words, for the tools that match them; the detail after them.
			slog.Warn("failed to kill all processes, possibly due to lack of cgroup (Hint: enable cgroup v2 delegation)", "id", c.ID,
				"error", "the container has no cgroup (created rootless) and no pid namespace of its own, so its init alone is signalled and processes it started may be left")
		} else if err == nil || all {
			return err
		}
		// A cgroup create did not make, shared with others, without a pid namespace to tell
		// the container's processes apart: only the init is surely the container's.
	}
	fd, err := proc.PidfdFor(c.state.InitPid, c.state.InitStartTime)
	if errors.Is(err, unix.ESRCH) {
		return ErrNotRunning
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return os.NewSyscallError("pidfd_send_signal", err)
	}
	return nil
}

// ownPidNamespace reports whether the container's init made a pid namespace of its own (runc's
// IsPrivate: a pid namespace without a path). A container whose spec cannot be read counts as
// having one, so only its init is signalled.
func (c *Container) ownPidNamespace() bool {
	spec, err := c.ProcessSpec()
	if err != nil || spec.Linux == nil {
		return err != nil
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path == "" {
			return true
		}
	}
	return false
}

// signalAll signals every process in the container's cgroup and returns how many it signalled.
// A cgroupsPath naming a cgroup create did not make may hold other processes: then only those
// in the container's own pid namespace are the container's, and without one nothing tells them
// apart.
//
// The cgroup is frozen while its processes are listed and signalled, as runc does, so none can
// fork a child that the list misses; a cgroup shared with others is not the container's to freeze.
func (c *Container) signalAll(sig unix.Signal) (int, error) {
	if len(c.state.CgroupPaths) == 0 {
		return c.signalPidNamespace(sig)
	}
	cg := loadCgroup(c.state)
	owned := len(c.state.CgroupMade) == len(c.state.CgroupPaths)
	if frozen, _ := cg.Frozen(); owned && !frozen {
		if err := cg.Freeze(true); err == nil {
			defer cg.Freeze(false)
		}
	}
	pids, err := cg.Pids()
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil // removed with its last process: nothing is left to signal
	}
	if err != nil {
		return 0, fmt.Errorf("list container processes: %w", err)
	}
	if !owned {
		if pids, err = c.inPidNamespace(pids); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, pid := range pids {
		err := unix.Kill(pid, sig)
		if err != nil && !errors.Is(err, unix.ESRCH) {
			return n, fmt.Errorf("signal pid %d: %w", pid, err)
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}

// errInitOnly is signalAll's answer for a container whose processes cannot be listed: it has
// no cgroup (rootless) and no pid namespace of its own (a joined one holds others' processes).
var errInitOnly = errors.New("no cgroup and no pid namespace of its own")

// signalPidNamespace signals the processes of a container without a cgroup (rootless): those of
// its init's own pid namespace. Once the init is gone, so are they (the kernel kills a pid
// namespace with its init). Without a pid namespace of its own, errInitOnly.
func (c *Container) signalPidNamespace(sig unix.Signal) (int, error) {
	fd, err := proc.PidfdFor(c.state.InitPid, c.state.InitStartTime)
	if errors.Is(err, unix.ESRCH) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if !c.ownPidNamespace() {
		return 0, errInitOnly
	}
	pids, err := c.pidNamespaceMembers()
	if err != nil {
		return 0, err
	}
	// The namespace was read through the init's pid: it was the init's only if the pidfd's
	// process is still alive now (a pid reused after its exit would name another's).
	if err := unix.PidfdSendSignal(fd, 0, nil, 0); err != nil {
		return 0, nil
	}
	n := 0
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err == nil {
			n++
		}
	}
	return n, nil
}

// inPidNamespace keeps the pids that live in the container init's pid namespace.
func (c *Container) inPidNamespace(pids []int) ([]int, error) {
	ns := func(pid int) string {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
		return link
	}
	own, host := ns(c.state.InitPid), ns(os.Getpid())
	if own == "" || own == host {
		return nil, fmt.Errorf("kill --all: container %s shares cgroup %v, which it did not create, and has no pid namespace of its own: its processes cannot be told from others", c.ID, c.state.CgroupPaths)
	}
	var out []int
	for _, pid := range pids {
		if ns(pid) == own {
			out = append(out, pid)
		}
	}
	return out, nil
}

// Delete removes a stopped or created container: its processes, cgroup and state. A running one
// needs force, and is killed first. Poststop hooks run after the container is gone; their
// failure is only logged (runtime-spec config.md#poststop).
func (c *Container) Delete(force bool) error {
	if c.gone {
		return nil
	}
	status := c.Status()
	if (status == specs.StateRunning || status == StatePaused || status == specs.StateCreating) && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.ID, status)
	}
	if status == specs.StateCreating {
		if err := c.awaitCreator(); err != nil || c.gone {
			return err
		}
	}
	if err := c.destroy(); err != nil {
		return err
	}
	c.poststop()
	return nil
}

// creatorWait bounds how long delete --force lets a create that is still making the container
// finish before it kills it.
const creatorWait = 10 * time.Second

// awaitCreator lets the create that is making the container finish before delete --force removes
// it, and reads the state it leaves. Until the init has its config only its create knows the
// init's pid (Started saves it before the config is sent), and the init joins its cgroups only
// once configured: a delete that went on at once would find neither the pid nor the process in
// the cgroup, remove the state, and the create would finish making a container nobody can
// start or delete, its init waiting on exec.fifo for good (tests/stress). A create that is still
// at it after creatorWait (one whose hook waits on this delete, say) is killed: its init's pid
// is then in the state if the init has its config, and an init without one exits when the
// create's end of the sync socket closes.
//
// A create that fails removes the container itself, which then is gone for this delete too.
func (c *Container) awaitCreator() error {
	deadline := time.Now().Add(creatorWait)
	killed := false
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		if !c.store.mine() {
			c.gone = true // removed by its failed create, or by another delete
			return nil
		}
		s, err := c.store.load()
		if err != nil {
			if !c.store.mine() {
				c.gone = true
				return nil
			}
			return err
		}
		c.state = s
		if !s.Creating || !proc.Alive(s.Creator, s.CreatorStartTime) {
			return nil
		}
		if killed {
			return fmt.Errorf("delete: the create of container %s (nebulon pid %d) did not exit after SIGKILL", c.ID, s.Creator)
		}
		if time.Now().After(deadline) {
			slog.Warn("delete --force: killing the create still making the container", "id", c.ID, "pid", s.Creator, "after", creatorWait)
			if err := killAndWait(s.Creator, s.CreatorStartTime, 5*time.Second); err != nil {
				return fmt.Errorf("delete: kill the create of container %s (nebulon pid %d): %w", c.ID, s.Creator, err)
			}
			killed = true
			continue
		}
		time.Sleep(delay)
	}
}

// killAndWait sends SIGKILL to the process that started at startTime and waits at most wait for
// its exit. A process gone already is no error.
func killAndWait(pid int, startTime uint64, wait time.Duration) error {
	fd, err := proc.PidfdFor(pid, startTime)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return os.NewSyscallError("pidfd_send_signal", err)
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for end := time.Now().Add(wait); ; {
		left := time.Until(end)
		if left <= 0 {
			return fmt.Errorf("pid %d still there %v after SIGKILL", pid, wait)
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if n > 0 {
			return nil
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll pidfd", err)
		}
	}
}

// poststop runs the poststop hooks of a container that is gone. Their failure is only logged
// (runtime-spec runtime.md#lifecycle, step 13). Delete runs them, and so do a create and a start
// whose hook failed, as the lifecycle goes on to delete there (steps 5 and 7).
func (c *Container) poststop() {
	if h := c.state.Hooks; h != nil {
		st := hooks.State(c.ID, c.state.Bundle, 0, specs.StateStopped, c.state.Annotations)
		hooks.RunWarn("poststop", h.Poststop, st)
	}
}

// destroy kills what is left of the container, waits for it, and removes its cgroup and state.
func (c *Container) destroy() error {
	s := c.state
	if !c.store.mine() {
		// A create whose container a delete --force removed meanwhile: that delete cleaned up,
		// and the cgroups, mounts and name may be another container's by now (a new create of
		// the id). Only this create's own init, by pidfd, is still its to end; not waited for,
		// as its cgroup, which could be frozen, is not this create's to thaw any more.
		if fd, err := proc.PidfdFor(s.InitPid, s.InitStartTime); err == nil {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			unix.Close(fd)
		}
		c.store.unlock()
		c.gone = true
		return nil
	}
	if fd, err := proc.PidfdFor(s.InitPid, s.InitStartTime); err == nil {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		c.thaw() // a frozen process dies only once thawed
		proc.WaitExit(fd)
		unix.Close(fd)
	}
	var errs []error
	if s.IntelRdt != nil {
		errs = append(errs, s.IntelRdt.Destroy())
	}
	if len(s.CgroupPaths) > 0 {
		cg := loadCgroup(s)
		defer closeCgroup(cg)
		// Without a pid namespace of its own, the container's processes outlive its init. They
		// are found by cgroup, which is only the container's when create made it: a cgroupsPath
		// naming an existing cgroup may hold processes that are not the container's.
		if len(s.CgroupMade) == len(s.CgroupPaths) {
			if pids, err := cg.Pids(); err == nil {
				for _, pid := range pids {
					unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
		// A frozen cgroup keeps its killed processes, and cannot be removed until they are gone.
		// Without an init ever started (a create refused before it), nothing frozen there is
		// the container's, and the cgroup is not its to thaw.
		if s.InitPid != 0 {
			c.thaw()
		}
		errs = append(errs, cg.Destroy(s.CgroupMade))
	}
	if s.HostMounts {
		// MNT_DETACH takes the rootfs bind mount and everything mounted under it; only a top
		// mount other than the one there before create is the container's.
		if top, err := topMountID(s.Rootfs); err != nil {
			errs = append(errs, err)
		} else if top != 0 && top != s.RootfsMountID {
			if err := unix.Unmount(s.Rootfs, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, &os.PathError{Op: "unmount", Path: s.Rootfs, Err: err})
			}
		}
	}
	errs = append(errs, c.store.remove())
	c.gone = true
	return errors.Join(errs...)
}

// thaw thaws the container's cgroup if it is frozen.
func (c *Container) thaw() {
	if len(c.state.CgroupPaths) == 0 {
		return
	}
	cg := loadCgroup(c.state)
	if frozen, _ := cg.Frozen(); frozen {
		if err := cg.Freeze(false); err != nil {
			slog.Warn("thaw container", "id", c.ID, "err", err)
		}
	}
}

// startFailed handles an init that could not exec after start. A failed startContainer hook stops
// the container and the lifecycle goes on to delete and poststop (runtime.md#lifecycle, step 7);
// a failed exec leaves the container stopped, for delete to remove.
func (c *Container) startFailed(status []byte) error {
	var msg syncmsg.StartFailure
	if err := json.Unmarshal(status, &msg); err != nil {
		return fmt.Errorf("container process: %s", status)
	}
	err := fmt.Errorf("container process: %s", msg.Error)
	if !msg.Hook {
		return err
	}
	return c.hookFailed(err)
}

// execFifoStarting is exec.fifo once a start has claimed it: a second start finds no exec.fifo.
const execFifoStarting = syncmsg.ExecFifo + ".start"

// startWait bounds start's wait for the init to exec, beyond the timeouts of the startContainer
// hooks it runs first.
const startWait = 60 * time.Second

// Start lets a created container's init exec the user's process, then runs poststart hooks.
//
// The init holds exec.fifo open read-write (syncmsg's start.go). Start, holding the container's
// lock, checks the status and claims exec.fifo by renaming it (a second start finds none), then
// lets the lock go: the wait and the hooks that follow hold none. It opens the fifo for writing
// without blocking (ENXIO: no reader, the init is gone), writes a byte, and waits for POLLERR:
// every reader is gone once the init has exec'd (its fd is close-on-exec) or died. Then it reads
// the fifo back: anything the init wrote there says why it could not exec.
func (c *Container) Start() error {
	if c.store.lock == nil { // Create returns the container unlocked
		if err := c.store.relock(unix.LOCK_EX); err != nil {
			return err
		}
	}
	fifo, err := c.claimStart()
	c.store.unlock()
	if err != nil {
		return err
	}
	fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENXIO) {
		os.Remove(fifo)
		return errors.New("cannot start a container that has stopped")
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: fifo, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		return &os.PathError{Op: "write", Path: fifo, Err: err}
	}
	if err := c.waitExec(fd); err != nil {
		return err
	}
	left, err := readBack(fifo)
	os.Remove(fifo)
	switch {
	case err != nil:
		return err
	case len(left) == 1 && left[0] == 0:
		return fmt.Errorf("container process: the init (pid %d) ended before it took start's signal", c.state.InitPid)
	case len(left) > 0:
		return c.startFailed(left)
	}
	if h := c.state.Hooks; h != nil && len(h.Poststart) > 0 {
		waitFirstRun(c.state.InitPid, c.state.InitStartTime)
		st := hooks.State(c.ID, c.state.Bundle, c.state.InitPid, specs.StateRunning, c.state.Annotations)
		// Up to runtime-spec 1.2 a failing poststart hook is a warning and the rest run
		// (runtime.md#lifecycle step 9); from 1.3 on it fails start. The config's version says
		// which rule it was written for (the runtime-tools suite checks the 1.0 one).
		if !linuxspec.VersionAtLeast(c.state.OCIVersion, 1, 3) {
			hooks.RunWarn("poststart", h.Poststart, st)
			return nil
		}
		if err := hooks.Run("poststart", h.Poststart, st); err != nil {
			return c.hookFailed(err)
		}
	}
	return nil
}

// claimStart checks that the container can be started and renames its exec.fifo so that no
// other start can: it returns the fifo's new path. The caller holds the lock.
func (c *Container) claimStart() (string, error) {
	switch c.Status() {
	case specs.StateCreating:
		return "", fmt.Errorf("cannot start container %s: it is still being created", c.ID)
	case specs.StateStopped:
		return "", errors.New("cannot start a container that has stopped")
	case specs.StateRunning:
		return "", errors.New("cannot start an already running container")
	case StatePaused:
		return "", errors.New("cannot start a container in the paused state")
	}
	to := c.store.path(execFifoStarting)
	if err := os.Rename(c.store.path(syncmsg.ExecFifo), to); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("cannot start container %s: another start is under way", c.ID)
		}
		return "", err
	}
	return to, nil
}

// readBack reads what is left in the fifo at path once its last reader has gone: the write end
// start holds keeps the pipe, and its contents, alive.
func readBack(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, syncmsg.MaxStartFailure+1)
	n, err := unix.Read(fd, buf)
	if errors.Is(err, unix.EAGAIN) { // empty, the write end open: the init exec'd
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return buf[:n], nil
}

// waitExec waits until the init has exec'd or died: no reader is left on the fifo (fd). The
// init runs the startContainer hooks first, so the wait is bounded by startWait plus their
// timeouts, or not at all when one has none: a hook may then run as long as it likes
// (runtime-spec config.md#posix-platform-hooks).
func (c *Container) waitExec(fd int) error {
	limit, bounded := startWait, true
	if h := c.state.Hooks; h != nil {
		for _, hook := range h.StartContainer {
			if hook.Timeout == nil {
				bounded = false
				break
			}
			limit += time.Duration(*hook.Timeout) * time.Second
		}
	}
	deadline := time.Now().Add(limit)
	pfd := []unix.PollFd{{Fd: int32(fd)}} // no events asked: POLLERR and POLLHUP come anyway
	for {
		if bounded && time.Now().After(deadline) {
			return fmt.Errorf("start: the init of container %s (pid %d) neither exec'd nor exited within %v of being told to start", c.ID, c.state.InitPid, limit)
		}
		n, err := unix.Poll(pfd, 1000)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return os.NewSyscallError("poll", err)
		}
		if n > 0 {
			return nil
		}
	}
}

// hookFailed stops and destroys a container whose startContainer or poststart hook failed, and
// runs the poststop hooks: the lifecycle goes on at its step 12 (runtime-spec 1.3, runtime.md
// #lifecycle, steps 7 and 9). It returns err.
func (c *Container) hookFailed(err error) error {
	if derr := c.destroy(); derr != nil {
		return errors.Join(err, derr)
	}
	c.poststop()
	return err
}

// waitFirstRun waits, at most 10 ms, until the just-exec'd container process has run: it is no
// longer runnable or in uninterruptible sleep (blocked, or exited). Poststart hooks then observe
// a process that has started, not one still in execve's wake on a busy CPU (runtime.md,
// lifecycle steps 8 and 9; the conformance suite checks the process acted before the hook).
func waitFirstRun(pid int, startTime uint64) {
	deadline := time.Now().Add(10 * time.Millisecond)
	for time.Now().Before(deadline) {
		st, err := proc.ReadStat(pid)
		if err != nil || st.StartTime != startTime || (st.State != 'R' && st.State != 'D') {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// ownerOf names the user owning a state directory, as runc's list shows it; names holds the
// names already looked up, by uid.
func ownerOf(dir string, names map[uint32]string) string {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return ""
	}
	if name, ok := names[st.Uid]; ok {
		return name
	}
	name := fmt.Sprint(st.Uid)
	if u, err := user.LookupUid(int(st.Uid)); err == nil {
		name = u.Name
	}
	names[st.Uid] = name
	return name
}

// topMountID is the id of the topmost mount on path (0 when path is no mount point). Mounts
// stacked on one mount point form a chain of parents; the top is the one no other names.
func topMountID(path string) (int, error) {
	// Not mountinfo.SingleEntryFilter: it stops at the first (bottom) mount of the stack.
	mounts, err := mountinfo.GetMounts(func(m *mountinfo.Info) (skip, stop bool) {
		return m.Mountpoint != path, false
	})
	if err != nil {
		return 0, fmt.Errorf("read mounts on %s: %w", path, err)
	}
	parents := map[int]bool{}
	for _, m := range mounts {
		parents[m.Parent] = true
	}
	for _, m := range mounts {
		if !parents[m.ID] {
			return m.ID, nil
		}
	}
	return 0, nil
}

// InitPidfd returns a pidfd of the container's init, checked against its start time so a
// reused pid is never handed out (runc's --pidfd-socket). The caller closes it.
func (c *Container) InitPidfd() (*os.File, error) {
	fd, err := proc.PidfdFor(c.state.InitPid, c.state.InitStartTime)
	if errors.Is(err, unix.ESRCH) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", c.state.InitPid)), nil
}

package libnebulon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cyphar/filepath-securejoin/pathrs-lite/procfs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
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

// Create makes a container from a bundle and leaves it "created", locked until Close: namespaces
// and root filesystem ready, its init waiting for Start. On failure what it made is removed: the
// init, the cgroups it made (not their parents), the state directory; mounts live in the init's
// mount namespace and go with it.
func Create(root, id string, opts CreateOpts) (_ *Container, retErr error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	bundle, spec, err := LoadBundle(opts.Bundle)
	if err != nil {
		return nil, err
	}
	spec.Process.Env = append(spec.Process.Env, opts.ExtraEnv...)
	if err := checkApplicable(spec); err != nil {
		return nil, err
	}
	rootfsPath, err := resolvePaths(bundle, spec)
	if err != nil {
		return nil, err
	}
	sock, keep, err := terminalSocket(spec.Process.Terminal, opts.Foreground, opts.ConsoleSocket)
	if err != nil {
		return nil, err
	}
	if sock != nil {
		defer sock.Close()
	}
	if keep != nil {
		defer keep.Close()
	}
	boot, err := bootstrapData(spec)
	if err != nil {
		return nil, err
	}
	filter, err := compileSeccomp(spec.Linux.Seccomp)
	if err != nil {
		return nil, err
	}
	cg, err := cgroups.New(spec.Linux.CgroupsPath, id)
	if err != nil {
		return nil, fieldErr("linux.cgroupsPath", "%v", err)
	}

	st, err := createStore(root, id)
	if err != nil {
		return nil, err
	}
	c := &Container{ID: id, store: st, state: &State{
		ID: id, Bundle: bundle, Rootfs: rootfsPath, Created: time.Now().UTC(),
		Annotations: spec.Annotations, Hooks: spec.Hooks, Creating: true,
		CgroupPaths: cg.Paths(), HostMounts: !hasNamespace(spec.Linux, specs.MountNamespace),
	}}
	defer func() {
		if retErr != nil {
			c.abortCreate(retErr)
		}
	}()
	if c.state.HostMounts {
		if c.state.RootfsMountID, err = topMountID(rootfsPath); err != nil {
			return nil, err
		}
	}
	// Saved before anything is made, and again once the init exists: if this process is
	// killed part way, delete still finds the container, as stopped, and removes what it made.
	if err := st.save(c.state); err != nil {
		return nil, err
	}
	p := &initProcess{c: c, spec: spec, cg: cg, boot: boot, opts: opts, console: sock, seccomp: filter}
	if err := p.start(); err != nil {
		return nil, err
	}
	if keep != nil {
		// Sent before the init reported ready, and the init has closed its end: no wait.
		if c.console, err = RecvConsole(keep); err != nil {
			return nil, err
		}
	}
	c.state.Creating = false
	if err := st.save(c.state); err != nil {
		return nil, err
	}
	if opts.PidFile != "" {
		if err := WritePidFile(opts.PidFile, c.state.InitPid); err != nil {
			return nil, err
		}
	}
	return c, nil
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
		return "", fieldErr("root.path", "%s is not a directory", rootfs)
	}
	for i := range spec.Mounts {
		m := &spec.Mounts[i]
		if isBind(m.Options) && !filepath.IsAbs(m.Source) {
			m.Source = filepath.Join(bundle, m.Source)
		}
	}
	return rootfs, nil
}

// abortCreate removes what a failed create made and releases its lock. A failed hook stops the
// container and the lifecycle goes on to poststop (runtime.md#lifecycle, steps 3-5); other
// failures never made a container.
func (c *Container) abortCreate(err error) {
	c.destroy()
	c.store.unlock()
	var hookErr *HookError
	if h := c.state.Hooks; errors.As(err, &hookErr) && h != nil {
		runHooksWarn("poststop", h.Poststop, hookState(c.ID, c.state.Bundle, 0, specs.StateStopped, c.state.Annotations))
	}
}

// bootstrapData is what the C stage needs: namespaces to create and to join, time offsets. A new
// cgroup namespace is left to the init, which unshares it once it is in the container's cgroups:
// a cgroup namespace is rooted at the cgroup its creator was in.
func bootstrapData(s *specs.Spec) (*syncmsg.Bootstrap, error) {
	b := &syncmsg.Bootstrap{}
	for i, ns := range s.Linux.Namespaces {
		flag := NamespaceFlags[ns.Type]
		if ns.Path == "" {
			if ns.Type != specs.CgroupNamespace {
				b.CloneFlags |= flag
			}
			continue
		}
		field := fmt.Sprintf("linux.namespaces[%d].path", i)
		if err := checkNamespacePath(ns.Path, flag); err != nil {
			return nil, fieldErr(field, "%s namespace %s: %v", ns.Type, ns.Path, err)
		}
		if err := checkNotHostSettings(s, ns); err != nil {
			return nil, fieldErr(field, "%v", err)
		}
		b.Join = append(b.Join, syncmsg.NsJoin{Flag: flag, Path: ns.Path})
	}
	var offsets []string
	for _, clock := range []string{"boottime", "monotonic"} { // a fixed order: deterministic
		if off, ok := s.Linux.TimeOffsets[clock]; ok {
			offsets = append(offsets, fmt.Sprintf("%s %d %d", clock, off.Secs, off.Nanosecs))
		}
	}
	b.TimeOffsets = strings.Join(offsets, "\n")
	return b, nil
}

// hostNamespaceFile names the runtime's own namespace of each type that a config could change
// the host through: sysctls (ipc, network), names (uts), and the root itself (mount).
var hostNamespaceFile = map[specs.LinuxNamespaceType]string{
	specs.NetworkNamespace: "/proc/self/ns/net", specs.IPCNamespace: "/proc/self/ns/ipc",
	specs.UTSNamespace: "/proc/self/ns/uts", specs.MountNamespace: "/proc/self/ns/mnt",
}

// checkNotHostSettings refuses joining the runtime's own mount namespace, and sysctls, hostname
// and domainname that would be applied to a joined namespace that is the runtime's own: they
// would change the host (runc does the same for net.*).
func checkNotHostSettings(s *specs.Spec, ns specs.LinuxNamespace) error {
	hostFile, ok := hostNamespaceFile[ns.Type]
	if !ok {
		return nil
	}
	var joined, host unix.Stat_t
	if unix.Stat(ns.Path, &joined) != nil || unix.Stat(hostFile, &host) != nil ||
		joined.Ino != host.Ino || joined.Dev != host.Dev {
		return nil
	}
	if ns.Type == specs.MountNamespace {
		// pivot_root there would move the root of every process on the host (pivot_root(2)).
		return fmt.Errorf("%s is the host's mount namespace: the root filesystem cannot be set up in it", ns.Path)
	}
	if ns.Type == specs.UTSNamespace && (s.Hostname != "" || s.Domainname != "") {
		return fmt.Errorf("%s is the host's uts namespace: hostname and domainname would rename the host", ns.Path)
	}
	for key := range s.Linux.Sysctl {
		if sysctlNamespace(key) == ns.Type {
			return fmt.Errorf("%s is the host's %s namespace: sysctl %s would change the host", ns.Path, ns.Type, key)
		}
	}
	return nil
}

// checkNamespacePath opens a namespace file and checks its type (ioctl_ns(2), NS_GET_NSTYPE),
// so a wrong path is a clear error before anything is made.
func checkNamespacePath(path string, flag uint32) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil {
		return fmt.Errorf("not a namespace file: %w", err)
	}
	if uint32(t) != flag {
		return fmt.Errorf("is a namespace of another type")
	}
	return nil
}

// initProcess is the parent's side of starting a container's init.
type initProcess struct {
	c    *Container
	spec *specs.Spec
	cg   cgroups.Manager
	boot *syncmsg.Bootstrap
	opts CreateOpts
	// cgMemory: the init's cgroup fds end with the memory pair (syncmsg.InitConfig.CgroupMemory).
	cgMemory bool
	joinLate bool // see lateV2Join
	exec     bool // the stage0 of an exec'd process, not of a container's init (execInit)
	// console is the socket the init sends its pty master to (process.terminal), or nil.
	console *os.File
	seccomp *seccomp.Filter // linux.seccomp, compiled; nil without a filter
}

// lateJoinBelow is the memory limit under which a cgroup v2 init joins its cgroup late.
const lateJoinBelow = 16 << 20

// lateV2Join reports whether the init should be moved into its cgroup v2 cgroup once its Go
// runtime is up, rather than be born there (CLONE_INTO_CGROUP).
//
// On v2 a page is charged to the cgroup its process is in when the page is first touched, and
// the charge stays there. An init born in the cgroup has its namespaces, its Go runtime and its
// setup charged to the container: about 3 MiB, which a small memory limit cannot hold (v1 does
// without, see cgroups.Entry). Moving a running process costs an RCU grace period (several ms),
// so only containers whose memory limit is small pay it: with a 16 MiB limit or more, the
// runtime's share is noise, and starting fast matters more.
func lateV2Join(s *specs.Spec) bool {
	if cgroups.DetectMode() != cgroups.Unified || s.Linux.Resources == nil || s.Linux.Resources.Memory == nil {
		return false
	}
	l := s.Linux.Resources.Memory.Limit
	return l != nil && *l > 0 && *l < lateJoinBelow
}

func (p *initProcess) start() error {
	entry, err := p.prepareCgroups()
	if err != nil {
		return err
	}
	defer entry.Close()
	st := p.c.store
	fifo, status, err := makeFifos(st)
	if err != nil {
		return err
	}
	defer fifo.Close()
	defer status.Close()
	slog.Debug("starting init", "id", p.c.ID)
	p.joinLate = lateV2Join(p.spec)
	conn, pid, err := p.launch(entry, fifo, status)
	if err != nil {
		return err
	}
	defer conn.Close()
	slog.Debug("namespaces ready", "id", p.c.ID, "pid", pid)
	p.cgMemory = entry.Memory
	return p.configure(conn, pid)
}

// launch starts stage0 with the sync socket, the files given and the cgroup fds, runs the
// bootstrap (steps 1-5) and reaps stage0. It returns the parent's end of the socket and the
// pid of the process stage0 forked (a container's init, or an exec'd process's), which is
// killed if anything failed.
func (p *initProcess) launch(entry *cgroups.Entry, files ...*os.File) (*syncmsg.Conn, int, error) {
	parent, child, err := syncmsg.Pair()
	if err != nil {
		return nil, 0, err
	}
	conn := syncmsg.NewConn(parent)
	cgFds := entry.Tasks
	if entry.Memory {
		cgFds = append(cgFds, entry.MemoryHome)
	}
	if p.console != nil {
		files = append(files, p.console) // last before the cgroup fds: see initCmd
	}
	v2dir := entry.V2Dir
	if p.joinLate {
		v2dir = nil
	}
	s0, err := p.spawn(append(append([]*os.File{child}, files...), cgFds...), len(cgFds), v2dir)
	child.Close()
	if err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("start nsexec stage: %w", err)
	}
	pid, err := p.bootstrap(s0.pid, conn)
	if err != nil {
		// Stage0 may be waiting for a message from us: closing the socket ends its recv.
		conn.Close()
	}
	// Stage0 exits after reporting the pid, or on its own error; reap it either way.
	if werr := s0.wait(); err == nil && werr != nil {
		conn.Close()
		err = fmt.Errorf("nsexec stage: %w", werr)
	}
	if err != nil {
		if pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
		}
		return nil, 0, err
	}
	return conn, pid, nil
}

// prepareCgroups makes the container's cgroups (saving which it made, for delete), applies the
// limits, and opens what puts the init in them (see cgroups.Manager.Entry).
func (p *initProcess) prepareCgroups() (*cgroups.Entry, error) {
	made, err := p.cg.Create()
	p.c.state.CgroupMade = made
	if err == nil && len(made) > 0 {
		err = p.c.store.save(p.c.state)
	}
	if err != nil {
		return nil, err
	}
	if err := p.cg.Set(cgroupResources(p.spec)); err != nil {
		var re *cgroups.ResourceError
		if errors.As(err, &re) {
			return nil, fieldErr("linux.resources."+re.Field, "%v", re.Err)
		}
		return nil, fmt.Errorf("linux.resources: %w", err)
	}
	return p.cg.Entry()
}

// stage0 is the nsexec stage's process. It is started with syscall.StartProcess, not os/exec:
// the os package's first start of a process probes pidfd support by forking a throwaway child,
// a cost on every create and exec for a process that is only ever waited for once.
type stage0 struct{ pid int }

// wait reaps stage0; anything but exit status 0 is an error.
func (s stage0) wait() error {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(s.pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("wait4", err)
		}
		break
	}
	switch {
	case ws.Signaled():
		return fmt.Errorf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	case ws.ExitStatus() != 0:
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	}
	return nil
}

// spawn starts stage0 in the v2 cgroup (when there is one) with clone3 CLONE_INTO_CGROUP.
// Kernels before 5.7 lack it: then stage0 starts outside and is migrated, before it does
// anything, the slower way.
func (p *initProcess) spawn(extra []*os.File, ncg int, v2dir *os.File) (stage0, error) {
	exe, err := readonlyExe()
	if err != nil {
		return stage0{}, err
	}
	defer exe.Close()
	s, err := p.startStage0(exe, extra, ncg, v2dir)
	if !errors.Is(err, unix.ENOSYS) || v2dir == nil {
		return s, err
	}
	if s, err = p.startStage0(exe, extra, ncg, nil); err != nil {
		return s, err
	}
	if err := p.cg.EnterV2(s.pid); err != nil {
		unix.Kill(s.pid, unix.SIGKILL)
		s.wait()
		return stage0{}, err
	}
	return s, nil
}

// startStage0 starts stage0 from exe (readonlyExe): extra are its fds after stdio and the
// preserved ones (the sync socket, the fifos, the console socket, then ncg v1 cgroup tasks
// files); v2dir, when not nil, is the cgroup v2 directory it is born in.
func (p *initProcess) startStage0(exe *os.File, extra []*os.File, ncg int, v2dir *os.File) (stage0, error) {
	files := []uintptr{
		orDefault(p.opts.Stdin, os.Stdin).Fd(),
		orDefault(p.opts.Stdout, os.Stdout).Fd(),
		orDefault(p.opts.Stderr, os.Stderr).Fd(),
	}
	for i := 0; i < p.opts.PreserveFds; i++ {
		files = append(files, uintptr(3+i))
	}
	base := 3 + p.opts.PreserveFds
	for _, f := range extra {
		files = append(files, f.Fd())
	}
	env := []string{
		syncmsg.EnvInitPipe + "=" + strconv.Itoa(base),
		syncmsg.EnvCgroupFds + "=" + strconv.Itoa(ncg),
		// The init runs one thing at a time; fewer Ps mean fewer threads for execve to kill.
		"GOMAXPROCS=1",
	}
	if p.exec {
		env = append(env, syncmsg.EnvExec+"=1")
	} else {
		env = append(env, syncmsg.EnvFifoFd+"="+strconv.Itoa(base+1), syncmsg.EnvStatusFd+"="+strconv.Itoa(base+2))
	}
	if p.joinLate {
		env = append(env, syncmsg.EnvJoinLate+"=1")
	}
	if p.console != nil {
		env = append(env, syncmsg.EnvConsoleFd+"="+strconv.Itoa(base+len(extra)-ncg-1))
	}
	sys := &syscall.SysProcAttr{}
	if v2dir != nil {
		sys.UseCgroupFD, sys.CgroupFD = true, int(v2dir.Fd())
	}
	// The child execs /proc/self/fd/N after moving the files into place: N must be above every
	// fd that fork shuffles them through, which start above both len(files) and the largest of
	// them (syscall's forkAndExecInChild).
	top := len(files)
	for _, f := range files {
		top = max(top, int(f))
	}
	fd, err := unix.FcntlInt(exe.Fd(), unix.F_DUPFD_CLOEXEC, top+len(files)+2)
	if err != nil {
		return stage0{}, os.NewSyscallError("fcntl(F_DUPFD_CLOEXEC)", err)
	}
	defer unix.Close(fd)
	path := fmt.Sprintf("/proc/self/fd/%d", fd)
	pid, err := syscall.ForkExec(path, []string{"nebulon:[0:PARENT]", "init"},
		&syscall.ProcAttr{Env: env, Files: files, Sys: sys})
	runtime.KeepAlive(extra)
	if err != nil {
		return stage0{}, &os.PathError{Op: "fork/exec", Path: "/proc/self/exe (read-only)", Err: err}
	}
	return stage0{pid: pid}, nil
}

func orDefault(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

// makeFifos makes exec.fifo and exec.status and opens them read-write, which never blocks; the
// init keeps these fds (see Start).
func makeFifos(st *store) (fifo, status *os.File, err error) {
	for _, name := range []string{syncmsg.ExecFifo, syncmsg.ExecStatus} {
		if err := unix.Mkfifo(st.path(name), 0o600); err != nil {
			return nil, nil, &os.PathError{Op: "mkfifo", Path: st.path(name), Err: err}
		}
	}
	if fifo, err = os.OpenFile(st.path(syncmsg.ExecFifo), os.O_RDWR, 0); err != nil {
		return nil, nil, err
	}
	if status, err = os.OpenFile(st.path(syncmsg.ExecStatus), os.O_RDWR, 0); err != nil {
		fifo.Close()
		return nil, nil, err
	}
	return fifo, status, nil
}

// bootstrap runs steps 1-4 of the sync protocol with stage0 and returns the init's pid.
func (p *initProcess) bootstrap(stage0 int, conn *syncmsg.Conn) (int, error) {
	if adj := p.spec.Process.OOMScoreAdj; adj != nil {
		// Inherited by the init; written here, by the parent, because lowering it needs privilege.
		if err := writeOOMScoreAdj(stage0, *adj); err != nil {
			return 0, fmt.Errorf("process.oomScoreAdj %d: %w", *adj, err)
		}
	}
	if err := conn.Send(p.boot); err != nil {
		return 0, err
	}
	for {
		m, err := conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			return 0, errors.New("container init exited during namespace setup")
		}
		if err != nil {
			return 0, err
		}
		switch m := m.(type) {
		case *syncmsg.UserMap:
			if err := writeIDMaps(stage0, p.spec.Linux); err != nil {
				return 0, err
			}
			if err := conn.Send(&syncmsg.UserMapDone{}); err != nil {
				return 0, err
			}
		case *syncmsg.Pid:
			return p.checkInit(conn, stage0, m.Pid())
		case *syncmsg.Error:
			return 0, m
		default:
			return 0, fmt.Errorf("sync: unexpected %s from nsexec stage", m)
		}
	}
}

// checkInit reads the init's start time while stage0, its parent, still waits for PidAck: then
// the pid cannot have been reused, and the start time saved with it identifies the init for good.
func (p *initProcess) checkInit(conn *syncmsg.Conn, stage0, pid int) (int, error) {
	ps, err := readProcStat(pid)
	if err != nil {
		return 0, fmt.Errorf("container init %d exited: %w", pid, err)
	}
	if ps.PPid != stage0 {
		return 0, fmt.Errorf("container init %d is not the child of nsexec stage %d", pid, stage0)
	}
	if !p.exec {
		p.c.state.InitPid, p.c.state.InitStartTime = pid, ps.StartTime
	}
	return pid, conn.Send(&syncmsg.PidAck{})
}

func writeIDMaps(pid int, l *specs.Linux) error {
	for file, maps := range map[string][]specs.LinuxIDMapping{"uid_map": l.UIDMappings, "gid_map": l.GIDMappings} {
		var b strings.Builder
		for _, m := range maps {
			fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		path := fmt.Sprintf("/proc/%d/%s", pid, file)
		if err := os.WriteFile(path, []byte(b.String()), 0); err != nil {
			return fmt.Errorf("linux.%s: write %q: %w", map[string]string{"uid_map": "uidMappings", "gid_map": "gidMappings"}[file], b.String(), err)
		}
	}
	return nil
}

// configure runs steps 5-8: sends the init its config, runs prestart and createRuntime hooks
// when it reaches them, and waits until it is ready.
func (p *initProcess) configure(conn *syncmsg.Conn, pid int) error {
	c := p.c
	// Saved now so that a failed or killed create can be cleaned up, init included.
	if err := c.store.save(c.state); err != nil {
		return err
	}
	if err := c.store.saveSpec(p.spec); err != nil {
		return err
	}
	if err := c.store.saveSeccomp(p.seccomp); err != nil {
		return err
	}
	cfg, err := p.initConfig(pid)
	if err != nil {
		return err
	}
	if p.joinLate {
		if _, err := syncmsg.Expect[*syncmsg.JoinCgroup](conn); err != nil {
			return err
		}
		if err := p.cg.EnterV2(pid); err != nil {
			return err
		}
	}
	if err := conn.Send(cfg); err != nil {
		return err
	}
	for {
		m, err := conn.Recv()
		if errors.Is(err, syncmsg.ErrClosed) {
			if p.seccomp != nil {
				// Once loaded, the filter applies to the init too: a deny of write, capset or
				// the like ends it before it can say so.
				return errors.New("container init exited before it was ready, after loading linux.seccomp: does the filter deny a syscall the init makes before exec (write, capset, setresuid, execve)?")
			}
			return errors.New("container init exited before it was ready")
		}
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *syncmsg.SeccompFd:
			if err := p.passSeccompFd(conn, m, pid, specs.StateCreating); err != nil {
				return err
			}
		case *syncmsg.Hooks:
			if err := p.runCreateHooks(pid); err != nil {
				return err
			}
			if err := conn.Send(&syncmsg.HooksDone{}); err != nil {
				return err
			}
		case *syncmsg.Log:
			logFromInit(m)
		case *syncmsg.Ready:
			slog.Debug("init ready", "id", p.c.ID)
			return nil
		case *syncmsg.Error:
			return m
		case *syncmsg.HookError:
			return &HookError{m}
		default:
			return fmt.Errorf("sync: unexpected %s from init", m)
		}
	}
}

// initConfig is what the init needs (syncmsg.InitConfig).
func (p *initProcess) initConfig(pid int) (*syncmsg.InitConfig, error) {
	c := p.c
	// The init has no use for linux.resources (cgroups are the parent's), and every struct type
	// in its input costs it reflection work on first decode.
	initSpec := *p.spec
	linux := *p.spec.Linux
	linux.Resources = nil
	linux.Seccomp = nil // compiled: syncmsg.InitConfig.Seccomp
	initSpec.Linux = &linux
	cfg := &syncmsg.InitConfig{
		ID: c.ID, Bundle: c.state.Bundle, Rootfs: c.state.Rootfs, Spec: &initSpec,
		NoPivot: p.opts.NoPivot, NoNewKeyring: p.opts.NoNewKeyring, PreserveFds: p.opts.PreserveFds,
		InitPid: pid, CgroupPaths: c.state.CgroupPaths,
		CgroupNS: newNamespace(p.spec.Linux, specs.CgroupNamespace), CgroupMemory: p.cgMemory,
		UserNS:  hasNamespace(p.spec.Linux, specs.UserNamespace),
		MountNS: hasNamespace(p.spec.Linux, specs.MountNamespace),
		Seccomp: p.seccomp,
	}
	if cgroups.DetectMode() != cgroups.Unified && hasCgroupMount(p.spec) {
		var err error
		if cfg.CgroupHierarchies, err = cgroups.V1Hierarchies(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

func (p *initProcess) runCreateHooks(pid int) error {
	h := p.spec.Hooks
	st := hookState(p.c.ID, p.c.state.Bundle, pid, specs.StateCreating, p.spec.Annotations)
	//nolint:staticcheck // Prestart is deprecated but still honoured, before createRuntime.
	if err := runHooks("prestart", h.Prestart, st); err != nil {
		return err
	}
	return runHooks("createRuntime", h.CreateRuntime, st)
}

func hasNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	for _, ns := range l.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

func hasCgroupMount(s *specs.Spec) bool {
	for _, m := range s.Mounts {
		if m.Type == "cgroup" {
			return true
		}
	}
	return false
}

// writeOOMScoreAdj writes /proc/<pid>/oom_score_adj through a verified procfs handle.
func writeOOMScoreAdj(pid, adj int) error {
	proc, err := procfs.OpenProcRoot()
	if err != nil {
		return err
	}
	defer proc.Close()
	h, err := proc.OpenPid(pid, "oom_score_adj")
	if err != nil {
		return err
	}
	defer h.Close()
	return writeProc(h, strconv.Itoa(adj))
}

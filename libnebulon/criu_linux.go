package libnebulon

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/checkpoint-restore/go-criu/v8"
	criurpc "github.com/checkpoint-restore/go-criu/v8/rpc"
	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/systemd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/hooks"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/mountopt"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/rootfs"
)

// Checkpoint and restore go through CRIU's RPC interface (`criu swrk`, criu.org/RPC), as runc's
// do (libcontainer/criu_linux.go): the options, the external mounts and namespaces, the image
// directory's descriptors.json and the notifications are runc's, so images move between the two.

// CriuOpts are checkpoint's and restore's options, as runc names them.
type CriuOpts struct {
	ImagesDirectory string // --image-path
	WorkDirectory   string // --work-path: CRIU's logs and work files; the image directory if empty
	ParentImage     string // --parent-path: a pre-dump's images, relative to ImagesDirectory
	LeaveRunning    bool
	TCPEstablished  bool
	TCPSkipInFlight bool
	LinkRemap       bool
	ExtUnixSk       bool
	ShellJob        bool
	FileLocks       bool
	PreDump         bool
	AutoDedup       bool
	LazyPages       bool
	// StatusFd is a descriptor of the caller's to which a \0 is written once the lazy-pages
	// page server is ready; -1 for none.
	StatusFd int
	// PageServer is "ADDRESS:PORT" of a page server to send memory pages to, or "".
	PageServer        string
	ManageCgroupsMode string // soft, full, strict, ignore; "" for CRIU's default
	// EmptyNs are the namespace types restored empty: network always (the runtime does not
	// manage network devices), and those of --empty-ns.
	EmptyNs []specs.LinuxNamespaceType
	// LsmProfile is restore's --lsm-profile, TYPE:NAME (apparmor:NAME or selinux:LABEL): the
	// LSM profile of the restored processes instead of the checkpointed one; "" for that.
	LsmProfile string
	// LsmMountContext is restore's --lsm-mount-context: the SELinux context=... of the
	// restored mounts instead of the checkpointed one; "" for that.
	LsmMountContext string
}

const (
	// descriptorsFile holds what the init's stdio were at checkpoint (runc's name and format:
	// a JSON list of /proc/PID/fd/N link targets), so that restore hands pipes back.
	descriptorsFile = "descriptors.json"
	// criuConfigAnnotation names a CRIU configuration file for the container, or "" for none.
	criuConfigAnnotation = "org.criu.config"
	// defaultCriuConfig is the configuration file CRIU reads otherwise. runc's, on purpose:
	// a host set up for runc's checkpoints (network-lock, tcp-close...) works the same with
	// nebulon.
	defaultCriuConfig = "/etc/criu/runc.conf"
	// criuTimeout bounds CRIU's silence in one run (a dump, a restore, a version or feature
	// query): the wait for its next notification or its answer. A long dump that reports its
	// steps goes on; a stuck one ends, and with it the container lock checkpoint holds.
	criuTimeout = 10 * time.Minute
	// criuExitWait bounds the wait for criu's exit once it has answered.
	criuExitWait = 30 * time.Second
)

// criuPath is the CRIU binary: criu from PATH, as runc 1.2 on uses.
var criuPath = "criu"

// criuVersion asks CRIU for its version (major*10000 + minor*100 + sublevel).
func criuVersion() (int, error) {
	path, err := exec.LookPath(criuPath)
	if err != nil {
		return 0, fmt.Errorf("checkpoint/restore needs CRIU (criu.org), and %w", err)
	}
	c := criu.MakeCriu()
	c.SetCriuPath(path)
	v, err := c.GetCriuVersion()
	if err != nil {
		return 0, fmt.Errorf("CRIU version check failed (is `criu check` happy on this kernel?): %w", err)
	}
	if v < 30000 {
		return 0, fmt.Errorf("CRIU %d found; checkpoint/restore needs CRIU 3.0 or newer", v)
	}
	return v, nil
}

// cgMode maps --manage-cgroups-mode to CRIU's mode.
func cgMode(mode string) (criurpc.CriuCgMode, error) {
	switch mode {
	case "":
		return criurpc.CriuCgMode_DEFAULT, nil
	case "soft":
		return criurpc.CriuCgMode_SOFT, nil
	case "full":
		return criurpc.CriuCgMode_FULL, nil
	case "strict":
		return criurpc.CriuCgMode_STRICT, nil
	case "ignore":
		return criurpc.CriuCgMode_IGNORE, nil
	}
	return 0, fmt.Errorf("--manage-cgroups-mode %q: want soft, full, strict or ignore", mode)
}

// emptyNsMask is EmptyNs as clone flags, network always in it.
func emptyNsMask(types []specs.LinuxNamespaceType) (uint32, error) {
	mask := uint32(unix.CLONE_NEWNET)
	for _, t := range types {
		// runc takes network alone: only a network namespace can be made empty and set up
		// afterwards by someone else (a CNI plugin, say).
		if t != specs.NetworkNamespace {
			return 0, fmt.Errorf("--empty-ns %q: only network is supported", t)
		}
	}
	return mask, nil
}

// baseOpts are the CRIU options checkpoint and restore share.
func baseOpts(o *CriuOpts, logFile string) (*criurpc.CriuOpts, error) {
	mode, err := cgMode(o.ManageCgroupsMode)
	if err != nil {
		return nil, err
	}
	empty, err := emptyNsMask(o.EmptyNs)
	if err != nil {
		return nil, err
	}
	return &criurpc.CriuOpts{
		LogLevel:          new(int32(4)),
		LogFile:           new(logFile),
		ManageCgroups:     new(true), // superseded by ManageCgroupsMode; old CRIUs read this
		ManageCgroupsMode: &mode,
		NotifyScripts:     new(true),
		ShellJob:          new(o.ShellJob),
		TcpEstablished:    new(o.TCPEstablished),
		ExtUnixSk:         new(o.ExtUnixSk),
		FileLocks:         new(o.FileLocks),
		EmptyNs:           new(empty),
		OrphanPtsMaster:   new(true),
		AutoDedup:         new(o.AutoDedup),
		LazyPages:         new(o.LazyPages),
	}, nil
}

// setConfigFile names the CRIU configuration file: the org.criu.config annotation's ("" for
// none), else runc's default.
func setConfigFile(opts *criurpc.CriuOpts, annotations map[string]string) {
	file, ok := annotations[criuConfigAnnotation]
	if !ok {
		file = defaultCriuConfig
	}
	if file != "" {
		opts.ConfigFile = new(file)
	}
}

// addExtMount adds an external mount: key is the mount's name in the images, val its path (at
// dump, the mount point; at restore, what to bind there). field is the spec's field the mount
// comes from, for the error.
func addExtMount(opts *criurpc.CriuOpts, field, key, val string) error {
	// CRIU before 4.3.1 keeps these as "mnt[KEY]:VAL" unescaped: a key with "]:" would end the
	// key early and let a restore bind a host path of the image's choosing; an empty key asks
	// CRIU to detect external mounts itself.
	if key == "" || strings.Contains(key, "]:") {
		return linuxspec.Errorf(field, "%q: CRIU cannot take it as an external mount (it is empty or holds \"]:\")", key)
	}
	opts.ExtMnt = append(opts.ExtMnt, &criurpc.ExtMountMap{Key: new(key), Val: new(val)})
	return nil
}

// mountDest is a mount's destination with the symlinks in the rootfs resolved, as the init
// resolved them when it mounted it.
func mountDest(rootfs, dest string) string {
	if p, err := securejoin.SecureJoin(rootfs, dest); err == nil {
		return p[len(rootfs):]
	}
	return dest
}

// isBind tells a bind mount of the spec.
func isBind(m specs.Mount) bool {
	return m.Type == "bind" || mountopt.IsBind(m.Options)
}

// extMounts lists the mounts CRIU must take as external, name first: the bind mounts, the device
// nodes, and (at dump) the masked files, which are binds of /dev/null. A masked path that is a
// directory is a tmpfs, which CRIU dumps; maskedFile says whether a masked path is a file in the
// container.
//
// The cgroup mount is binds of the container's cgroup directories (cgroupPaths) where the
// container has no cgroup namespace, and on v1 hosts the v2 hierarchy's always (cgroupBinds):
// those are external too, bound at restore from the new container's cgroups.
func extMounts(opts *criurpc.CriuOpts, spec *specs.Spec, rootfsPath string, cgroupPaths map[string]string, dump bool, maskedFile func(string) (bool, error)) error {
	cgroupNS := linuxspec.HasNamespace(spec.Linux, specs.CgroupNamespace)
	for i, m := range spec.Mounts {
		var binds [][2]string // destination, source
		switch {
		case isBind(m):
			binds = [][2]string{{m.Destination, m.Source}}
		case m.Type == "cgroup":
			binds = cgroupBinds(cgroups.DetectMode(), v1Hierarchies(), m.Destination, cgroupNS, cgroupPaths)
		}
		for _, b := range binds {
			dest := mountDest(rootfsPath, b[0])
			val := b[1]
			if dump {
				val = dest
			}
			if err := addExtMount(opts, fmt.Sprintf("mounts[%d].destination", i), dest, val); err != nil {
				return err
			}
		}
	}
	if dump {
		for _, p := range spec.Linux.MaskedPaths {
			file, err := maskedFile(p)
			if err != nil {
				return fmt.Errorf("linux.maskedPaths %s: %w", p, err)
			}
			if file {
				if err := addExtMount(opts, "linux.maskedPaths", p, "/dev/null"); err != nil {
					return err
				}
			}
		}
	} else if len(spec.Linux.MaskedPaths) > 0 {
		if err := addExtMount(opts, "linux.maskedPaths", "/dev/null", "/dev/null"); err != nil {
			return err
		}
	}
	for _, d := range rootfs.Devices(spec) {
		dest := mountDest(rootfsPath, d.Path)
		val := dest
		if !dump {
			val = d.Path
		}
		if err := addExtMount(opts, "linux.devices", dest, val); err != nil {
			return err
		}
	}
	return nil
}

// v1Hierarchies lists the host's v1 hierarchies; none where it has none (or they cannot be read,
// when the create that made the container could not have either).
func v1Hierarchies() []cgroups.Hierarchy {
	if cgroups.DetectMode() == cgroups.Unified {
		return nil
	}
	h, _ := cgroups.V1Hierarchies()
	return h
}

// cgroupBinds lists the bind mounts (destination, source) the init made for a cgroup mount at
// dest (rootfs's mountCgroup): on a v2 host its cgroup directory, unless it has a cgroup
// namespace, where cgroup2 is mounted; on v1 one per hierarchy without a cgroup namespace, and
// the v2 hierarchy of a hybrid host at unified in any case.
func cgroupBinds(mode cgroups.Mode, hierarchies []cgroups.Hierarchy, dest string, cgroupNS bool, paths map[string]string) [][2]string {
	var out [][2]string
	if mode == cgroups.Unified {
		if !cgroupNS && paths[""] != "" {
			out = append(out, [2]string{dest, paths[""]})
		}
		return out
	}
	if !cgroupNS {
		for _, h := range hierarchies {
			if p := paths[strings.Join(h.Subsystems, ",")]; p != "" {
				out = append(out, [2]string{filepath.Join(dest, filepath.Base(h.Mountpoint)), p})
			}
		}
	}
	if p := paths[""]; p != "" {
		out = append(out, [2]string{filepath.Join(dest, "unified"), p})
	}
	return out
}

// extNsKey is the key under which an external namespace of type t is known to CRIU, runc's:
// extRootNetNS, extRootPidNS.
func extNsKey(t specs.LinuxNamespaceType) string {
	name := linuxspec.NamespaceFiles[t]
	return "extRoot" + strings.ToUpper(name[:1]) + name[1:] + "NS"
}

// extNsMinVersion is the CRIU that first handled an external namespace of type t, 0 for a type
// it cannot take as external.
func extNsMinVersion(t specs.LinuxNamespaceType) int {
	switch t {
	case specs.NetworkNamespace:
		return 31100
	case specs.PIDNamespace:
		return 31500
	}
	return 0
}

// dumpExternalNamespaces marks the network and pid namespaces the container joined by path as
// external ("net[INODE]:extRootNetNS"): CRIU leaves them out of the images, and restore joins
// the namespace given then.
func dumpExternalNamespaces(opts *criurpc.CriuOpts, spec *specs.Spec, version int) error {
	for _, ns := range spec.Linux.Namespaces {
		need := extNsMinVersion(ns.Type)
		if ns.Path == "" || need == 0 {
			continue
		}
		if version < need {
			return fmt.Errorf("CRIU %d cannot checkpoint a container that joined a %s namespace (needs %d)", version, ns.Type, need)
		}
		var st unix.Stat_t
		if err := unix.Stat(ns.Path, &st); err != nil {
			return linuxspec.Errorf("linux.namespaces", "%s namespace %s: %v", ns.Type, ns.Path, err)
		}
		opts.External = append(opts.External, fmt.Sprintf("%s[%d]:%s", linuxspec.NamespaceFiles[ns.Type], st.Ino, extNsKey(ns.Type)))
	}
	return nil
}

// restoreNamespaces has the restored processes join the namespaces the spec names by path: the
// network and pid ones as the external namespaces of the dump, by a descriptor CRIU inherits
// (their files are returned, for criu's descriptors 4 on: 3 is the RPC socket), the others by
// CRIU's join-ns. CRIU cannot join a cgroup namespace.
func restoreNamespaces(opts *criurpc.CriuOpts, spec *specs.Spec, version int) (files []*os.File, err error) {
	defer func() {
		if err != nil {
			closeAll(files)
			files = nil
		}
	}()
	for _, ns := range spec.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		if need := extNsMinVersion(ns.Type); need != 0 {
			if version < need {
				return files, fmt.Errorf("CRIU %d cannot restore into a %s namespace joined by path (needs %d)", version, ns.Type, need)
			}
			f, err := os.Open(ns.Path)
			if err != nil {
				return files, linuxspec.Errorf("linux.namespaces", "%s namespace to restore into: %v", ns.Type, err)
			}
			opts.InheritFd = append(opts.InheritFd, &criurpc.InheritFd{Key: new(extNsKey(ns.Type)), Fd: new(int32(4 + len(files)))})
			files = append(files, f)
			continue
		}
		if ns.Type == specs.CgroupNamespace {
			return files, linuxspec.Errorf("linux.namespaces", "CRIU cannot restore into a cgroup namespace joined by path (%s)", ns.Path)
		}
		opts.JoinNs = append(opts.JoinNs, &criurpc.JoinNamespace{Ns: new(linuxspec.NamespaceFiles[ns.Type]), NsFile: new(ns.Path)})
	}
	return files, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// parsePageServer splits --page-server's ADDRESS:PORT.
func parsePageServer(s string) (*criurpc.CriuPageServerInfo, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("--page-server %q: want ADDRESS:PORT", s)
	}
	var p int32
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p <= 0 || p > 65535 || fmt.Sprint(p) != port {
		return nil, fmt.Errorf("--page-server %q: invalid port %q", s, port)
	}
	return &criurpc.CriuPageServerInfo{Address: new(host), Port: new(p)}, nil
}

// checkStatusFd checks that fd is open for writing.
func checkStatusFd(fd int) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("--status-fd %d: %w", fd, err)
	}
	if acc := flags & unix.O_ACCMODE; acc != unix.O_WRONLY && acc != unix.O_RDWR {
		return fmt.Errorf("--status-fd %d: not open for writing", fd)
	}
	return nil
}

// Checkpoint dumps a running or paused container with CRIU into o.ImagesDirectory. Unless
// o.LeaveRunning or o.PreDump, CRIU ends the container's processes and the container is
// deleted, as runc's checkpoint does. The caller holds the container's lock (Load): no other
// command changes the container while CRIU works on it.
func (c *Container) Checkpoint(o *CriuOpts) error {
	switch st := c.Status(); st {
	case specs.StateRunning, StatePaused:
	default:
		return fmt.Errorf("container %s cannot be checkpointed in the %s state", c.ID, st)
	}
	spec, err := c.Spec()
	if err != nil {
		return err
	}
	if spec.Linux.Seccomp != nil && spec.Linux.Seccomp.ListenerPath != "" {
		return linuxspec.Errorf("linux.seccomp.listenerPath", "CRIU cannot checkpoint a process with a seccomp user notification filter")
	}
	if o.ImagesDirectory == "" {
		return errors.New("checkpoint: no image directory (--image-path)")
	}
	version, err := criuVersion()
	if err != nil {
		return err
	}
	const logFile = "dump.log"
	opts, err := baseOpts(o, logFile)
	if err != nil {
		return err
	}
	if o.PageServer != "" {
		if opts.Ps, err = parsePageServer(o.PageServer); err != nil {
			return err
		}
	}
	if o.StatusFd >= 0 {
		if !o.LazyPages {
			return errors.New("--status-fd: only with --lazy-pages (it tells when the lazy-pages server is ready)")
		}
		if err := checkStatusFd(o.StatusFd); err != nil {
			return err
		}
	}
	if err := dumpExternalNamespaces(opts, spec, version); err != nil {
		return err
	}
	t := criurpc.CriuReqType_DUMP
	if o.PreDump {
		t = criurpc.CriuReqType_PRE_DUMP
		if err := checkFeatures(&criurpc.CriuFeatures{MemTrack: new(true)}); err != nil {
			return err
		}
	} else {
		pid := c.state.InitPid
		maskedFile := func(p string) (bool, error) {
			fi, err := os.Stat(fmt.Sprintf("/proc/%d/root/%s", pid, p))
			if errors.Is(err, os.ErrNotExist) {
				return false, nil
			}
			return err == nil && !fi.IsDir(), err
		}
		if err := extMounts(opts, spec, c.state.Rootfs, c.state.CgroupPaths, true, maskedFile); err != nil {
			return err
		}
	}
	if o.LazyPages {
		if err := checkFeatures(&criurpc.CriuFeatures{LazyPages: new(true)}); err != nil {
			return err
		}
	}
	logDir := o.ImagesDirectory
	if o.WorkDirectory != "" {
		// Before the image directory is made: a bad --work-path leaves none.
		workDir, err := openWorkDir(o.WorkDirectory)
		if err != nil {
			return err
		}
		defer workDir.Close()
		opts.WorkDirFd = new(int32(workDir.Fd()))
		logDir = o.WorkDirectory
	}
	// Made once the options are known good: a refused checkpoint leaves no directory.
	if err := os.MkdirAll(o.ImagesDirectory, 0o700); err != nil {
		return fmt.Errorf("--image-path: %w", err)
	}
	imageDir, err := os.Open(o.ImagesDirectory)
	if err != nil {
		return fmt.Errorf("--image-path: %w", err)
	}
	defer imageDir.Close()
	opts.ImagesDirFd = new(int32(imageDir.Fd()))
	opts.Root = new(c.state.Rootfs)
	opts.Pid = new(int32(c.state.InitPid))
	opts.LeaveRunning = new(o.LeaveRunning)
	opts.TcpSkipInFlight = new(o.TCPSkipInFlight)
	opts.LinkRemap = new(o.LinkRemap)
	setConfigFile(opts, spec.Annotations)
	// CRIU freezes the processes with the freezer cgroup rather than with ptrace where it can
	// (v2's cgroup.freeze from CRIU 3.14).
	paths := c.state.CgroupPaths
	if dir, ok := paths["freezer"]; ok {
		opts.FreezeCgroup = new(dir)
	} else if dir, ok := paths[""]; ok && version >= 31400 && len(paths) == 1 {
		opts.FreezeCgroup = new(dir)
	}
	if o.ParentImage != "" {
		opts.ParentImg = new(o.ParentImage)
		opts.TrackMem = new(true)
	}
	statusFd := -1
	if o.StatusFd >= 0 {
		statusFd = o.StatusFd
		// CRIU 3.15 on says so with a notification (status-ready), which we relay; older
		// ones write to the descriptor themselves.
		if version < 31500 {
			opts.StatusFd = new(int32(o.StatusFd))
			statusFd = -1
		}
	}
	// A pre-dump only copies memory: the mounts and descriptors are the final dump's.
	if !o.PreDump {
		if err := writeDescriptors(o.ImagesDirectory, c.state.InitPid); err != nil {
			return err
		}
	}
	// CRIU freezes the cgroup, seizes the processes with ptrace and thaws it (a paused
	// container too), and at the end puts the freezer back as it found it, but not when it is
	// killed (at criuTimeout, or by someone else): a running container could stay frozen, and a
	// paused one runs. The freezer is put back here then.
	cg := loadCgroup(c.state)
	defer closeCgroup(cg)
	wasFrozen, ferr := cg.Frozen()
	run := &criuRun{req: &criurpc.CriuReq{Type: &t, Opts: opts}, statusFd: statusFd}
	if err := run.do(); err != nil {
		if frozen, _ := cg.Frozen(); ferr == nil && frozen != wasFrozen {
			if terr := cg.Freeze(wasFrozen); terr != nil {
				slog.Warn("checkpoint failed: put the container's freezer back", "id", c.ID, "frozen", wasFrozen, "err", terr)
			}
		}
		return criuError(err, logDir, logFile)
	}
	if o.LeaveRunning || o.PreDump {
		return nil
	}
	// CRIU has ended the processes: the container goes, as after its init's exit and delete.
	if err := c.destroy(); err != nil {
		slog.Warn("checkpoint: removing the dumped container", "id", c.ID, "err", err)
	}
	c.poststop()
	return nil
}

// openWorkDir makes (if need be) and opens --work-path.
func openWorkDir(dir string) (*os.File, error) {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("--work-path: %w", err)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("--work-path: %w", err)
	}
	return f, nil
}

// writeDescriptors saves what the init's stdio are, for restore (descriptorsFile).
func writeDescriptors(imageDir string, pid int) error {
	fds := make([]string, 3)
	for i := range fds {
		fds[i], _ = os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, i))
	}
	data, err := json.Marshal(fds)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(imageDir, descriptorsFile), data, 0o600)
}

// inheritPipes has the restored init's stdio pipes (descriptorsFile) replaced by the restoring
// process's stdio, which CRIU inherits as its descriptors 0 to 2.
func inheritPipes(opts *criurpc.CriuOpts, imageDir string) error {
	path := filepath.Join(imageDir, descriptorsFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--image-path %s: no %s: not the images of a container's checkpoint", imageDir, descriptorsFile)
	}
	if err != nil {
		return fmt.Errorf("--image-path: %w", err)
	}
	var fds []string
	if err := json.Unmarshal(data, &fds); err != nil {
		return fmt.Errorf("--image-path: %s: %w", path, err)
	}
	for i, s := range fds {
		if strings.Contains(s, "pipe:") {
			opts.InheritFd = append(opts.InheritFd, &criurpc.InheritFd{Key: new(s), Fd: new(int32(i))})
		}
	}
	return nil
}

// checkFeatures asks CRIU whether it has the features asked for.
func checkFeatures(want *criurpc.CriuFeatures) error {
	t := criurpc.CriuReqType_FEATURE_CHECK
	run := &criuRun{req: &criurpc.CriuReq{Type: &t, Features: want}, statusFd: -1}
	if err := run.do(); err != nil {
		return fmt.Errorf("CRIU feature check: %w", err)
	}
	got := run.features
	var missing []string
	if want.GetMemTrack() && !got.GetMemTrack() {
		missing = append(missing, "memory tracking (needed by --pre-dump; a kernel with soft-dirty bits)")
	}
	if want.GetLazyPages() && !got.GetLazyPages() {
		missing = append(missing, "lazy pages (needed by --lazy-pages; a kernel with userfaultfd)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("CRIU lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// criuError adds to err the lines of CRIU's log about the error, with the path of the log.
func criuError(err error, dir, file string) error {
	path := filepath.Join(dir, file)
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return fmt.Errorf("%w (CRIU's log %s: %v)", err, path, rerr)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Error") {
			lines = append(lines, sc.Text())
		}
	}
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	if len(lines) == 0 {
		return fmt.Errorf("%w (see CRIU's log %s)", err, path)
	}
	return fmt.Errorf("%w; from CRIU's log %s:\n%s", err, path, strings.Join(lines, "\n"))
}

// criuRun is one `criu swrk` session: a request, the notifications CRIU sends meanwhile, and
// its answer.
type criuRun struct {
	req   *criurpc.CriuReq
	files []*os.File // criu's descriptors 4 on
	// stdio for criu: the restored processes' stdio pipes are these (inheritPipes).
	stdin, stdout, stderr *os.File
	// started is called with criu's pid before the request is sent (restore: criu's cgroups).
	started func(pid int) error
	// notify handles a notification (see criu's --action-script); oob is its control message.
	notify   func(n *criurpc.CriuNotify, oob []byte) error
	statusFd int // written \0 to on status-ready, then closed; -1 for none

	features *criurpc.CriuFeatures // the answer of a FEATURE_CHECK
}

func (r *criuRun) do() error {
	fds, err := unix.Socketpair(unix.AF_LOCAL, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return os.NewSyscallError("socketpair", err)
	}
	client, server := os.NewFile(uintptr(fds[0]), "criu-client"), os.NewFile(uintptr(fds[1]), "criu-server")
	fc, err := net.FileConn(client)
	client.Close()
	if err != nil {
		server.Close()
		return err
	}
	conn := fc.(*net.UnixConn)
	defer conn.Close()
	path, err := exec.LookPath(criuPath)
	if err != nil {
		server.Close()
		return err
	}
	cmd := exec.Command(path, "swrk", "3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.stdin, r.stdout, r.stderr
	cmd.ExtraFiles = append([]*os.File{server}, r.files...)
	err = cmd.Start()
	// Closed here, so that a criu that dies makes our reads end rather than wait.
	server.Close()
	if err != nil {
		return fmt.Errorf("start criu: %w", err)
	}
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	if r.started != nil {
		if err := r.started(cmd.Process.Pid); err != nil {
			return err
		}
	}
	conn.SetDeadline(time.Now().Add(criuTimeout))
	if err := r.send(conn, r.req); err != nil {
		return err
	}
	buf := make([]byte, 10*4096)
	oob := make([]byte, 4096)
	for {
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("criu sent nothing for %v, and was killed", criuTimeout)
			}
			return fmt.Errorf("read criu's answer: %w", err)
		}
		if n == 0 {
			return errors.New("criu exited without an answer")
		}
		if n == len(buf) {
			return errors.New("criu's answer is too long")
		}
		resp := &criurpc.CriuResp{}
		if err := resp.UnmarshalVT(buf[:n]); err != nil {
			return fmt.Errorf("parse criu's answer: %w", err)
		}
		t := resp.GetType()
		if !resp.GetSuccess() {
			msg := fmt.Sprintf("criu failed: type %s errno %d", t, resp.GetCrErrno())
			if s := strings.TrimSpace(resp.GetCrErrmsg()); s != "" {
				msg += ": " + s
			}
			return errors.New(msg)
		}
		if t == criurpc.CriuReqType_NOTIFY {
			if err := r.handleNotify(resp.GetNotify(), oob[:oobn]); err != nil {
				return err
			}
			if err := r.send(conn, &criurpc.CriuReq{Type: &t, NotifySuccess: new(true)}); err != nil {
				return err
			}
			conn.SetDeadline(time.Now().Add(criuTimeout))
			continue
		}
		if t == criurpc.CriuReqType_FEATURE_CHECK {
			r.features = resp.GetFeatures()
		}
		break
	}
	conn.CloseWrite()
	// criu exits once it has answered (a pre-dump's on the EOF above): one that does not is
	// killed, rather than waited for.
	timer := time.AfterFunc(criuExitWait, func() { cmd.Process.Kill() })
	err = cmd.Wait()
	waited = true
	if !timer.Stop() {
		return fmt.Errorf("criu did not exit within %v of its answer, and was killed", criuExitWait)
	}
	// After a pre-dump criu waits for a final dump request on the socket, which runc's
	// checkpoint (and so ours) never sends: its exit status then says nothing.
	if err != nil && r.req.GetType() != criurpc.CriuReqType_PRE_DUMP {
		return fmt.Errorf("criu failed: %w", err)
	}
	return nil
}

func (r *criuRun) send(conn *net.UnixConn, req *criurpc.CriuReq) error {
	data, err := req.MarshalVT()
	if err != nil {
		return err
	}
	if _, err := conn.Write(data); err != nil {
		return fmt.Errorf("send criu its request: %w", err)
	}
	return nil
}

func (r *criuRun) handleNotify(n *criurpc.CriuNotify, oob []byte) error {
	if n == nil {
		return errors.New("criu sent a notification without its content")
	}
	slog.Debug("criu notification", "script", n.GetScript(), "pid", n.GetPid())
	if n.GetScript() == "status-ready" && r.statusFd >= 0 {
		if _, err := unix.Write(r.statusFd, []byte{0}); err != nil {
			slog.Warn("cannot write \\0 to --status-fd", "fd", r.statusFd, "err", err)
		}
		unix.Close(r.statusFd)
		r.statusFd = -1
	}
	if r.notify != nil {
		return r.notify(n, oob)
	}
	return nil
}

// RestoreOpts are restore's options: create's, for the bundle, the terminal and the pid file,
// and CRIU's.
type RestoreOpts struct {
	CreateOpts
	Criu CriuOpts
}

// Restore makes a container from a bundle and the images of a checkpoint, running. Its state
// is a started container's (state.json, its cgroups, the init's pid and start time), so every
// other command works on it. The container's cgroups are made and limited from the bundle's
// config, and CRIU restores the processes into them. On failure no state, cgroup or mount is
// left; the mount points of the spec's mounts that Restore made in the bundle's rootfs
// (makeMountpoints) stay, as with runc's restore: they are empty directories and files, as
// create leaves them.
func Restore(root, id string, opts RestoreOpts) (_ *Container, retErr error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	o := &opts.Criu
	if o.ImagesDirectory == "" {
		return nil, errors.New("restore: no image directory (--image-path)")
	}
	if fi, err := os.Stat(o.ImagesDirectory); err != nil {
		return nil, fmt.Errorf("--image-path: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("--image-path %s: not a directory", o.ImagesDirectory)
	}
	if o.StatusFd >= 0 {
		return nil, errors.New("--status-fd: only checkpoint --lazy-pages has it")
	}
	version, err := criuVersion()
	if err != nil {
		return nil, err
	}
	plan, err := planCreate(id, opts.CreateOpts)
	if err != nil {
		return nil, err
	}
	// Create's steps for these run on its init, which a restore has not: refused, rather than
	// a container restored without them (runc's restore skips them silently).
	if plan.spec.Linux.IntelRdt != nil {
		return nil, linuxspec.Errorf("linux.intelRdt", "restore cannot put the restored processes in a resctrl group")
	}
	if len(plan.spec.Linux.NetDevices) > 0 {
		return nil, linuxspec.Errorf("linux.netDevices", "restore cannot move interfaces into the restored network namespace")
	}
	const logFile = "restore.log"
	copts, err := baseOpts(o, logFile)
	if err != nil {
		return nil, err
	}
	if err := setLsm(copts, o, version); err != nil {
		return nil, err
	}
	// Everything from the images and the bundle is checked before anything is made.
	if err := inheritPipes(copts, o.ImagesDirectory); err != nil {
		return nil, err
	}
	if err := extMounts(copts, plan.spec, plan.rootfs, plan.cgroup.Paths(), false, nil); err != nil {
		return nil, err
	}
	if o.LazyPages {
		if err := checkFeatures(&criurpc.CriuFeatures{LazyPages: new(true)}); err != nil {
			return nil, err
		}
	}
	imageDir, err := os.Open(o.ImagesDirectory)
	if err != nil {
		return nil, fmt.Errorf("--image-path: %w", err)
	}
	defer imageDir.Close()
	logDir := o.ImagesDirectory
	copts.ImagesDirFd = new(int32(imageDir.Fd()))
	copts.EvasiveDevices = new(true)
	copts.RstSibling = new(true) // the restored init is our child, for restore to wait on
	if o.WorkDirectory != "" {
		workDir, err := openWorkDir(o.WorkDirectory)
		if err != nil {
			return nil, err
		}
		defer workDir.Close()
		copts.WorkDirFd = new(int32(workDir.Fd()))
		logDir = o.WorkDirectory
	}
	setConfigFile(copts, plan.spec.Annotations)
	nsFiles, err := restoreNamespaces(copts, plan.spec, version)
	if err != nil {
		return nil, err
	}
	defer closeAll(nsFiles)
	tty, err := openTerminal(plan.spec.Process, opts.Foreground, opts.ConsoleSocket)
	if err != nil {
		return nil, err
	}
	defer tty.Close()

	c, err := newContainer(root, id, plan)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			c.abortCreate(retErr)
		}
	}()
	if err := c.makeCgroups(plan); err != nil {
		return nil, err
	}
	// CRIU's root must be a mount point whose parent is not overmounted: a bind of the rootfs
	// in the state directory, which goes once CRIU is done (the restored mount namespace has
	// its own).
	// A restore killed before it unmounts it leaves the bind: removeStateDir unmounts it before
	// it removes the state directory, not to delete the rootfs through it.
	criuRoot := filepath.Join(c.store.dir, criuRootDir)
	if err := os.Mkdir(criuRoot, 0o755); err != nil {
		return nil, fmt.Errorf("restore: CRIU's root: %w", err)
	}
	defer os.Remove(criuRoot)
	if err := unix.Mount(plan.rootfs, criuRoot, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, &os.PathError{Op: "bind mount rootfs on", Path: criuRoot, Err: err}
	}
	unmountRoot := func() { unix.Unmount(criuRoot, unix.MNT_DETACH) }
	defer unmountRoot()
	copts.Root = new(criuRoot)
	if err := makeMountpoints(plan.rootfs, plan.spec.Mounts); err != nil {
		return nil, err
	}
	// CRIU restores into a new time namespace (3.14 on, where the kernel has them) to keep the
	// processes' monotonic clocks: exec must join it too.
	if version >= 31400 && !linuxspec.HasNamespace(plan.spec.Linux, specs.TimeNamespace) {
		if _, err := os.Stat("/proc/self/ns/time"); err == nil {
			plan.spec.Linux.Namespaces = append(plan.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		}
	}

	t := criurpc.CriuReqType_RESTORE
	run := &criuRun{
		req:   &criurpc.CriuReq{Type: &t, Opts: copts},
		files: nsFiles, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		statusFd: -1,
	}
	if opts.Stdin != nil {
		run.stdin = opts.Stdin
	}
	if opts.Stdout != nil {
		run.stdout = opts.Stdout
	}
	if opts.Stderr != nil {
		run.stderr = opts.Stderr
	}
	run.started = func(pid int) error { return c.criuCgroups(plan, pid, copts) }
	restored, ptsSent := false, false
	run.notify = func(n *criurpc.CriuNotify, oob []byte) error {
		switch n.GetScript() {
		case "setup-namespaces":
			// The processes' namespaces exist: the hooks create would run now (runc runs
			// these two).
			if h := plan.spec.Hooks; h != nil {
				st := hooks.State(id, plan.bundle, int(n.GetPid()), specs.StateCreating, plan.spec.Annotations)
				if err := hooks.Run("prestart", h.Prestart, st); err != nil {
					return err
				}
				return hooks.Run("createRuntime", h.CreateRuntime, st)
			}
		case "post-restore":
			pid := int(n.GetPid())
			stat, err := proc.ReadStat(pid)
			if err != nil {
				return fmt.Errorf("restored init (pid %d): %w", pid, err)
			}
			c.state.InitPid, c.state.InitStartTime = pid, stat.StartTime
			restored = true
			return c.saveStarted(plan)
		case "orphan-pts-master":
			ptsSent = true
			return sendPtsMaster(oob, tty.sock)
		}
		return nil
	}
	err = run.do()
	unmountRoot() // at once: the restored processes have their own mount namespace
	if err != nil {
		return nil, criuError(err, logDir, logFile)
	}
	if !restored {
		return nil, errors.New("criu finished without restoring the container's init")
	}
	// CRIU sends a terminal only if the checkpointed init had one: without it a foreground
	// restore would wait for the master forever, and a detached one send none.
	if plan.spec.Process.Terminal && !ptsSent {
		return nil, linuxspec.Errorf("process.terminal", "true, but the process checkpointed in --image-path %s had no terminal", o.ImagesDirectory)
	}
	if tty.sock != nil {
		// Our end of the relay's pair: closed, so that master fails rather than waits if
		// nothing was sent on it.
		tty.sock.Close()
		tty.sock = nil
	}
	c.state.Created = time.Now().UTC()
	if err := c.finishCreate(tty, opts.PidFile); err != nil {
		return nil, err
	}
	return c, nil
}

// setLsm sets restore's --lsm-profile and --lsm-mount-context. CRIU before 3.16 cannot set
// another LSM profile than the checkpointed one (runc's check); its lsm.c takes apparmor: and
// selinux: profiles only.
func setLsm(opts *criurpc.CriuOpts, o *CriuOpts, version int) error {
	if o.LsmProfile != "" {
		typ, name, ok := strings.Cut(o.LsmProfile, ":")
		if !ok || name == "" || typ != "apparmor" && typ != "selinux" {
			return fmt.Errorf("--lsm-profile %q: want TYPE:NAME, TYPE apparmor or selinux", o.LsmProfile)
		}
		if version < 31600 {
			return fmt.Errorf("--lsm-profile needs CRIU 3.16 or newer (found %d)", version)
		}
		opts.LsmProfile = new(o.LsmProfile)
	}
	if o.LsmMountContext != "" {
		if version < 31600 {
			return fmt.Errorf("--lsm-mount-context needs CRIU 3.16 or newer (found %d)", version)
		}
		opts.LsmMountContext = new(o.LsmMountContext)
	}
	return nil
}

// criuCgroups puts criu (pid), which restores the processes where it is, in the container's
// cgroups, and tells it those are the root of the restored tree's cgroups.
func (c *Container) criuCgroups(p *createPlan, pid int, opts *criurpc.CriuOpts) error {
	if a, ok := p.cgroup.(cgroups.Attacher); ok {
		// The systemd driver's unit is made around criu. It is in the state before systemd is
		// asked for it, as create saves it, so that a failed restore's clean-up stops it.
		if sm, ok := p.cgroup.(*systemd.Manager); ok {
			u := sm.Unit()
			c.state.SystemdUnit, c.state.SystemdUser = &u, sm.User()
			if err := c.store.save(c.state); err != nil {
				return err
			}
		}
		if err := a.Attach(pid); err != nil {
			return resourcesError(err, p.cgroup)
		}
	} else {
		for key, dir := range c.state.CgroupPaths {
			f := filepath.Join(dir, "cgroup.procs")
			if err := os.WriteFile(f, []byte(fmt.Sprint(pid)), 0); err != nil {
				return fmt.Errorf("put criu in cgroup %q: %w", key, err)
			}
		}
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return err
	}
	opts.CgRoot = append(opts.CgRoot, cgRoots(string(data))...)
	return nil
}

// cgRoots turns /proc/PID/cgroup into CRIU's cgroup roots: one per controller, "" for v2.
func cgRoots(procCgroup string) []*criurpc.CgroupRoot {
	var out []*criurpc.CgroupRoot
	for _, line := range strings.Split(strings.TrimSpace(procCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out = append(out, &criurpc.CgroupRoot{Ctrl: new(""), Path: new(parts[2])})
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			out = append(out, &criurpc.CgroupRoot{Ctrl: new(ctrl), Path: new(parts[2])})
		}
	}
	return out
}

// sendPtsMaster sends the pty master CRIU passed with its orphan-pts-master notification to the
// container's console socket (or to restore's own end, which relays it in the foreground).
func sendPtsMaster(oob []byte, sock *os.File) error {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) == 0 {
		return errors.New("criu's orphan-pts-master notification carries no descriptor")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return errors.New("criu's orphan-pts-master notification carries no descriptor")
	}
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	if sock == nil {
		return errors.New("the restored process has a terminal (process.terminal) but restore has no --console-socket to send it to")
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte("/dev/ptmx"), unix.UnixRights(fds[0]), nil, 0); err != nil {
		return fmt.Errorf("--console-socket: send the terminal: %w", err)
	}
	return nil
}

// makeMountpoints makes the mount points the init made at create in the rootfs, which a
// rootfs restored elsewhere may lack and CRIU needs: directories, or files for a bind of a file.
// Those under a tmpfs of the spec are not needed: CRIU restores the tmpfs's content.
func makeMountpoints(rootfsPath string, mounts []specs.Mount) error {
	for _, m := range mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" || underTmpfs(m.Destination, mounts) {
			continue
		}
		dest, err := securejoin.SecureJoin(rootfsPath, m.Destination)
		if err != nil {
			return fmt.Errorf("mount %s: %w", m.Destination, err)
		}
		if _, err := os.Lstat(dest); err == nil {
			continue
		}
		file := false
		if isBind(m) {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				file = true
			}
		}
		dir := dest
		if file {
			dir = filepath.Dir(dest)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("restore: mount point of %s: %w", m.Destination, err)
		}
		if file {
			f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o644)
			if err != nil {
				return fmt.Errorf("restore: mount point of %s: %w", m.Destination, err)
			}
			f.Close()
		}
	}
	return nil
}

func underTmpfs(path string, mounts []specs.Mount) bool {
	for _, m := range mounts {
		if m.Type == "tmpfs" && strings.HasPrefix(path, m.Destination+"/") {
			return true
		}
	}
	return false
}

package cgroupv2

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	cgroupRoot   = "/sys/fs/cgroup"
	cgroup2Magic = 0x63677270 // CGROUP2_SUPER_MAGIC, include/uapi/linux/magic.h
	// commandTimeout bounds one nebulon command, so a hung runtime fails its test rather than
	// the guest's whole run. Generous: the guest may be software-emulated.
	commandTimeout = 60 * time.Second
)

var (
	// systemdDriver: the suite runs in tests/systemd's guest, where systemd is PID 1, and every
	// command gets --systemd-cgroup (NEBULON_CGROUPV2_SYSTEMD=1).
	systemdDriver = os.Getenv("NEBULON_CGROUPV2_SYSTEMD") == "1"
	// systemdV1: the hybrid boot of that guest, cgroup v1 with systemd's own cgroup2 hierarchy at
	// /sys/fs/cgroup/unified, which runs the driver's v1 tests alone (systemdv1_linux_test.go).
	systemdV1      = systemdDriver && os.Getenv("NEBULON_CGROUPV2_SYSTEMD_V1") == "1"
	nebulonBin     string // the runtime under test
	rootfsTemplate string // a busybox root filesystem, copied into each bundle
	skipReason     string // why this host cannot run the suite; "" where it can
)

func TestMain(m *testing.M) {
	skipReason = checkHost()
	// In the guest (NEBULON_CGROUPV2_TEST=1) the host check must hold: a guest that is not
	// cgroup v2-only, or lacks root or the runtime, would otherwise skip every test and pass.
	if skipReason != "" && os.Getenv("NEBULON_CGROUPV2_TEST") == "1" {
		fmt.Fprintln(os.Stderr, "cgroupv2: NEBULON_CGROUPV2_TEST=1, but this host cannot run the suite:", skipReason)
		os.Exit(1)
	}
	cleanup := func() {}
	if skipReason == "" {
		var err error
		if rootfsTemplate, cleanup, err = prepareRootfs(); err != nil {
			fmt.Fprintln(os.Stderr, "cgroupv2:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// checkHost tells why the suite cannot run here, or "" when it can: a cgroup v2-only host where
// it was asked for, as root, with the runtime found.
func checkHost() string {
	if os.Getenv("NEBULON_CGROUPV2_TEST") != "1" {
		return "runs in the cgroup v2 guest of tests/cgroupv2/run.sh (NEBULON_CGROUPV2_TEST=1 is not set)"
	}
	var st syscall.Statfs_t
	if systemdV1 {
		if err := syscall.Statfs(cgroupRoot+"/unified", &st); err != nil || st.Type != cgroup2Magic {
			return "NEBULON_CGROUPV2_SYSTEMD_V1=1 needs a hybrid host: " + cgroupRoot + "/unified is not a cgroup2 mount"
		}
	} else if err := syscall.Statfs(cgroupRoot, &st); err != nil || st.Type != cgroup2Magic {
		return cgroupRoot + " is not a cgroup2 mount: the suite needs a cgroup v2-only host"
	}
	if os.Geteuid() != 0 {
		return "needs root (creates namespaces, mounts and cgroups)"
	}
	if comm, _ := os.ReadFile("/proc/1/comm"); systemdDriver && strings.TrimSpace(string(comm)) != "systemd" {
		return "NEBULON_CGROUPV2_SYSTEMD=1 needs systemd as PID 1 (tests/systemd/run.sh)"
	}
	bin := os.Getenv("NEBULON")
	if bin == "" {
		bin = "nebulon"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return fmt.Sprintf("runtime %q not found (set NEBULON): %v", bin, err)
	}
	nebulonBin = path
	return ""
}

// prepareRootfs returns NEBULON_ROOTFS, or makes a busybox root filesystem from /bin/busybox.
func prepareRootfs() (string, func(), error) {
	if dir := os.Getenv("NEBULON_ROOTFS"); dir != "" {
		return dir, func() {}, nil
	}
	busybox := "/bin/busybox"
	applets, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return "", nil, fmt.Errorf("list busybox applets: %w", err)
	}
	dir, err := os.MkdirTemp("", "nebulon-rootfs-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	for _, d := range []string{"bin", "dev", "etc", "proc", "root", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	data, err := os.ReadFile(busybox)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755)
	}
	for _, a := range strings.Fields(string(applets)) {
		if err == nil && a != "busybox" {
			err = os.Symlink("busybox", filepath.Join(dir, "bin", a))
		}
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("make busybox rootfs: %w", err)
	}
	return dir, cleanup, nil
}

// cgroupfsOnly skips a test of the cgroupfs driver's cgroupsPath (a directory) when the suite
// runs with the systemd driver, whose cgroupsPath is "slice:prefix:name" (systemd_linux_test.go).
func cgroupfsOnly(t *testing.T) {
	t.Helper()
	if systemdDriver {
		t.Skip("a cgroupfs cgroupsPath; the systemd driver's are tested in systemd_linux_test.go")
	}
}

// env is one test's nebulon state directory (--root) and scratch space.
type env struct {
	t    *testing.T
	dir  string
	root string
}

// newEnv skips the test where the suite cannot run.
func newEnv(t *testing.T) *env {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
	if systemdV1 && !strings.HasPrefix(t.Name(), "TestSystemdV1") {
		t.Skip("a cgroup v2 test; this is tests/systemd's hybrid boot, which runs the driver's v1 tests")
	}
	dir := t.TempDir()
	// 0755: the container's processes must reach the rootfs below it.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, dir: dir, root: filepath.Join(dir, "state")}
}

// result is what a nebulon command left: its exit status and output.
type result struct {
	args     []string
	code     int // exit status; -1 when it was killed at commandTimeout
	stdout   string
	stderr   string
	timedOut bool
}

func (r result) ok() bool { return r.code == 0 }

func (r result) String() string {
	s := fmt.Sprintf("`nebulon %s`: exit status %d", strings.Join(r.args, " "), r.code)
	if r.timedOut {
		s += fmt.Sprintf(" (killed after %v)", commandTimeout)
	}
	if r.stdout != "" {
		s += "\nstdout: " + strings.TrimSpace(r.stdout)
	}
	if r.stderr != "" {
		s += "\nstderr: " + strings.TrimSpace(r.stderr)
	}
	return s
}

// cmdOpts are the ways a test starts nebulon other than the plain one.
type cmdOpts struct {
	// stdio, when set, is the command's stdout and stderr (and so those of a container that
	// create or run starts); its new content is the result's stderr. Otherwise the command
	// writes to files of its own. Never a pipe: a detached container would hold it open.
	stdio *os.File
	// cgroup, when set, is a cgroup directory the command starts in (CLONE_INTO_CGROUP).
	cgroup *os.File
}

// nebulon runs `nebulon --root <env's> args...` with a timeout.
func (e *env) nebulon(args ...string) result {
	return e.nebulonWith(cmdOpts{}, args...)
}

func (e *env) nebulonWith(o cmdOpts, args ...string) result {
	e.t.Helper()
	res := result{args: args}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	global := []string{"--root", e.root}
	if systemdDriver {
		global = append(global, "--systemd-cgroup")
	}
	cmd := exec.CommandContext(ctx, nebulonBin, append(global, args...)...)
	var outFile, errFile *os.File
	var outOff int64
	if o.stdio != nil {
		off, err := o.stdio.Seek(0, io.SeekEnd)
		if err != nil {
			e.t.Fatal(err)
		}
		outOff, outFile, errFile = off, o.stdio, o.stdio
	} else {
		outFile, errFile = e.tempFile(), e.tempFile()
		defer outFile.Close()
		defer errFile.Close()
	}
	cmd.Stdout, cmd.Stderr = outFile, errFile
	if o.cgroup != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(o.cgroup.Fd())}
	}
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.code, res.timedOut = -1, true
	case errors.As(err, &exitErr):
		res.code = exitErr.ExitCode()
	case err != nil:
		e.t.Fatalf("run nebulon %s: %v", strings.Join(args, " "), err)
	}
	if o.stdio != nil {
		res.stderr = readFrom(e.t, o.stdio.Name(), outOff)
	} else {
		res.stdout = readFrom(e.t, outFile.Name(), 0)
		res.stderr = readFrom(e.t, errFile.Name(), 0)
	}
	if res.timedOut {
		e.t.Errorf("%s", res)
	}
	return res
}

// must fails the test unless the command succeeded.
func (e *env) must(args ...string) result {
	e.t.Helper()
	r := e.nebulon(args...)
	if !r.ok() {
		e.t.Fatalf("%s", r)
	}
	return r
}

func (e *env) tempFile() *os.File {
	f, err := os.CreateTemp(e.dir, "out-")
	if err != nil {
		e.t.Fatal(err)
	}
	return f
}

func readFrom(t *testing.T, path string, off int64) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off > int64(len(data)) {
		return ""
	}
	return string(data[off:])
}

// container is a bundle (busybox rootfs and the config.json of `nebulon spec`, edited through
// set) and the container made from it.
type container struct {
	e      *env
	t      *testing.T
	id     string
	bundle string
	config map[string]any
	log    *os.File // the container's stdout and stderr, from create
	logOff int64    // where the container's own output starts in log
	// specDevices is the linux.resources.devices of `nebulon spec`, which newContainer drops.
	specDevices any
}

var containerSeq atomic.Int32

// newContainer makes a bundle whose process runs args, and removes the container (and a cgroup
// a failed delete left) when the test ends.
//
// linux.resources.devices, the device rules of `nebulon spec`, is dropped: on cgroup v2 they
// need the eBPF device filter, which has tests of its own (devices_linux_test.go) and should not
// decide whether the cgroup placement and limit tests run.
func (e *env) newContainer(args ...string) *container {
	e.t.Helper()
	id := fmt.Sprintf("nbt%d-%s", containerSeq.Add(1), sanitize(e.t.Name()))
	c := &container{e: e, t: e.t, id: id, bundle: filepath.Join(e.dir, id)}
	if err := copyTree(rootfsTemplate, filepath.Join(c.bundle, "rootfs")); err != nil {
		e.t.Fatalf("copy rootfs: %v", err)
	}
	e.must("spec", "--bundle", c.bundle)
	data, err := os.ReadFile(filepath.Join(c.bundle, "config.json"))
	if err == nil {
		err = json.Unmarshal(data, &c.config)
	}
	if err != nil {
		e.t.Fatalf("read the config.json of nebulon spec: %v", err)
	}
	c.set("process.args", args)
	c.set("process.terminal", false)
	if res, ok := c.config["linux"].(map[string]any)["resources"].(map[string]any); ok {
		c.specDevices = res["devices"]
	}
	c.unset("linux.resources.devices")
	if c.log, err = os.Create(filepath.Join(e.dir, id+".log")); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.cleanup)
	return c
}

// sanitize turns a test name into a container id fragment ([A-Za-z0-9-], at most 40 bytes).
func sanitize(name string) string {
	b := []byte(name)
	for i, ch := range b {
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9') {
			b[i] = '-'
		}
	}
	if len(b) > 40 {
		b = b[len(b)-40:]
	}
	return string(b)
}

// set sets a config.json field by its dotted path ("linux.resources.memory.limit"), making the
// objects on the way; value is anything encoding/json takes.
func (c *container) set(path string, value any) {
	c.t.Helper()
	keys := strings.Split(path, ".")
	obj := c.config
	for _, k := range keys[:len(keys)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			obj[k] = next
		}
		obj = next
	}
	// A round trip through JSON, so that reading back (get) sees what nebulon will.
	data, err := json.Marshal(value)
	if err != nil {
		c.t.Fatalf("set %s: %v", path, err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		c.t.Fatal(err)
	}
	obj[keys[len(keys)-1]] = v
}

// unset removes a config.json field, if it is there.
func (c *container) unset(path string) {
	keys := strings.Split(path, ".")
	obj := c.config
	for _, k := range keys[:len(keys)-1] {
		next, ok := obj[k].(map[string]any)
		if !ok {
			return
		}
		obj = next
	}
	delete(obj, keys[len(keys)-1])
}

func (c *container) writeConfig() {
	c.t.Helper()
	data, err := json.MarshalIndent(c.config, "", "\t")
	if err == nil {
		err = os.WriteFile(filepath.Join(c.bundle, "config.json"), data, 0o644)
	}
	if err != nil {
		c.t.Fatalf("write config.json: %v", err)
	}
}

// create runs `nebulon create`; the container's output goes to c.log.
func (c *container) create() result {
	c.t.Helper()
	return c.createWith(cmdOpts{})
}

func (c *container) createWith(o cmdOpts) result {
	c.t.Helper()
	c.writeConfig()
	o.stdio = c.log
	r := c.e.nebulonWith(o, "create", "--bundle", c.bundle, c.id)
	off, err := c.log.Seek(0, io.SeekEnd)
	if err != nil {
		c.t.Fatal(err)
	}
	c.logOff = off
	return r
}

func (c *container) mustCreate() {
	c.t.Helper()
	if r := c.create(); !r.ok() {
		c.t.Fatalf("%s", r)
	}
}

// mustStart creates and starts the container.
func (c *container) mustStart() {
	c.t.Helper()
	c.mustCreate()
	c.e.must("start", c.id)
}

// run runs the container in the foreground (`nebulon run`); the result's stderr holds the
// container's output and nebulon's.
func (c *container) run() result {
	c.t.Helper()
	c.writeConfig()
	return c.e.nebulonWith(cmdOpts{stdio: c.log}, "run", "--bundle", c.bundle, c.id)
}

// waitOutput polls the container's output until it holds want, and returns it.
func (c *container) waitOutput(want string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := c.output()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("container %s did not write %q within %v; its output:\n%s", c.id, want, timeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// output is what the container wrote after create.
func (c *container) output() string {
	return readFrom(c.t, c.log.Name(), c.logOff)
}

// ociState is the part of `nebulon state` the tests read.
type ociState struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Pid    int    `json:"pid"`
}

func (c *container) state() ociState {
	c.t.Helper()
	r := c.e.must("state", c.id)
	var s ociState
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		c.t.Fatalf("parse `nebulon state`: %v\n%s", err, r.stdout)
	}
	return s
}

func (c *container) pid() int {
	c.t.Helper()
	s := c.state()
	if s.Pid <= 0 {
		c.t.Fatalf("nebulon state %s: no pid (status %q)", c.id, s.Status)
	}
	return s.Pid
}

// waitStatus polls `nebulon state` until the container has the status.
func (c *container) waitStatus(status string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := c.state()
		if s.Status == status {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("container %s: status %q after %v, want %q", c.id, s.Status, timeout, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cgroup is the container's cgroup as its init sees it in /proc/<pid>/cgroup ("0::/path"),
// read from the root cgroup namespace, so the full path.
func (c *container) cgroup() string {
	c.t.Helper()
	return procCgroup(c.t, c.pid())
}

// cgroupDir is the container's cgroup directory.
func (c *container) cgroupDir() string {
	c.t.Helper()
	return filepath.Join(cgroupRoot, c.cgroup())
}

func procCgroup(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(data))
	path, ok := strings.CutPrefix(line, "0::")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("/proc/%d/cgroup is not a single v2 entry: %q", pid, line)
	}
	return path
}

func (c *container) cleanup() {
	c.e.nebulon("delete", "--force", c.id)
	c.log.Close()
}

// copyTree copies a directory tree, hard-linking regular files (src and dst are on one tmpfs in
// the guest) and falling back to copies.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm()|info.Mode()&fs.ModeSticky)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			if os.Link(path, target) == nil {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, info.Mode().Perm())
		}
		return nil // devices, fifos: a rootfs template has none
	})
}

// readCgroupFile reads a file of a cgroup directory, trimmed.
func readCgroupFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("read %s: %v", filepath.Join(dir, name), err)
	}
	return strings.TrimSpace(string(data))
}

// cgroupKeyed reads a flat-keyed cgroup file ("key value" lines: memory.events, cpu.stat).
func cgroupKeyed(t *testing.T, dir, name string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(readCgroupFile(t, dir, name)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			m[f[0]] = n
		}
	}
	return m
}

// exists reports whether a path exists.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// assertGone fails the test if the container left its cgroup or its state behind.
func (c *container) assertGone(cgroupDir string) {
	c.t.Helper()
	if exists(cgroupDir) {
		procs, _ := os.ReadFile(filepath.Join(cgroupDir, "cgroup.procs"))
		c.t.Errorf("cgroup %s is still there (cgroup.procs: %q)", cgroupDir, strings.TrimSpace(string(procs)))
	}
	if r := c.e.nebulon("state", c.id); r.ok() {
		c.t.Errorf("nebulon state %s still answers after delete:\n%s", c.id, r.stdout)
	}
	if exists(filepath.Join(c.e.root, c.id)) {
		c.t.Errorf("state directory %s is still there", filepath.Join(c.e.root, c.id))
	}
}

// removeCgroup removes a cgroup the test made (or a runtime left), killing what is in it and
// its children, deepest first. For cleanups: errors are ignored.
func removeCgroup(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.IsDir() {
			removeCgroup(filepath.Join(dir, e.Name()))
		}
	}
	os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	for i := 0; i < 50; i++ {
		if err := syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package cgroupv2

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Checkpoint and restore with CRIU. CRIU 3.17 cannot start on the build host's kernel (6.18:
// "Failed to fill self vdso symtable"), so these run in this guest, whose 6.1 kernel it handles;
// run.sh copies criu (and the iptables it locks a network namespace with) in where the host has
// them, and then init.sh sets NEBULON_CRIU_TEST=1. Elsewhere (tests/systemd's guest has no criu,
// a host without criu) they skip.
//
// The containers count: every 0.1 s the shell appends its next number to /count.log in the
// rootfs, which the test reads from the host. A restored counter that goes on from where the
// checkpoint stopped it appends the next number, not 0 again.
//
// CRIU dumps a process's open files, and cannot dump one on a mount outside the container (as
// with runc): the files the harness gives a container as stdio. So a counter has its stdio on the
// container's own /dev/null, unless the test gives it pipes (as engines do) or a terminal.

const (
	counterLoop   = `i=0; while :; do echo $i >>/count.log; i=$((i+1)); sleep 0.1; done`
	counterScript = `exec </dev/null >/dev/null 2>&1; ` + counterLoop
)

func newCriuEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	if os.Getenv("NEBULON_CRIU_TEST") != "1" {
		t.Skip("NEBULON_CRIU_TEST=1 is not set: not in tests/cgroupv2's guest, or criu not found on the host by run.sh (tests/install-deps.sh cgroupv2)")
	}
	if _, err := exec.LookPath("criu"); err != nil {
		t.Fatalf("NEBULON_CRIU_TEST=1 but no criu: %v", err)
	}
	return e
}

// startCounter starts a counter (counterScript) in a new env of the CRIU tests, and returns once
// it has written n numbers.
func startCounter(t *testing.T, n int) (*env, *container) {
	t.Helper()
	e := newCriuEnv(t)
	c := e.newCounter(counterScript)
	c.mustStart()
	c.waitCount(n)
	return e, c
}

// newCounter makes a container running script, with a writable root for its /count.log.
func (e *env) newCounter(script string) *container {
	c := e.newContainer("sh", "-c", script)
	c.set("root.readonly", false)
	return c
}

// counts reads the numbers the counter wrote, in order.
func (c *container) counts() []int {
	c.t.Helper()
	data, err := os.ReadFile(filepath.Join(c.bundle, "rootfs/count.log"))
	if err != nil && !os.IsNotExist(err) {
		c.t.Fatal(err)
	}
	var out []int
	for _, l := range strings.Split(string(data), "\n") {
		if n, err := strconv.Atoi(l); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// waitCount waits until the counter has written at least n numbers in all, and returns them.
func (c *container) waitCount(n int) []int {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := c.counts()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the counter of %s wrote %d numbers in 30s, want %d: %v", c.id, len(got), n, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// assertConsecutive fails unless the counts go 0, 1, 2... with no restart and no gap.
func assertConsecutive(t *testing.T, got []int) {
	t.Helper()
	for i, n := range got {
		if n != i {
			t.Fatalf("count %d is %d: the counter did not go on from its checkpoint: %v", i, n, got)
		}
	}
}

// restoreAs returns a container of the same bundle under another id, removed when the test ends.
func (c *container) restoreAs(id string) *container {
	r := *c
	r.id = id
	c.t.Cleanup(r.cleanup)
	return &r
}

// checkpoint checkpoints the container, with flags, to the image directory e.dir/images, and
// returns that directory.
func (c *container) checkpoint(flags ...string) string {
	c.t.Helper()
	images := filepath.Join(c.e.dir, "images")
	c.e.must(append(append([]string{"checkpoint"}, flags...), "--image-path", images, c.id)...)
	return images
}

// restore restores the container, detached, from images.
func (c *container) restore(images string) {
	c.t.Helper()
	c.e.must("restore", "-d", "--image-path", images, "--bundle", c.bundle, c.id)
}

// restoreCounting restores the container, detached, from images, and waits until the counter
// has written more numbers past the dumped ones, all of them going on from the checkpoint.
func (c *container) restoreCounting(images string, dumped, more int) {
	c.t.Helper()
	c.restore(images)
	assertConsecutive(c.t, c.waitCount(dumped+more))
}

// assertRunningIn checks a restored container: running, its init in the container's cgroup,
// exec, pause and resume working.
func (c *container) assertRunningIn(cgroupPath string) {
	c.t.Helper()
	if s := c.state(); s.Status != "running" || s.Pid <= 0 {
		c.t.Fatalf("restored container %s: status %q pid %d", c.id, s.Status, s.Pid)
	}
	if got := c.cgroup(); got != cgroupPath {
		c.t.Errorf("restored init is in cgroup %s, want %s", got, cgroupPath)
	}
	if r := c.e.must("exec", c.id, "sh", "-c", "echo exec-ran"); !strings.Contains(r.stdout, "exec-ran") {
		c.t.Errorf("exec into the restored container: %s", r)
	}
	c.e.must("pause", c.id)
	if s := c.state(); s.Status != "paused" {
		c.t.Errorf("after pause: %q", s.Status)
	}
	c.e.must("resume", c.id)
}

func mountedUnder(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(data), " "+dir)
}

// piped is a nebulon command run with pipes as its stdio, which a container it makes inherits,
// as engines start runtimes (conmon, containerd's shim): its output is read as it comes.
type piped struct {
	stdin *os.File // the write end of the command's stdin
	mu    sync.Mutex
	out   []byte
	done  chan struct{}
}

func (p *piped) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out)
}

// waitOutput waits until the output holds want.
func (p *piped) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the pipe did not show %q within 30s: %q", want, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nebulonPiped runs nebulon with pipes as stdin, stdout and stderr, kept until the test ends.
func (e *env) nebulonPiped(args ...string) (*piped, int) {
	e.t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		e.t.Fatal(err)
	}
	p := &piped{stdin: inW, done: make(chan struct{})}
	e.t.Cleanup(func() { inW.Close(); outR.Close() })
	go func() {
		defer close(p.done)
		buf := make([]byte, 4096)
		for {
			n, err := outR.Read(buf)
			p.mu.Lock()
			p.out = append(p.out, buf[:n]...)
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	cmd := exec.Command(nebulonBin, append([]string{"--root", e.root}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, outW
	err = cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		e.t.Fatal(err)
	}
	timer := time.AfterFunc(commandTimeout, func() { cmd.Process.Kill() })
	defer timer.Stop()
	code := 0
	if err := cmd.Wait(); err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return p, code
}

// The core: a counter with pipes as its stdio, checkpointed (the container is gone after) and
// restored detached under pipes of its own, goes on counting, writing to the new pipes; state,
// exec, pause, kill and delete work on the restored container.
func TestCheckpointRestoreCounter(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(`i=0; while :; do echo "out-$i"; echo $i >>/count.log; i=$((i+1)); sleep 0.1; done`)
	cg := "/nbtest-ck-" + c.id
	c.set("linux.cgroupsPath", cg)
	c.writeConfig()
	if p, code := e.nebulonPiped("create", "--bundle", c.bundle, c.id); code != 0 {
		t.Fatalf("create with pipes: exit status %d: %s", code, p.output())
	}
	e.must("start", c.id)
	c.waitCount(5)
	images := c.checkpoint()
	if r := e.nebulon("state", c.id); r.ok() {
		t.Fatalf("the checkpointed container is still there: %s", r.stdout)
	}
	if exists(filepath.Join(cgroupRoot, cg)) {
		t.Errorf("the checkpointed container's cgroup %s is still there", cg)
	}
	dumped := c.counts()
	time.Sleep(300 * time.Millisecond)
	if after := c.counts(); len(after) != len(dumped) {
		t.Fatalf("the counter went on after checkpoint: %d numbers, then %d", len(dumped), len(after))
	}
	pidFile := filepath.Join(e.dir, "restored.pid")
	p, code := e.nebulonPiped("restore", "-d", "--image-path", images, "--bundle", c.bundle, "--pid-file", pidFile, c.id)
	if code != 0 {
		t.Fatalf("restore: exit status %d: %s", code, p.output())
	}
	assertConsecutive(t, c.waitCount(len(dumped)+5))
	// The restored process's stdout is restore's pipe (descriptors.json).
	p.waitOutput(t, "out-"+strconv.Itoa(len(dumped)+2))
	c.assertRunningIn(cg)
	if data, err := os.ReadFile(pidFile); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(c.pid()) {
		t.Errorf("--pid-file holds %q (%v), the init is %d", data, err, c.pid())
	}
	n := len(c.counts())
	assertConsecutive(t, c.waitCount(n+3)) // still counting after pause and resume
	e.must("kill", c.id, "KILL")
	c.waitStatus("stopped", 10*time.Second)
	e.must("delete", c.id)
	c.assertGone(filepath.Join(cgroupRoot, cg))
}

// --leave-running: the container goes on after the checkpoint; its images restore under a new
// id, from the count of the checkpoint.
func TestCheckpointLeaveRunningRestoreNewID(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(counterScript)
	c.mustStart()
	before := len(c.waitCount(5))
	images := c.checkpoint("--leave-running")
	after := len(c.counts())
	if s := c.state(); s.Status != "running" {
		t.Fatalf("after checkpoint --leave-running: status %q", s.Status)
	}
	c.waitCount(after + 3) // still counting
	e.must("delete", "--force", c.id)
	left := len(c.counts())

	r := c.restoreAs("nbt-ck-restored-" + strconv.Itoa(os.Getpid()))
	e.must("restore", "-d", "--image-path", images, "--bundle", c.bundle, r.id)
	got := r.waitCount(left + 3)
	// The restored counter appends to the log the first container wrote: its first number
	// is one past the count at the checkpoint, somewhere between what was written before
	// checkpoint was called and what was written when it returned.
	first := got[left]
	if first < before || first > after {
		t.Fatalf("the restored counter started at %d, want the count of the checkpoint (%d..%d): %v", first, before, after, got)
	}
	for i := left + 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("the restored counter skipped from %d to %d: %v", got[i-1], got[i], got)
		}
	}
	if s := r.state(); s.ID != r.id || s.Status != "running" {
		t.Errorf("restored container: %+v", s)
	}
	if res := e.nebulon("state", c.id); res.ok() {
		t.Errorf("the old id answers after restore under a new one: %s", res.stdout)
	}
	// Without a cgroup namespace /sys/fs/cgroup is a bind of the container's cgroup: the new
	// container's, the old one's being gone.
	if res := e.must("exec", r.id, "cat", "/sys/fs/cgroup/cgroup.procs"); !strings.Contains("\n"+res.stdout, "\n1\n") {
		t.Errorf("/sys/fs/cgroup/cgroup.procs in the restored container does not list its init: %q", res.stdout)
	}
	dir := r.cgroupDir()
	e.must("delete", "--force", r.id)
	r.assertGone(dir)
}

// A pre-dump, then a dump on top of it (--parent-path), restores.
func TestCheckpointPreDump(t *testing.T) {
	e, c := startCounter(t, 5)
	pre, final := filepath.Join(e.dir, "pre"), filepath.Join(e.dir, "final")
	e.must("checkpoint", "--pre-dump", "--image-path", pre, c.id)
	if s := c.state(); s.Status != "running" {
		t.Fatalf("after a pre-dump: status %q", s.Status)
	}
	n := len(c.counts())
	c.waitCount(n + 3)
	e.must("checkpoint", "--image-path", final, "--parent-path", "../pre", c.id)
	if _, err := os.Lstat(filepath.Join(final, "parent")); err != nil {
		t.Errorf("the dump does not refer to its pre-dump: %v", err)
	}
	c.restoreCounting(final, len(c.counts()), 5)
	e.must("delete", "--force", c.id)
}

// A foreground restore exits with the container's status, and deletes it.
func TestRestoreForegroundExitCode(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(`exec </dev/null >/dev/null 2>&1; i=0; while [ $i -lt 25 ]; do echo $i >>/count.log; i=$((i+1)); sleep 0.1; done; exit 3`)
	c.mustStart()
	c.waitCount(5)
	images := c.checkpoint()
	r := e.nebulon("restore", "--image-path", images, "--bundle", c.bundle, c.id)
	if r.code != 3 {
		t.Fatalf("foreground restore: want the container's exit status 3; %s", r)
	}
	got := c.counts()
	if len(got) != 25 {
		t.Errorf("the restored counter wrote %d numbers, want 25", len(got))
	}
	assertConsecutive(t, got)
	if res := e.nebulon("state", c.id); res.ok() {
		t.Errorf("a foreground restore left its container after it exited: %s", res.stdout)
	}
}

// The restored container's cgroup has the bundle's limits, with its processes in it.
func TestRestoreLimits(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(counterScript)
	cg := "/nbtest-ck-" + c.id
	c.set("linux.cgroupsPath", cg)
	c.set("linux.resources.memory.limit", 256<<20)
	c.set("linux.resources.pids.limit", 77)
	c.set("linux.resources.cpu.quota", 50000)
	c.set("linux.resources.cpu.period", 100000)
	c.mustStart()
	c.waitCount(3)
	images := c.checkpoint()
	c.restore(images)
	dir := filepath.Join(cgroupRoot, cg)
	for file, want := range map[string]string{"memory.max": "268435456", "pids.max": "77", "cpu.max": "50000 100000"} {
		if got := readCgroupFile(t, dir, file); got != want {
			t.Errorf("%s after restore: %q, want %q", file, got, want)
		}
	}
	if got := c.cgroup(); got != cg {
		t.Errorf("the restored init is in %s, want %s", got, cg)
	}
	if res := e.must("exec", c.id, "cat", "/sys/fs/cgroup/pids.max"); strings.TrimSpace(res.stdout) != "77" {
		t.Errorf("pids.max seen in the restored container: %q, want 77", res.stdout)
	}
	procs := readCgroupFile(t, dir, "cgroup.procs")
	if !strings.Contains(" "+strings.ReplaceAll(procs, "\n", " ")+" ", " "+strconv.Itoa(c.pid())+" ") {
		t.Errorf("cgroup.procs of %s is %q, without the init %d", cg, procs, c.pid())
	}
	e.must("delete", "--force", c.id)
	c.assertGone(dir)
}

// consoleSocket listens on a unix socket and hands over the pty masters sent to it.
func consoleSocket(t *testing.T, path string) <-chan *os.File {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ch := make(chan *os.File, 1)
	go func() {
		conn, err := l.AcceptUnix()
		if err != nil {
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			return
		}
		ch <- os.NewFile(uintptr(fds[0]), "pty-master")
	}()
	return ch
}

// ptyMaster waits up to 10s for the pty master sent to a console socket (consoleSocket's
// channel), which is closed when the test ends; without one the test fails with msg.
func ptyMaster(t *testing.T, masters <-chan *os.File, msg string) *os.File {
	t.Helper()
	select {
	case master := <-masters:
		t.Cleanup(func() { master.Close() })
		return master
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
	return nil
}

// startTerminal creates the container with process.terminal set and the console socket sock,
// and starts it; it returns once the terminal (the pty master create sent there, kept open until
// the test ends) shows want.
func (c *container) startTerminal(sock, want string) {
	c.t.Helper()
	c.set("process.terminal", true)
	c.writeConfig()
	masters := consoleSocket(c.t, sock)
	if r := c.e.nebulonWith(cmdOpts{stdio: c.log}, "create", "--bundle", c.bundle, "--console-socket", sock, c.id); !r.ok() {
		c.t.Fatalf("%s", r)
	}
	master := ptyMaster(c.t, masters, "create sent no pty master to the console socket")
	c.e.must("start", c.id)
	readUntil(c.t, master, want)
}

// readUntil reads the pty master until its output holds want.
func readUntil(t *testing.T, master *os.File, want string) string {
	t.Helper()
	out := make(chan string, 1)
	go func() {
		var all []byte
		buf := make([]byte, 1024)
		for {
			n, err := master.Read(buf)
			all = append(all, buf[:n]...)
			if strings.Contains(string(all), want) || err != nil {
				out <- string(all)
				return
			}
		}
	}()
	select {
	case s := <-out:
		if !strings.Contains(s, want) {
			t.Fatalf("the terminal ended without %q: %q", want, s)
		}
		return s
	case <-time.After(30 * time.Second):
		master.Close()
		t.Fatalf("the terminal did not show %q within 30s", want)
	}
	return ""
}

// A container with a terminal: restore sends the new pty master to --console-socket, and the
// process writes on, there.
func TestCheckpointTerminal(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(`i=0; while :; do echo "tty-$i"; echo $i >>/count.log; i=$((i+1)); sleep 0.1; done`)
	c.startTerminal(filepath.Join(e.dir, "tty1.sock"), "tty-3")
	images := c.checkpoint()
	dumped := len(c.counts())

	sock2 := filepath.Join(e.dir, "tty2.sock")
	masters := consoleSocket(t, sock2)
	e.must("restore", "-d", "--image-path", images, "--bundle", c.bundle, "--console-socket", sock2, c.id)
	master2 := ptyMaster(t, masters, "restore sent no pty master to --console-socket")
	readUntil(t, master2, "tty-"+strconv.Itoa(dumped+2))
	assertConsecutive(t, c.counts())
	// Without a console socket a detached restore of a terminal container is refused.
	e.must("delete", "--force", c.id)
	res := e.nebulon("restore", "-d", "--image-path", images, "--bundle", c.bundle, c.id)
	if res.ok() || !strings.Contains(res.stderr, "console-socket") {
		t.Errorf("restore -d of a terminal container without --console-socket: %s", res)
	}
}

// A missing, empty or corrupt image directory: a clear error, and nothing left (no state, no
// cgroup, no mount).
func TestRestoreBadImages(t *testing.T) {
	e, c := startCounter(t, 3)
	images := c.checkpoint()
	corrupt := filepath.Join(e.dir, "corrupt")
	if err := copyTree(images, corrupt); err != nil {
		t.Fatal(err)
	}
	inventory := filepath.Join(corrupt, "inventory.img")
	os.Remove(inventory) // a hard link of the good one: write a new file
	if err := os.WriteFile(inventory, []byte("not a CRIU image"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(e.dir, "empty")
	os.Mkdir(empty, 0o700)
	rootfs := filepath.Join(c.bundle, "rootfs")
	before := treeList(t, rootfs)

	for _, tc := range []struct{ dir, want string }{
		{filepath.Join(e.dir, "missing"), "no such file or directory"},
		{empty, "descriptors.json"},
		{corrupt, "criu failed"},
	} {
		r := c.restoreAs("nbt-ck-bad")
		cg := "/nbtest-ck-bad"
		c.set("linux.cgroupsPath", cg)
		c.writeConfig()
		res := e.nebulon("restore", "-d", "--image-path", tc.dir, "--bundle", c.bundle, r.id)
		t.Logf("restore from %s: %s", filepath.Base(tc.dir), strings.TrimSpace(res.stderr))
		if res.ok() || !strings.Contains(res.stderr, "image") && !strings.Contains(res.stderr, "criu") || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("restore from %s: want an error with %q; %s", tc.dir, tc.want, res)
		}
		r.assertGone(filepath.Join(cgroupRoot, cg))
		if mountedUnder(t, e.root) {
			t.Errorf("restore from %s left a mount under %s", tc.dir, e.root)
		}
		if after := treeList(t, rootfs); after != before {
			t.Errorf("restore from %s changed the bundle's rootfs:\nbefore:\n%s\nafter:\n%s", tc.dir, before, after)
		}
	}
	// The good images still restore.
	c.restore(images)
	c.waitCount(len(c.counts()) + 2)
	e.must("delete", "--force", c.id)
}

// --page-server: the memory goes to a CRIU page server (on loopback), the rest to the image
// directory; together they restore.
func TestCheckpointPageServer(t *testing.T) {
	e, c := startCounter(t, 5)
	pages, images := filepath.Join(e.dir, "pages"), filepath.Join(e.dir, "images")
	os.Mkdir(pages, 0o700)
	const port = 27277
	ps := exec.Command("criu", "page-server", "--images-dir", pages, "--address", "127.0.0.1", "--port", strconv.Itoa(port))
	psLog, err := os.Create(filepath.Join(e.dir, "page-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer psLog.Close()
	ps.Stdout, ps.Stderr = psLog, psLog
	if err := ps.Start(); err != nil {
		t.Fatal(err)
	}
	psDone := make(chan error, 1)
	go func() { psDone <- ps.Wait() }()
	t.Cleanup(func() { ps.Process.Kill(); <-psDone })
	// The server serves one connection: it is waited for in /proc/net/tcp, not probed.
	listening := fmt.Sprintf(":%04X 00000000:0000 0A", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile("/proc/net/tcp")
		if strings.Contains(string(data), listening) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("criu page-server does not listen on port %d within 10s", port)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.must("checkpoint", "--page-server", "127.0.0.1:"+strconv.Itoa(port), "--image-path", images, c.id)
	select {
	case <-psDone:
	case <-time.After(30 * time.Second):
		t.Fatal("criu page-server did not end after the dump")
	}
	psDone <- nil // for the cleanup's receive
	got, _ := filepath.Glob(filepath.Join(pages, "pages-*.img"))
	if len(got) == 0 {
		t.Fatalf("the page server received no pages: %v", got)
	}
	if local, _ := filepath.Glob(filepath.Join(images, "pages-*.img")); len(local) != 0 {
		t.Errorf("pages were written to the image directory too: %v", local)
	}
	dumped := len(c.counts())
	// The page server's images (pages and pagemaps) complete the image directory.
	entries, err := os.ReadDir(pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		data, err := os.ReadFile(filepath.Join(pages, ent.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(images, ent.Name()), data, 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c.restoreCounting(images, dumped, 5)
	e.must("delete", "--force", c.id)
}

// --lazy-pages: checkpoint serves the memory from a page server and says so on --status-fd;
// a container restored with --lazy-pages (under a new id: the dumped one is left until the last
// page has gone) fetches its pages through `criu lazy-pages` and goes on counting; checkpoint
// then ends, the dumped container gone.
func TestCheckpointLazyPages(t *testing.T) {
	e, c := startCounter(t, 5)
	images := filepath.Join(e.dir, "images")
	statusR, statusW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer statusR.Close()
	const port = "27278"
	ckLog, err := os.Create(filepath.Join(e.dir, "checkpoint.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer ckLog.Close()
	ck := exec.Command(nebulonBin, "--root", e.root, "checkpoint", "--lazy-pages", "--page-server", "127.0.0.1:"+port,
		"--status-fd", "3", "--work-path", images, "--image-path", images, c.id)
	ck.Stdout, ck.Stderr, ck.ExtraFiles = ckLog, ckLog, []*os.File{statusW}
	if err := ck.Start(); err != nil {
		t.Fatal(err)
	}
	statusW.Close()
	ckDone := make(chan error, 1)
	go func() { ckDone <- ck.Wait() }()
	defer func() {
		ck.Process.Kill()
		<-ckDone
	}()
	ready := make(chan []byte, 1)
	go func() {
		b := make([]byte, 1)
		n, _ := statusR.Read(b)
		ready <- b[:n]
	}()
	select {
	case b := <-ready:
		if len(b) != 1 || b[0] != 0 {
			log, _ := os.ReadFile(ckLog.Name())
			t.Fatalf("--status-fd got %q, want \\0; checkpoint's output: %s", b, log)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("checkpoint --lazy-pages wrote nothing to --status-fd within 60s")
	}
	dumped := len(c.counts())
	lp := exec.Command("criu", "lazy-pages", "--page-server", "--address", "127.0.0.1", "--port", port, "-D", images)
	lpLog, err := os.Create(filepath.Join(e.dir, "lazy-pages.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer lpLog.Close()
	lp.Stdout, lp.Stderr = lpLog, lpLog
	if err := lp.Start(); err != nil {
		t.Fatal(err)
	}
	lpDone := make(chan error, 1)
	go func() { lpDone <- lp.Wait() }()
	defer func() {
		lp.Process.Kill()
		<-lpDone
	}()
	r := c.restoreAs("nbt-ck-lazy-" + strconv.Itoa(os.Getpid()))
	e.must("restore", "-d", "--lazy-pages", "--work-path", images, "--image-path", images, "--bundle", c.bundle, r.id)
	assertConsecutive(t, r.waitCount(dumped+5))
	select {
	case err := <-ckDone:
		ckDone <- err
		if err != nil {
			log, _ := os.ReadFile(ckLog.Name())
			t.Fatalf("checkpoint --lazy-pages: %v: %s", err, log)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("checkpoint --lazy-pages did not end within 60s of the restore")
	}
	if res := e.nebulon("state", c.id); res.ok() {
		t.Errorf("the lazily dumped container is still there: %s", res.stdout)
	}
	e.must("delete", "--force", r.id)
}

// A container with a seccomp filter, in a network namespace it joined by path (another
// container's): restored, the init has its filter still (mkdir refused), and is in that
// namespace again, which CRIU takes as external.
func TestCheckpointSeccompJoinedNetns(t *testing.T) {
	e := newCriuEnv(t)
	holder := e.newContainer("sleep", "600")
	holder.mustStart()
	netns := fmt.Sprintf("/proc/%d/ns/net", holder.pid())
	c := e.newCounter(`exec </dev/null >/dev/null 2>&1; i=0; while :; do mkdir /made-$i && echo MKDIR-ALLOWED >>/count.log; echo $i >>/count.log; i=$((i+1)); sleep 0.1; done`)
	c.set("linux.seccomp", map[string]any{
		"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls":      []map[string]any{{"names": []string{"mkdir", "mkdirat"}, "action": "SCMP_ACT_ERRNO"}},
	})
	var nss []map[string]any
	for _, ns := range c.config["linux"].(map[string]any)["namespaces"].([]any) {
		m := ns.(map[string]any)
		if m["type"] == "network" {
			m["path"] = netns
		}
		nss = append(nss, m)
	}
	c.set("linux.namespaces", nss)
	c.mustStart()
	c.waitCount(3)
	images := c.checkpoint()
	dumped := len(c.counts())
	c.restoreCounting(images, dumped, 5)
	pid := c.pid()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(status), "Seccomp:\t2") {
		t.Errorf("the restored init has no seccomp filter:\n%s", status)
	}
	data, _ := os.ReadFile(filepath.Join(c.bundle, "rootfs/count.log"))
	if strings.Contains(string(data), "MKDIR-ALLOWED") {
		t.Errorf("mkdir was allowed in the container")
	}
	want, _ := os.Readlink(netns)
	if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); got != want || want == "" {
		t.Errorf("the restored init is in network namespace %q, want the joined %q", got, want)
	}
	e.must("delete", "--force", c.id)
}

// A checkpoint refused (a created container; a bad flag) changes nothing: no image directory.
func TestCheckpointRefusedLeavesNothing(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(counterScript)
	c.mustCreate()
	images := filepath.Join(e.dir, "images")
	r := e.nebulon("checkpoint", "--image-path", images, c.id)
	if r.ok() || !strings.Contains(r.stderr, "created") {
		t.Errorf("checkpoint of a created container: %s", r)
	}
	e.must("start", c.id)
	c.waitCount(2)
	for _, args := range [][]string{
		{"--manage-cgroups-mode", "hard"},
		{"--page-server", "nowhere"},
		{"--status-fd", "1"}, // without --lazy-pages
		{"--empty-ns", "pid"},
	} {
		r := e.nebulon(append(append([]string{"checkpoint", "--image-path", images}, args...), c.id)...)
		if r.ok() || !strings.Contains(r.stderr, args[0]) {
			t.Errorf("checkpoint %v: want an error naming %s; %s", args, args[0], r)
		}
	}
	if exists(images) {
		t.Errorf("a refused checkpoint made %s", images)
	}
	if s := c.state(); s.Status != "running" {
		t.Errorf("after refused checkpoints: %q", s.Status)
	}
}

// runc's other CRIU flags reach CRIU and the container still restores: the logs go to
// --work-path, the images stay apart.
func TestCheckpointRestoreWithFlags(t *testing.T) {
	e, c := startCounter(t, 3)
	images, work := filepath.Join(e.dir, "images"), filepath.Join(e.dir, "work")
	flags := []string{"--tcp-established", "--ext-unix-sk", "--shell-job", "--file-locks", "--auto-dedup",
		"--manage-cgroups-mode", "soft", "--empty-ns", "network", "--work-path", work, "--image-path", images}
	e.must(append(append([]string{"checkpoint", "--link-remap", "--tcp-skip-in-flight"}, flags...), c.id)...)
	if !exists(filepath.Join(work, "dump.log")) || exists(filepath.Join(images, "dump.log")) {
		t.Errorf("dump.log is not in --work-path alone")
	}
	dumped := len(c.counts())
	e.must(append(append([]string{"restore", "-d", "--bundle", c.bundle}, flags...), c.id)...)
	if !exists(filepath.Join(work, "restore.log")) {
		t.Errorf("restore.log is not in --work-path")
	}
	assertConsecutive(t, c.waitCount(dumped+3))
	e.must("delete", "--force", c.id)
}

// A paused container checkpoints (CRIU freezes through its cgroup, frozen already): with
// --leave-running it stays paused; then dumped, it restores running.
func TestCheckpointPaused(t *testing.T) {
	e, c := startCounter(t, 3)
	e.must("pause", c.id)
	paused := len(c.counts())
	e.must("checkpoint", "--leave-running", "--image-path", filepath.Join(e.dir, "first"), c.id)
	if s := c.state(); s.Status != "paused" {
		t.Errorf("after checkpoint --leave-running of a paused container: %q", s.Status)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(c.counts()); n != paused {
		t.Errorf("the paused counter went on during its checkpoint: %d numbers, then %d", paused, n)
	}
	images := c.checkpoint()
	c.restoreCounting(images, paused, 3)
	if s := c.state(); s.Status != "running" {
		t.Errorf("restored from a paused container: %q", s.Status)
	}
	e.must("delete", "--force", c.id)
}

// A restore killed while CRIU runs (here, in a prestart hook) leaves its bind of the rootfs in
// the state directory: delete --force unmounts it rather than deleting the bundle's rootfs
// through it.
func TestRestoreKilledDeleteKeepsRootfs(t *testing.T) {
	e, c := startCounter(t, 3)
	images := c.checkpoint()
	hookPid := filepath.Join(e.dir, "hook.pid")
	c.set("hooks.prestart", []any{map[string]any{
		"path": "/bin/sh", "args": []string{"sh", "-c", "echo $$ >" + hookPid + ".tmp; mv " + hookPid + ".tmp " + hookPid + "; exec sleep 120"},
	}})
	c.writeConfig()
	cmd := exec.Command(nebulonBin, "--root", e.root, "restore", "-d", "--image-path", images, "--bundle", c.bundle, c.id)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	var pid int
	for {
		data, err := os.ReadFile(hookPid)
		if err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("restore did not run its prestart hook within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer unix.Kill(pid, unix.SIGKILL)
	if !mountedUnder(t, e.root) {
		t.Fatalf("nothing mounted under %s while CRIU runs: the test does not interrupt a restore", e.root)
	}
	cmd.Process.Signal(unix.SIGKILL)
	cmd.Wait()
	e.must("delete", "--force", c.id)
	for _, f := range []string{"bin/sh", "count.log"} {
		if _, err := os.Stat(filepath.Join(c.bundle, "rootfs", f)); err != nil {
			t.Errorf("after delete --force of the killed restore, the rootfs lost %s: %v", f, err)
		}
	}
	if mountedUnder(t, e.root) {
		t.Errorf("delete --force of the killed restore left a mount under %s", e.root)
	}
	c.assertGone("")
}

// A foreground restore of a container with a terminal relays the new pty to its own stdout, and
// exits with the container's status.
func TestRestoreTerminalForeground(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(`i=0; while [ $i -lt 30 ]; do echo "tty-$i"; echo $i >>/count.log; i=$((i+1)); sleep 0.1; done; exit 4`)
	c.startTerminal(filepath.Join(e.dir, "tty.sock"), "tty-3")
	images := c.checkpoint()
	r := e.nebulon("restore", "--image-path", images, "--bundle", c.bundle, c.id)
	if r.code != 4 || !strings.Contains(r.stdout, "tty-29") {
		t.Fatalf("foreground restore of a terminal: want exit status 4 and tty-29 relayed to stdout; %s", r)
	}
	assertConsecutive(t, c.counts())
}

// process.terminal true for a checkpoint whose init had no terminal: CRIU sends no pty, and
// restore fails naming process.terminal rather than waiting for one (foreground) or sending
// none (detached); nothing is left.
func TestRestoreTerminalMismatch(t *testing.T) {
	e := newCriuEnv(t)
	c := e.newCounter(counterScript)
	cg := "/nbtest-ck-tty-" + c.id
	c.set("linux.cgroupsPath", cg)
	c.mustStart()
	c.waitCount(3)
	images := c.checkpoint()
	c.set("process.terminal", true)
	c.writeConfig()
	sock := filepath.Join(e.dir, "tty.sock")
	consoleSocket(t, sock)
	for _, args := range [][]string{
		{"restore", "-d", "--console-socket", sock},
		{"restore"},
	} {
		res := e.nebulon(append(args, "--image-path", images, "--bundle", c.bundle, c.id)...)
		if res.ok() || !strings.Contains(res.stderr, "process.terminal") || !strings.Contains(res.stderr, images) {
			t.Errorf("%v of a checkpoint without a terminal, process.terminal true: want an error naming process.terminal and %s; %s", args, images, res)
		}
		c.assertGone(filepath.Join(cgroupRoot, cg))
		if mountedUnder(t, e.root) {
			t.Errorf("%v left a mount under %s", args, e.root)
		}
	}
	c.set("process.terminal", false)
	c.writeConfig()
	c.restore(images)
	c.waitCount(len(c.counts()) + 2)
}

// treeList lists the files under dir with their types and sizes, one a line.
func treeList(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		size := info.Size()
		if d.IsDir() {
			size = 0
		}
		fmt.Fprintf(&b, "%s %v %d\n", strings.TrimPrefix(path, dir), info.Mode().Type(), size)
		return nil
	})
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	return b.String()
}

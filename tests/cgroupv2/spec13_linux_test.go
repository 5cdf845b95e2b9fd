package cgroupv2

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runtime-spec 1.3 fields whose behaviour depends on cgroup v2 or on the kernel: pids.limit 0
// (a real limit, which a process born in the cgroup would break), exec into a container that
// uses all of its pids.max, and id-mapped and recursive read-only mounts on the guest's kernel.

// pids.limit 0 is a limit (config-linux.md#pids): pids.max is 0, the container's process runs,
// exec still reaches it, as under runc (a move into a cgroup is not held to its pids limit; a
// birth in it is), and neither can fork. busybox sh gives up on a failed fork, so the process
// forks nothing and the forks are tried by exec'd shells.
func TestPidsLimitZero(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sleep", "1000")
	c.set("linux.resources.pids.limit", 0)
	c.mustCreate()
	dir := c.cgroupDir()
	if got := readCgroupFile(t, dir, "pids.max"); got != "0" {
		t.Errorf("pids.max %q, want 0", got)
	}
	e.must("start", c.id)
	r := e.must("exec", c.id, "cat", "/proc/self/cgroup")
	if strings.TrimSpace(r.stdout) != "0::/" {
		t.Errorf("exec: %q, want it in the container's cgroup (0::/ in its cgroup namespace)", r.stdout)
	}
	assertCannotFork(t, c)
	e.must("delete", "--force", c.id)
	c.assertGone(dir)
}

// A container that uses all of its pids.max still takes an exec, as under runc; the exec'd
// process is then held to the limit like the others.
func TestExecIntoFullPidsCgroup(t *testing.T) {
	e := newEnv(t)
	// The shell and 19 sleeps are 20 tasks; exec replaces the shell.
	c := e.newContainer("sh", "-c", `i=1; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done; exec sleep 1000`)
	c.set("linux.resources.pids.limit", 20)
	c.mustStart()
	dir := c.cgroupDir()
	deadline := time.Now().Add(20 * time.Second)
	for readCgroupFile(t, dir, "pids.current") != "20" {
		if time.Now().After(deadline) {
			t.Fatalf("pids.current %s after 20s, want 20 (pids.max 20)", readCgroupFile(t, dir, "pids.current"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := e.must("exec", c.id, "echo", "exec-ran")
	if strings.TrimSpace(r.stdout) != "exec-ran" {
		t.Errorf("exec into a full cgroup: stdout %q, want exec-ran", r.stdout)
	}
	assertCannotFork(t, c)
	e.must("delete", "--force", c.id)
	c.assertGone(dir)
}

// assertCannotFork fails the test unless a shell exec'd in c fails to fork with EAGAIN.
func assertCannotFork(t *testing.T, c *container) {
	t.Helper()
	r := c.e.nebulon("exec", c.id, "sh", "-c", `(true) && echo forked`)
	if r.ok() || strings.Contains(r.stdout, "forked") || !strings.Contains(r.stderr, "Resource temporarily unavailable") {
		t.Errorf("a shell exec'd in the container forked, or not with EAGAIN:\n%s", r)
	}
}

// An id-mapped bind mount (mounts[].uidMappings, gidMappings) of a directory on tmpfs: tmpfs can
// be id-mapped from Linux 6.3. Before, create fails naming the mount and leaves nothing; from
// then on, the files' owners are mapped inside.
func TestIDMappedBindOfTmpfs(t *testing.T) {
	e := newEnv(t)
	src := filepath.Join(e.dir, "idmap-src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// A tmpfs of its own: the guest's /tmp may be another filesystem (ext4 in tests/systemd's).
	if err := syscall.Mount("tmpfs", src, "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(src, syscall.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(src, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(src, "f"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	c := e.newContainer("sh", "-c", `stat -c "%u:%g" /idm/f`)
	c.unset("linux.cgroupsPath")
	idmap := []any{map[string]any{"containerID": 0, "hostID": 1000, "size": 1}}
	c.set("mounts", append(c.config["mounts"].([]any), map[string]any{
		"destination": "/idm", "type": "bind", "source": src, "options": []any{"bind"},
		"uidMappings": idmap, "gidMappings": idmap,
	}))
	n := len(c.config["mounts"].([]any)) - 1
	if kernelAtLeast(t, 6, 3) {
		r := c.run()
		if !r.ok() || c.output() != "0:0\n" {
			t.Errorf("owner of /idm/f: %q (%s), want 0:0 (host 1000:1000 mapped to 0)", c.output(), r)
		}
		return
	}
	r := c.create()
	if r.ok() {
		t.Fatalf("create with an id-mapped tmpfs bind succeeded on a kernel before 6.3")
	}
	want := "mounts[" + strconv.Itoa(n) + "] (" + src + " on /idm): id-mapped mount"
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "cannot be id-mapped") {
		t.Errorf("create: %s\nwant an error naming %q and why", r, want)
	}
	c.assertGone(filepath.Join(cgroupRoot, c.id))
}

// rro (runtime-spec 1.1: MOUNT_ATTR_RDONLY with AT_RECURSIVE) makes a bind mount read-only with
// every mount below it; a plain ro bind leaves a submount writable.
func TestRecursiveReadOnlyBind(t *testing.T) {
	e := newEnv(t)
	src := filepath.Join(e.dir, "rro-src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", filepath.Join(src, "sub"), "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(src, "sub"), unix.MNT_DETACH) })
	for _, tc := range []struct {
		opt, want string
	}{
		{"rro", "sub: read-only"},
		{"ro", "sub: written"},
	} {
		c := e.newContainer("sh", "-c", `touch /m/sub/x 2>/dev/null && echo "sub: written" || echo "sub: read-only"`)
		c.set("mounts", append(c.config["mounts"].([]any), map[string]any{
			"destination": "/m", "type": "bind", "source": src, "options": []any{"rbind", tc.opt},
		}))
		if r := c.run(); !r.ok() || strings.TrimSpace(c.output()) != tc.want {
			t.Errorf("%s bind: %q (%s), want %q", tc.opt, c.output(), r, tc.want)
		}
	}
}

func waitOutput(t *testing.T, c *container, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(c.output(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q from the container within 20s; output:\n%s", want, c.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kernelAtLeast reports whether the running kernel is major.minor or newer.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", unix.ByteSliceToString(u.Release[:]), err)
	}
	return ma > major || (ma == major && mi >= minor)
}

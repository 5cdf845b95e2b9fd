package cgroupv2

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// createAndCheckCgroup creates c, checks that its init sits in cgroup want (and is the cgroup's
// only process), starts it, deletes it and checks the cgroup and state are gone.
func createAndCheckCgroup(t *testing.T, c *container, want string) {
	t.Helper()
	c.mustCreate()
	pid := c.pid()
	if got := c.cgroup(); got != want {
		t.Fatalf("/proc/%d/cgroup: 0::%s, want 0::%s", pid, got, want)
	}
	dir := filepath.Join(cgroupRoot, want)
	if procs := readCgroupFile(t, dir, "cgroup.procs"); procs != strconv.Itoa(pid) {
		t.Errorf("%s/cgroup.procs = %q, want the init alone (%d)", dir, procs, pid)
	}
	c.e.must("start", c.id)
	c.e.must("delete", "--force", c.id)
	c.assertGone(dir)
}

func TestCgroupIsSlashIDWhenCgroupsPathIsAbsent(t *testing.T) {
	cgroupfsOnly(t)
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	c.unset("linux.cgroupsPath")
	createAndCheckCgroup(t, c, "/"+c.id)
}

func TestAbsoluteCgroupsPathIsUsedAsIs(t *testing.T) {
	cgroupfsOnly(t)
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	parent := "/nbtest-abs-" + c.id
	t.Cleanup(func() { removeCgroup(filepath.Join(cgroupRoot, parent)) })
	c.set("linux.cgroupsPath", parent+"/ctr")
	createAndCheckCgroup(t, c, parent+"/ctr")
	if !exists(filepath.Join(cgroupRoot, parent)) {
		t.Errorf("delete removed the parent cgroup %s, which the container does not own", parent)
	}
}

// A cgroup made below new intermediate cgroups still gets its controllers: cgroup v2 offers a
// controller to a child only when the parent lists it in cgroup.subtree_control
// (Documentation/admin-guide/cgroup-v2.rst, "Enabling and Disabling"), so the runtime enables
// them on the way down, as runc and crun do.
func TestNestedCgroupsPathGetsControllers(t *testing.T) {
	cgroupfsOnly(t)
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	parent := "/nbtest-nested-" + c.id
	t.Cleanup(func() { removeCgroup(filepath.Join(cgroupRoot, parent)) })
	c.set("linux.cgroupsPath", parent+"/a/b")
	c.set("linux.resources.pids.limit", 42)
	c.mustCreate()
	dir := filepath.Join(cgroupRoot, parent, "a/b")
	if got := c.cgroupDir(); got != dir {
		t.Fatalf("cgroup %s, want %s", got, dir)
	}
	if got := readCgroupFile(t, dir, "pids.max"); got != "42" {
		t.Errorf("pids.max = %s, want 42", got)
	}
}

func TestRelativeCgroupsPath(t *testing.T) {
	cgroupfsOnly(t)
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	parent := "nbtest-rel-" + c.id
	t.Cleanup(func() { removeCgroup(filepath.Join(cgroupRoot, parent)) })
	c.set("linux.cgroupsPath", parent+"/ctr")
	// The test, so nebulon, runs in the root cgroup: relative and absolute agree.
	createAndCheckCgroup(t, c, "/"+parent+"/ctr")
}

// On cgroup v2 runc resolves a relative cgroupsPath against the parent of its own cgroup
// (libcontainer/cgroups/fs2/defaultpath.go): its own cgroup holds processes (it, and often the
// engine), and the no-internal-process rule would keep controllers from any cgroup below it.
// Here nebulon runs in /nbrunner-<id> and the container must land in /<relative path>, with its
// pids limit applied.
func TestRelativeCgroupsPathIsBesideTheRuntimesCgroup(t *testing.T) {
	cgroupfsOnly(t)
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	runner := filepath.Join(cgroupRoot, "nbrunner-"+c.id)
	rel := "nbtest-relp-" + c.id
	t.Cleanup(func() {
		removeCgroup(runner)
		removeCgroup(filepath.Join(cgroupRoot, rel))
	})
	if err := os.Mkdir(runner, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.Open(runner)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	c.set("linux.cgroupsPath", rel+"/ctr")
	c.set("linux.resources.pids.limit", 42)
	if r := c.createWith(cmdOpts{cgroup: dir}); !r.ok() {
		t.Fatalf("%s", r)
	}
	if got, want := c.cgroup(), "/"+rel+"/ctr"; got != want {
		t.Fatalf("nebulon running in %s put the container in %s, want %s (runc's rule)", strings.TrimPrefix(runner, cgroupRoot), got, want)
	}
	if got := readCgroupFile(t, c.cgroupDir(), "pids.max"); got != "42" {
		t.Errorf("pids.max = %s, want 42", got)
	}
}

func TestDeleteRemovesCgroupAfterKill9(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	c.mustStart()
	pid := c.pid()
	dir := c.cgroupDir()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.waitStatus("stopped", 10*time.Second)
	e.must("delete", c.id)
	c.assertGone(dir)
}

// Cgroup v2 lets a fatal signal through the freezer (kernel/cgroup/freezer.c), so delete --force
// of a frozen container ends its processes and removes the cgroup; runc thaws it too, for the
// processes to see SIGKILL at once. Frozen here through cgroup.freeze itself, as an engine or an
// administrator may do; `nebulon pause` has its own test.
func TestDeleteForceRemovesFrozenContainer(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sleep", "60")
	c.mustStart()
	dir := c.cgroupDir()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.freeze"), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	waitCgroupEvent(t, dir, "frozen", 1)
	e.must("delete", "--force", c.id)
	c.assertGone(dir)
}

// waitCgroupEvent waits until cgroup.events has key = want.
func waitCgroupEvent(t *testing.T, dir, key string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := cgroupKeyed(t, dir, "cgroup.events")[key]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/cgroup.events: %s %d, want %d", dir, key, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The default spec of `nebulon spec`, device rules included, runs unchanged on a v2 host.
func TestDefaultSpecRuns(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("true")
	c.set("linux.resources.devices", c.specDevices)
	if r := c.run(); !r.ok() {
		t.Fatalf("%s", r)
	}
	c.assertGone(filepath.Join(cgroupRoot, c.id))
}

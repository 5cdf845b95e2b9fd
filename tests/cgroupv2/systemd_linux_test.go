package cgroupv2

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The systemd cgroup driver (--systemd-cgroup), in tests/systemd/run.sh's guest: systemd as PID
// 1 on cgroup v2, with podman and containerd installed. The rest of the suite runs there with
// the driver too (harness: systemdDriver).

// systemdEnv skips a test of the driver outside that guest.
func systemdEnv(t *testing.T) *env {
	t.Helper()
	if !systemdDriver {
		t.Skip("runs with the systemd driver, in tests/systemd/run.sh's guest (NEBULON_CGROUPV2_SYSTEMD=1)")
	}
	return newEnv(t)
}

// command runs name with args, bounded by commandTimeout, and returns its combined output.
func command(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w", commandTimeout, ctx.Err())
	}
	return string(out), err
}

// mustCommand is command that fails the test on an error.
func mustCommand(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := command(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// unitProps reads properties of a unit with `systemctl show`.
func unitProps(t *testing.T, unit string, names ...string) map[string]string {
	t.Helper()
	out := mustCommand(t, "systemctl", "show", "-p", strings.Join(names, ","), unit)
	props := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	return props
}

func assertProps(t *testing.T, unit string, want map[string]string) {
	t.Helper()
	names := make([]string, 0, len(want))
	for k := range want {
		names = append(names, k)
	}
	got := unitProps(t, unit, names...)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s=%q, want %q", unit, k, got[k], w)
		}
	}
}

// assertNoUnit waits until systemd no longer knows the unit: a stopped transient unit is
// collected moments after its stop job. systemctl failing (systemd re-executing) is asked again.
func assertNoUnit(t *testing.T, unit string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := command(t, "systemctl", "show", "-p", "LoadState,ActiveState", unit)
		if err == nil && strings.Contains(out, "LoadState=not-found") {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("unit %s is still there 10 s after its container was deleted (%v):\n%s", unit, err, out)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An empty cgroupsPath is runc's default under the driver: the scope nebulon-ID.scope in
// system.slice, delegated, with the init in it; kill --all ends the container, and once it is
// deleted its unit and cgroup are gone.
func TestSystemdScopeForEmptyCgroupsPath(t *testing.T) {
	e := systemdEnv(t)
	c := e.newContainer("sleep", "600")
	c.unset("linux.cgroupsPath")
	unit := "nebulon-" + c.id + ".scope"
	want := "/system.slice/" + unit
	c.mustCreate()
	if got := c.cgroup(); got != want {
		t.Fatalf("the init is in cgroup %s, want %s", got, want)
	}
	assertProps(t, unit, map[string]string{
		"ActiveState": "active", "Delegate": "yes", "ControlGroup": want, "Slice": "system.slice",
	})
	e.must("start", c.id)
	e.must("kill", "--all", c.id, "KILL")
	c.waitStatus("stopped", 30*time.Second)
	e.must("delete", c.id)
	c.assertGone(filepath.Join(cgroupRoot, want))
	assertNoUnit(t, unit)
}

// org.systemd.property.NAME annotations set the unit's properties, as runc's do, a NAMESec number
// as NAMEUSec; a malformed one fails create, naming the annotation, and leaves no unit.
func TestSystemdPropertyAnnotations(t *testing.T) {
	e := systemdEnv(t)
	c := e.newContainer("sleep", "600")
	c.unset("linux.cgroupsPath")
	c.set("annotations", map[string]string{
		"org.systemd.property.TimeoutStopSec": "7",
		"org.systemd.property.CollectMode":    "'inactive-or-failed'",
		"org.systemd.property.Description":    "'nebulon annotated'",
	})
	unit := "nebulon-" + c.id + ".scope"
	c.mustCreate()
	assertProps(t, unit, map[string]string{
		"TimeoutStopUSec": "7s", "CollectMode": "inactive-or-failed", "Description": "nebulon annotated",
		"Delegate": "yes", "ActiveState": "active",
	})
	e.must("delete", "--force", c.id)
	assertNoUnit(t, unit)

	for key, value := range map[string]string{
		"org.systemd.property.TimeoutStopSec": "'seven'",
		"org.systemd.property.CollectMode":    "inactive",
		"org.systemd.property.Bad-Name":       "1",
	} {
		c := e.newContainer("true")
		c.unset("linux.cgroupsPath")
		c.set("annotations", map[string]string{key: value})
		r := c.create()
		if r.ok() {
			t.Errorf("%s=%s: create succeeded", key, value)
			continue
		}
		if !strings.Contains(r.stderr, "annotations") || !strings.Contains(r.stderr, key) {
			t.Errorf("%s=%s: the error does not name the annotation:\n%s", key, value, r.stderr)
		}
		if s := e.nebulon("state", c.id); s.ok() {
			t.Errorf("%s=%s: a failed create left the container: %s", key, value, s.stdout)
		}
		assertNoUnit(t, "nebulon-"+c.id+".scope")
	}
}

// "slice:prefix:name": the scope prefix-name.scope in slice, a nested slice's dashes expanded
// into parent slices as systemd does.
func TestSystemdSlicePrefixName(t *testing.T) {
	e := systemdEnv(t)
	c := e.newContainer("sleep", "600")
	c.set("linux.cgroupsPath", "nbtest-a-b.slice:pfx:"+c.id)
	t.Cleanup(func() { command(t, "systemctl", "stop", "nbtest-a-b.slice", "nbtest-a.slice", "nbtest.slice") })
	unit := "pfx-" + c.id + ".scope"
	want := "/nbtest.slice/nbtest-a.slice/nbtest-a-b.slice/" + unit
	c.mustCreate()
	if got := c.cgroup(); got != want {
		t.Fatalf("the init is in cgroup %s, want %s", got, want)
	}
	assertProps(t, unit, map[string]string{"Slice": "nbtest-a-b.slice", "ActiveState": "active"})
	e.must("delete", "--force", c.id)
	c.assertGone(filepath.Join(cgroupRoot, want))
	assertNoUnit(t, unit)
}

// Each limit is in the unit's properties and in the cgroup files; a daemon-reload, which makes
// systemd write its properties to the files again, keeps them, also after an update.
func TestSystemdLimitsInUnitAndFilesSurviveDaemonReload(t *testing.T) {
	e := systemdEnv(t)
	c := e.newContainer("sleep", "600")
	c.set("linux.resources.memory.limit", 64<<20)
	c.set("linux.resources.memory.reservation", 32<<20)
	c.set("linux.resources.cpu.quota", 50000)
	c.set("linux.resources.cpu.period", 100000)
	c.set("linux.resources.cpu.shares", 512)
	c.set("linux.resources.cpu.cpus", "0")
	c.set("linux.resources.pids.limit", 40)
	c.mustStart()
	dir := c.cgroupDir()
	unit := filepath.Base(dir)
	weight := strconv.FormatUint(cpuWeight(512), 10)
	files := map[string]string{
		"memory.max": strconv.Itoa(64 << 20), "memory.low": strconv.Itoa(32 << 20), "cpu.max": "50000 100000",
		"cpu.weight": weight, "pids.max": "40", "cpuset.cpus": "0",
	}
	props := map[string]string{
		"MemoryMax": strconv.Itoa(64 << 20), "MemoryLow": strconv.Itoa(32 << 20), "CPUQuotaPerSecUSec": "500ms",
		"CPUWeight": weight, "TasksMax": "40", "AllowedCPUs": "0",
	}
	check := func(when string) {
		t.Helper()
		for file, w := range files {
			if got := readCgroupFile(t, dir, file); got != w {
				t.Errorf("%s: %s = %q, want %q", when, file, got, w)
			}
		}
		assertProps(t, unit, props)
	}
	check("created")
	mustCommand(t, "systemctl", "daemon-reload")
	check("after daemon-reload")

	e.must("update", "--memory", "128M", "--pids-limit", "60", "--cpu-quota", "25000", c.id)
	files["memory.max"], files["pids.max"], files["cpu.max"] = strconv.Itoa(128<<20), "60", "25000 100000"
	props["MemoryMax"], props["TasksMax"], props["CPUQuotaPerSecUSec"] = strconv.Itoa(128<<20), "60", "250ms"
	check("updated")
	mustCommand(t, "systemctl", "daemon-reload")
	check("updated, after daemon-reload")
}

// A cgroupsPath the driver or systemd would refuse fails create with an error naming it, and
// leaves no container, unit or cgroup.
func TestSystemdBadCgroupsPathChangesNothing(t *testing.T) {
	e := systemdEnv(t)
	for _, path := range []string{"a:b", "/nbtest/ctr", "nbtest.slice:p:a/b", "nbtest--a.slice:p:x", "nbtest:p:x", "nbtest.slice:p:bad name"} {
		c := e.newContainer("true")
		c.set("linux.cgroupsPath", path)
		r := c.create()
		if r.ok() {
			t.Errorf("cgroupsPath %q: create succeeded", path)
			continue
		}
		if !strings.Contains(r.stderr, "cgroupsPath") || !strings.Contains(r.stderr, path) {
			t.Errorf("cgroupsPath %q: the error does not name the field and value:\n%s", path, r.stderr)
		}
		if s := e.nebulon("state", c.id); s.ok() {
			t.Errorf("cgroupsPath %q: a failed create left the container: %s", path, s.stdout)
		}
	}
	if out := mustCommand(t, "systemctl", "list-units", "--all", "--plain", "--no-legend", "p-*", "nebulon-nbt*"); strings.TrimSpace(out) != "" {
		t.Errorf("failed creates left units:\n%s", out)
	}
}

// 50 containers run and deleted with the driver leave no unit and no cgroup.
func TestSystemdFiftyContainersLeaveNothing(t *testing.T) {
	e := systemdEnv(t)
	for i := 0; i < 50; i++ {
		c := e.newContainer("true")
		c.unset("linux.cgroupsPath")
		c.set("linux.resources.memory.limit", 32<<20)
		c.set("linux.resources.pids.limit", 20)
		// run deletes the container once its process has exited, as runc's does.
		if r := c.run(); !r.ok() {
			t.Fatalf("container %d: %s", i, r)
		}
		if r := e.nebulon("state", c.id); r.ok() {
			t.Fatalf("container %d is still there after run: %s", i, r.stdout)
		}
	}
	out := mustCommand(t, "systemctl", "list-units", "--all", "--plain", "--no-legend", "nebulon-nbt*")
	if strings.TrimSpace(out) != "" {
		t.Errorf("units left after 50 containers were deleted:\n%s", out)
	}
	entries, err := os.ReadDir(filepath.Join(cgroupRoot, "system.slice"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range entries {
		if strings.HasPrefix(d.Name(), "nebulon-nbt") {
			t.Errorf("cgroup left after 50 containers were deleted: system.slice/%s", d.Name())
		}
	}
}

// The engines' test image: the suite's busybox rootfs, imported into podman once.
var podmanImage = sync.OnceValues(func() (string, error) {
	const name = "localhost/nbtest-busybox:latest"
	ctx, cancel := context.WithTimeout(context.Background(), 2*commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -c . | podman import - "$2"`, "sh", rootfsTemplate, name)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("podman import: %v\n%s", err, out)
	}
	return name, nil
})

// podman with cgroup_manager = "systemd" and nebulon as its runtime (the guest's
// containers.conf) runs, execs in, updates and stops a container with memory, CPU and pids
// limits; its scope carries them, and is gone with the container.
func TestPodmanSystemdRunExecUpdateStop(t *testing.T) {
	systemdEnv(t)
	image, err := podmanImage()
	if err != nil {
		t.Fatal(err)
	}
	name := "nbtest-podman"
	command(t, "podman", "rm", "-f", name)
	t.Cleanup(func() { command(t, "podman", "rm", "-f", "-t", "0", name) })
	id := strings.TrimSpace(mustCommand(t, "podman", "run", "-d", "--name", name, "--network", "none",
		"-m", "64m", "--cpus", "0.5", "--pids-limit", "50", image, "sleep", "600"))
	if rt := strings.TrimSpace(mustCommand(t, "podman", "inspect", "--format", "{{.OCIRuntime}}", name)); rt != "nebulon" {
		t.Fatalf("podman ran the container with runtime %q, want nebulon", rt)
	}
	unit := "libpod-" + id + ".scope"
	inside := func(file string) string {
		t.Helper()
		return strings.TrimSpace(mustCommand(t, "podman", "exec", name, "cat", "/sys/fs/cgroup/"+file))
	}
	for file, want := range map[string]string{"memory.max": strconv.Itoa(64 << 20), "cpu.max": "50000 100000", "pids.max": "50"} {
		if got := inside(file); got != want {
			t.Errorf("podman exec: %s = %q, want %q", file, got, want)
		}
	}
	assertProps(t, unit, map[string]string{
		"ActiveState": "active", "MemoryMax": strconv.Itoa(64 << 20), "TasksMax": "50", "CPUQuotaPerSecUSec": "500ms",
	})

	mustCommand(t, "podman", "update", "--memory", "128m", "--cpus", "0.25", name)
	if got := inside("memory.max"); got != strconv.Itoa(128<<20) {
		t.Errorf("after podman update: memory.max = %q, want %d", got, 128<<20)
	}
	if got := inside("cpu.max"); got != "25000 100000" {
		t.Errorf("after podman update: cpu.max = %q, want 25000 100000", got)
	}
	assertProps(t, unit, map[string]string{"MemoryMax": strconv.Itoa(128 << 20), "CPUQuotaPerSecUSec": "250ms"})

	mustCommand(t, "podman", "stop", "-t", "2", name)
	mustCommand(t, "podman", "rm", name)
	assertNoUnit(t, unit)
}

// containerd with the driver: ctr runs a container on nebulon with SystemdCgroup (the option
// the CRI's SystemdCgroup = true sets) and a "slice:prefix:name" cgroup; the container is in
// its scope, which carries its memory limit and is gone with the container.
func TestContainerdSystemdCgroup(t *testing.T) {
	e := systemdEnv(t)
	image, err := podmanImage()
	if err != nil {
		t.Fatal(err)
	}
	mustCommand(t, "systemctl", "start", "containerd")
	t.Cleanup(func() { command(t, "systemctl", "stop", "containerd") })
	archive := filepath.Join(e.dir, "image.tar")
	mustCommand(t, "podman", "save", "-o", archive, image)
	ctr := func(args ...string) (string, error) {
		return command(t, "ctr", append([]string{"--namespace", "nbtest"}, args...)...)
	}
	if out, err := ctr("images", "import", archive); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	t.Cleanup(func() { ctr("images", "rm", image) })
	id := "nbtest-ctr"
	unit := "nbtest-" + id + ".scope"
	run := []string{"run", "--runc-binary", nebulonBin, "--runc-systemd-cgroup", "--cgroup", "system.slice:nbtest:" + id,
		"--memory-limit", strconv.Itoa(64 << 20)}
	out, err := ctr(append(run, "--rm", image, id, "cat", "/proc/self/cgroup")...)
	if err != nil {
		t.Fatalf("ctr run: %v\n%s", err, out)
	}
	// ctr's spec has no cgroup namespace: the path is the host's.
	if want := "0::/system.slice/" + unit + "\n"; out != want {
		t.Errorf("ctr run: the container's /proc/self/cgroup is %q, want %q", out, want)
	}
	assertNoUnit(t, unit)

	// A detached one: its unit while it runs.
	t.Cleanup(func() {
		ctr("tasks", "kill", "-s", "SIGKILL", id)
		ctr("tasks", "delete", "-f", id)
		ctr("containers", "delete", id)
	})
	if out, err := ctr(append(run, "-d", image, id, "sleep", "600")...); err != nil {
		t.Fatalf("ctr run -d: %v\n%s", err, out)
	}
	assertProps(t, unit, map[string]string{
		"ActiveState": "active", "MemoryMax": strconv.Itoa(64 << 20), "ControlGroup": "/system.slice/" + unit,
	})
	if got := readCgroupFile(t, filepath.Join(cgroupRoot, "system.slice", unit), "memory.max"); got != strconv.Itoa(64<<20) {
		t.Errorf("ctr run -d: memory.max of %s = %q, want %d", unit, got, 64<<20)
	}
	if out, err := ctr("tasks", "kill", "-s", "SIGKILL", id); err != nil {
		t.Fatalf("ctr tasks kill: %v\n%s", err, out)
	}
	deadline := time.Now().Add(commandTimeout)
	for {
		out, err := ctr("tasks", "delete", id)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctr tasks delete: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, err := ctr("containers", "delete", id); err != nil {
		t.Fatalf("ctr containers delete: %v\n%s", err, out)
	}
	assertNoUnit(t, unit)
}

// With systemd not answering (PID 1 frozen through its cgroup, init.scope), create fails
// within the driver's bound, saying what systemd did not do, and leaves no container; once
// systemd answers again, containers run.
func TestSystemdNotAnsweringFailsCreateWithinItsBound(t *testing.T) {
	e := systemdEnv(t)
	c := e.newContainer("true")
	freeze := filepath.Join(cgroupRoot, "init.scope", "cgroup.freeze")
	if err := os.WriteFile(freeze, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	thawed := false
	thaw := func() {
		if !thawed {
			if err := os.WriteFile(freeze, []byte("0"), 0); err != nil {
				t.Errorf("thaw systemd: %v", err)
			}
			thawed = true
		}
	}
	t.Cleanup(thaw)
	start := time.Now()
	r := c.create()
	elapsed := time.Since(start)
	thaw()
	if r.ok() {
		t.Fatal("create succeeded while systemd was frozen")
	}
	if !strings.Contains(r.stderr, "systemd did not answer within") {
		t.Errorf("the error does not say systemd did not answer:\n%s", r)
	}
	// The driver's bound is 30 s; the command's own (commandTimeout) would have killed it.
	if elapsed > 45*time.Second || r.timedOut {
		t.Errorf("create took %v to fail", elapsed)
	}
	if s := e.nebulon("state", c.id); s.ok() {
		t.Errorf("the failed create left the container: %s", s.stdout)
	}
	c2 := e.newContainer("true")
	if r := c2.run(); !r.ok() {
		t.Errorf("after systemd was thawed: %s", r)
	}
}

// A container killed by the OOM killer leaves its scope "failed" in systemd; delete resets
// it, so no unit stays listed.
func TestSystemdOOMKilledContainerLeavesNoFailedUnit(t *testing.T) {
	e := systemdEnv(t)
	c := e.newContainer("dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
	c.unset("linux.cgroupsPath")
	c.set("linux.resources.memory.limit", 16<<20)
	c.mustCreate()
	e.must("start", c.id)
	c.waitStatus("stopped", 30*time.Second)
	e.must("delete", c.id)
	assertNoUnit(t, "nebulon-"+c.id+".scope")
}

// systemd re-executing itself (daemon-reexec, as a package upgrade does), again and again, while
// containers are created, updated and deleted: a call that systemd left unanswered is asked
// again once it is back, within the bound, and every command succeeds.
func TestSystemdReexecDuringCommands(t *testing.T) {
	e := systemdEnv(t)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var err error
		for n := 0; err == nil; n++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if out, rerr := command(t, "systemctl", "daemon-reexec"); rerr != nil {
				err = fmt.Errorf("daemon-reexec %d: %v\n%s", n, rerr, out)
			}
			time.Sleep(500 * time.Millisecond)
		}
		done <- err
	}()
	for i := 0; i < 5; i++ {
		c := e.newContainer("sleep", "600")
		c.unset("linux.cgroupsPath")
		c.set("linux.resources.memory.limit", 64<<20)
		c.mustCreate()
		e.must("update", "--memory", "96M", c.id)
		e.must("delete", "--force", c.id)
		assertNoUnit(t, "nebulon-"+c.id+".scope")
	}
	close(stop)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

package cgroupv2

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Rootless with the driver: an unprivileged user the test makes, whose systemd (user@UID.service,
// started by loginctl enable-linger) was delegated a cgroup subtree, runs nebulon
// --systemd-cgroup and rootless podman on nebulon, as runc's rootless systemd driver is used.

const (
	rlUser     = "nbrootless"
	rlSubStart = 300000 // the user's /etc/subuid and /etc/subgid range
	rlSubCount = 65536
)

// rootlessUser is the user and its systemd.
type rootlessUser struct {
	t        *testing.T
	uid, gid int
	xdg      string // its XDG_RUNTIME_DIR, where its bus is
	service  string // its systemd's cgroup: /user.slice/user-UID.slice/user@UID.service
}

// newRootlessUser makes the user, with subordinate ids and its systemd running, and removes
// them, its files and every process of its ids when the test ends.
func newRootlessUser(t *testing.T) *rootlessUser {
	t.Helper()
	systemdEnv(t)
	removeRootlessUser(t)
	mustCommand(t, "useradd", "--create-home", "--shell", "/bin/sh", rlUser)
	t.Cleanup(func() { removeRootlessUser(t) })
	// useradd may have given ranges of its own (SUB_UID_MIN in login.defs): the test's instead.
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		mustCommand(t, "sed", "-i", "/^"+rlUser+":/d", f)
		appendLine(t, f, fmt.Sprintf("%s:%d:%d", rlUser, rlSubStart, rlSubCount))
	}
	u := &rootlessUser{t: t}
	var err error
	if u.uid, err = strconv.Atoi(strings.TrimSpace(mustCommand(t, "id", "-u", rlUser))); err != nil {
		t.Fatal(err)
	}
	if u.gid, err = strconv.Atoi(strings.TrimSpace(mustCommand(t, "id", "-g", rlUser))); err != nil {
		t.Fatal(err)
	}
	u.xdg = fmt.Sprintf("/run/user/%d", u.uid)
	u.service = fmt.Sprintf("/user.slice/user-%d.slice/user@%d.service", u.uid, u.uid)
	mustCommand(t, "loginctl", "enable-linger", rlUser)
	deadline := time.Now().Add(30 * time.Second)
	for !exists(filepath.Join(u.xdg, "bus")) || !exists(filepath.Join(cgroupRoot, u.service)) {
		if time.Now().After(deadline) {
			out, _ := command(t, "systemctl", "status", "--no-pager", fmt.Sprintf("user@%d.service", u.uid))
			t.Fatalf("the user's systemd did not start within 30 s of loginctl enable-linger:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return u
}

func appendLine(t *testing.T, file, line string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err == nil {
		_, err = fmt.Fprintln(f, line)
		f.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// removeRootlessUser removes what newRootlessUser made, and what a run killed before its
// clean-up left: the lingering, the user's systemd (and with it everything it ran), any other
// process of the user's ids, the user and its home, its subordinate ranges.
func removeRootlessUser(t *testing.T) {
	t.Helper()
	out, err := command(t, "id", "-u", rlUser)
	if err == nil {
		uid := strings.TrimSpace(out)
		command(t, "loginctl", "disable-linger", rlUser)
		command(t, "systemctl", "stop", "user@"+uid+".service", "user-runtime-dir@"+uid+".service")
		if n, err := strconv.Atoi(uid); err == nil && n > 0 {
			killIDs(t, n)
		}
		if out, err := command(t, "userdel", "-r", rlUser); err != nil && !strings.Contains(out, "not found") {
			t.Errorf("userdel -r %s: %v\n%s", rlUser, err, out)
		}
		os.RemoveAll("/run/user/" + uid)
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		command(t, "sed", "-i", "/^"+rlUser+":/d", f)
	}
}

// killIDs kills every process of uid or of the user's subordinate range (all were started by
// the test) and waits, bounded, until none is left: userdel refuses a user with a process. The
// ids are /proc/PID/status's, which a non-dumpable process's /proc directory (root's) hides.
func killIDs(t *testing.T, uid int) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := idProcesses(uid)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("processes of uid %d or its subordinate ids left 5 s after SIGKILL: %v", uid, left)
			return
		}
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// idProcesses lists the processes whose real, effective, saved or fs uid is uid or in the
// user's subordinate range.
func idProcesses(uid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile("/proc/" + e.Name() + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			ids, ok := strings.CutPrefix(line, "Uid:")
			if !ok {
				continue
			}
			for _, f := range strings.Fields(ids) {
				if id, err := strconv.Atoi(f); err == nil && (id == uid || id >= rlSubStart && id < rlSubStart+rlSubCount) {
					pids = append(pids, pid)
					break
				}
			}
			break
		}
	}
	return pids
}

// run runs args as the user, with the environment a login gives it (its XDG_RUNTIME_DIR and
// bus), bounded by commandTimeout; stdin, when not empty, is fed to it. It returns stdout and
// stderr together.
func (u *rootlessUser) run(stdin string, args ...string) (string, error) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	full := append([]string{"--reuid", strconv.Itoa(u.uid), "--regid", strconv.Itoa(u.gid), "--init-groups",
		"env", "-i", "HOME=/home/" + rlUser, "USER=" + rlUser, "LOGNAME=" + rlUser,
		"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "XDG_RUNTIME_DIR=" + u.xdg,
		"DBUS_SESSION_BUS_ADDRESS=unix:path=" + u.xdg + "/bus"}, args...)
	cmd := exec.CommandContext(ctx, "setpriv", full...)
	cmd.Dir = "/"
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("killed after %v: %w", commandTimeout, ctx.Err())
	}
	return string(out), err
}

func (u *rootlessUser) must(args ...string) string {
	u.t.Helper()
	out, err := u.run("", args...)
	if err != nil {
		u.t.Fatalf("as %s: %s: %v\n%s", rlUser, strings.Join(args, " "), err, out)
	}
	return out
}

// nebulon runs nebulon --systemd-cgroup as the user, with its default --root
// ($XDG_RUNTIME_DIR/nebulon).
func (u *rootlessUser) nebulon(args ...string) (string, error) {
	u.t.Helper()
	return u.run("", append([]string{nebulonBin, "--systemd-cgroup"}, args...)...)
}

// bundle makes a bundle of nebulon spec --rootless, owned by the user, whose process runs args,
// changed by edit. On cgroup v2 the spec has a cgroup namespace: the container's /sys/fs/cgroup
// is its own cgroup.
func (u *rootlessUser) bundle(edit func(config map[string]any), args ...string) string {
	u.t.Helper()
	dir := u.t.TempDir()
	// 0755 up from the test's temporary directory (made 0700): the user reaches the bundle.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			u.t.Fatal(err)
		}
	}
	b := filepath.Join(dir, "bundle")
	// The rootfs stays root's (copyTree hard-links the template's files): the container reads
	// it, and the user writes only config.json.
	if err := copyTree(rootfsTemplate, filepath.Join(b, "rootfs")); err != nil {
		u.t.Fatal(err)
	}
	if err := os.Chown(b, u.uid, u.gid); err != nil {
		u.t.Fatal(err)
	}
	u.must(nebulonBin, "spec", "--rootless", "--bundle", b)
	path := filepath.Join(b, "config.json")
	data, err := os.ReadFile(path)
	var config map[string]any
	if err == nil {
		err = json.Unmarshal(data, &config)
	}
	if err != nil {
		u.t.Fatal(err)
	}
	process := config["process"].(map[string]any)
	process["args"], process["terminal"] = args, false
	if edit != nil {
		edit(config)
	}
	if data, err = json.Marshal(config); err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		u.t.Fatal(err)
	}
	return b
}

// userUnitGone waits until the user's systemd no longer knows unit.
func (u *rootlessUser) userUnitGone(unit string) {
	u.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := u.run("", "systemctl", "--user", "show", "-p", "LoadState", unit)
		if err == nil && strings.Contains(out, "LoadState=not-found") {
			return
		}
		if time.Now().After(deadline) {
			u.t.Errorf("the user's unit %s is still there 10 s after its container was deleted (%v):\n%s", unit, err, out)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nebulon --systemd-cgroup run by a user: the container's scope is made by the user's systemd,
// in its user.slice below user@UID.service; its memory and pids limits are in the scope's files
// and the container sees them; exec, state, list, kill and delete work, and delete leaves no
// unit, cgroup or state. A limit on a controller user@UID.service was not delegated is refused,
// naming the field, and leaves nothing. Then podman run by the user on nebulon.
func TestSystemdRootless(t *testing.T) {
	u := newRootlessUser(t)
	t.Run("nebulon", u.testNebulon)
	t.Run("undelegated", u.testUndelegated)
	t.Run("podman", u.testPodman)
	t.Run("nb", u.testNb)
}

func (u *rootlessUser) testNebulon(t *testing.T) {
	u.t = t
	const id = "nbrl-systemd"
	b := u.bundle(func(c map[string]any) {
		c["process"].(map[string]any)["terminal"] = true
		c["linux"].(map[string]any)["resources"] = map[string]any{
			"memory": map[string]any{"limit": 32 << 20}, "pids": map[string]any{"limit": 20},
		}
	}, "sh", "-c", "echo tty $(tty); exec sleep 600")
	t.Cleanup(func() { u.nebulon("delete", "--force", id) })
	// The terminal: create sends its pty master to a console socket the user may connect to.
	sock := filepath.Join(filepath.Dir(b), "console.sock")
	masters := consoleSocket(t, sock)
	if err := os.Chown(sock, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	if out, err := u.nebulon("create", "--bundle", b, "--console-socket", sock, id); err != nil {
		t.Fatalf("nebulon --systemd-cgroup create as %s: %v\n%s", rlUser, err, out)
	}
	master := ptyMaster(t, masters, "create sent no pty master to the console socket")
	if out, err := u.nebulon("start", id); err != nil {
		t.Fatalf("start: %v\n%s", err, out)
	}
	readUntil(t, master, "tty /dev/pts/0")
	out, err := u.nebulon("state", id)
	var st ociState
	if err == nil {
		err = json.Unmarshal([]byte(out), &st)
	}
	if err != nil || st.Status != "running" {
		t.Fatalf("state: %v, %+v\n%s", err, st, out)
	}
	unit := "nebulon-" + id + ".scope"
	want := u.service + "/user.slice/" + unit
	if got := procCgroup(t, st.Pid); got != want {
		t.Errorf("the init is in the cgroup %s, want %s (the user's systemd's user.slice)", got, want)
	}
	dir := filepath.Join(cgroupRoot, want)
	files := map[string]string{"memory.max": strconv.Itoa(32 << 20), "pids.max": "20"}
	for file, w := range files {
		if got := readCgroupFile(t, dir, file); got != w {
			t.Errorf("the scope's %s = %q, want %q", file, got, w)
		}
		if got, err := u.nebulon("exec", id, "cat", "/sys/fs/cgroup/"+file); err != nil || strings.TrimSpace(got) != w {
			t.Errorf("exec cat /sys/fs/cgroup/%s: %q, %v; want %q", file, got, err, w)
		}
	}
	// Where an exec lands. The test's caller runs in root's cgroup, which the user may not move
	// a process out of: the exec stays there, outside the container's cgroup namespace ("0::/"
	// would be its root). Run from inside user@UID.service (a service of the user's systemd),
	// it joins the container's scope.
	if got, err := u.nebulon("exec", id, "cat", "/proc/self/cgroup"); err != nil || strings.TrimSpace(got) == "0::/" {
		t.Errorf("exec from root's cgroup: /proc/self/cgroup %q, %v; want a cgroup outside the container's", got, err)
	}
	if got, err := u.run("", "systemd-run", "--user", "--pipe", "--wait", "--quiet",
		"-E", "XDG_RUNTIME_DIR="+u.xdg, "-E", "DBUS_SESSION_BUS_ADDRESS=unix:path="+u.xdg+"/bus",
		nebulonBin, "--systemd-cgroup", "exec", id, "cat", "/proc/self/cgroup"); err != nil || strings.TrimSpace(got) != "0::/" {
		t.Errorf("exec from a service of the user's systemd: /proc/self/cgroup %q, %v; want 0::/ (the container's scope)", got, err)
	}
	if got, err := u.run("", "systemctl", "--user", "show", "-p", "ActiveState,MemoryMax,TasksMax", unit); err != nil ||
		!strings.Contains(got, "ActiveState=active") || !strings.Contains(got, "MemoryMax="+files["memory.max"]) || !strings.Contains(got, "TasksMax=20") {
		t.Errorf("systemctl --user show %s: %v\n%s", unit, err, got)
	}
	if got, err := u.nebulon("exec", id, "id", "-u"); err != nil || strings.TrimSpace(got) != "0" {
		t.Errorf("exec id -u: %q, %v; want 0 (the user, mapped to root)", got, err)
	}
	if got, err := u.nebulon("list"); err != nil || !strings.Contains(got, id) || !strings.Contains(got, "running") {
		t.Errorf("list: %v\n%s", err, got)
	}
	if got, err := u.nebulon("kill", id, "KILL"); err != nil {
		t.Fatalf("kill: %v\n%s", err, got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := u.nebulon("state", id)
		if strings.Contains(out, `"stopped"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not stopped 10 s after kill KILL:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, err := u.nebulon("delete", id); err != nil {
		t.Fatalf("delete: %v\n%s", err, got)
	}
	u.userUnitGone(unit)
	if exists(dir) {
		t.Errorf("the cgroup %s is left after delete", dir)
	}
	if exists(filepath.Join(u.xdg, "nebulon", id)) {
		t.Errorf("the state of %s is left after delete", id)
	}
}

func (u *rootlessUser) testUndelegated(t *testing.T) {
	u.t = t
	delegated := strings.Fields(readCgroupFile(t, filepath.Join(cgroupRoot, u.service), "cgroup.controllers"))
	// A controller systemd 252's user@.service does not delegate (Delegate=pids memory cpu),
	// with a limit that needs it and the field that names it.
	var field string
	var resources map[string]any
	for _, c := range []struct {
		ctrl, field string
		res         map[string]any
	}{
		{"cpuset", "cpu.cpus", map[string]any{"cpu": map[string]any{"cpus": "0"}}},
		{"io", "blockIO.weight", map[string]any{"blockIO": map[string]any{"weight": 100}}},
	} {
		if !strings.Contains(" "+strings.Join(delegated, " ")+" ", " "+c.ctrl+" ") {
			field, resources = c.field, c.res
			break
		}
	}
	if field == "" {
		t.Skipf("user@%d.service was delegated cpuset and io too (%v): no limit to refuse", u.uid, delegated)
	}
	const id = "nbrl-undelegated"
	b := u.bundle(func(c map[string]any) { c["linux"].(map[string]any)["resources"] = resources }, "true")
	t.Cleanup(func() { u.nebulon("delete", "--force", id) })
	out, err := u.nebulon("run", "--bundle", b, id)
	if err == nil {
		t.Fatalf("run with linux.resources.%s, whose controller is not delegated (%v), succeeded:\n%s", field, delegated, out)
	}
	if !strings.Contains(out, "linux.resources."+field) || !strings.Contains(out, "not delegated") {
		t.Errorf("the error does not name linux.resources.%s and say it is not delegated:\n%s", field, out)
	}
	if out, err := u.nebulon("state", id); err == nil {
		t.Errorf("the failed run left the container: %s", out)
	}
	u.userUnitGone("nebulon-" + id + ".scope")
	if dir := filepath.Join(cgroupRoot, u.service, "user.slice", "nebulon-"+id+".scope"); exists(dir) {
		t.Errorf("the failed run left the cgroup %s", dir)
	}
}

// podman run by the user, with nebulon as its runtime and cgroup_manager = "systemd" (the
// guest's containers.conf): run, exec, logs, stop and rm; --userns=keep-id; -m in the
// container's memory.max.
func (u *rootlessUser) testPodman(t *testing.T) {
	u.t = t
	const image = "localhost/nbtest-busybox:latest"
	tar := exec.Command("tar", "-C", rootfsTemplate, "-c", ".")
	data, err := tar.Output()
	if err != nil {
		t.Fatalf("tar of the rootfs: %v", err)
	}
	podman := func(args ...string) []string {
		return append([]string{"podman", "--runtime", nebulonBin, "--cgroup-manager", "systemd"}, args...)
	}
	if out, err := u.run(string(data), podman("import", "-", image)...); err != nil {
		t.Fatalf("podman import as %s: %v\n%s", rlUser, err, out)
	}
	const name = "nbrl-podman"
	t.Cleanup(func() { u.run("", podman("rm", "-f", "-t", "0", name)...) })
	u.must(podman("run", "-d", "--name", name, "--network", "none", "-m", "32m", image,
		"sh", "-c", "echo hello from nebulon; exec sleep 600")...)
	if rt := strings.TrimSpace(u.must(podman("inspect", "--format", "{{.OCIRuntime}}", name)...)); !strings.HasSuffix(rt, "nebulon") {
		t.Errorf("podman ran the container with runtime %q, want nebulon", rt)
	}
	if got := strings.TrimSpace(u.must(podman("exec", name, "cat", "/sys/fs/cgroup/memory.max")...)); got != strconv.Itoa(32<<20) {
		t.Errorf("podman exec: memory.max = %q, want %d", got, 32<<20)
	}
	// The container's /sys/fs/cgroup is its own cgroup, not the host's tree.
	if got := u.must(podman("exec", name, "ls", "/sys/fs/cgroup")...); !strings.Contains(got, "memory.max") ||
		strings.Contains(got, "user.slice") || strings.Contains(got, "init.scope") || strings.Contains(got, "system.slice") {
		t.Errorf("podman exec ls /sys/fs/cgroup: want the container's cgroup only:\n%s", got)
	}
	if got := strings.TrimSpace(u.must(podman("exec", name, "id", "-u")...)); got != "0" {
		t.Errorf("podman exec id -u = %q, want 0", got)
	}
	if got := u.must(podman("logs", name)...); !strings.Contains(got, "hello from nebulon") {
		t.Errorf("podman logs: %q", got)
	}
	u.must(podman("stop", "-t", "2", name)...)
	if got := strings.TrimSpace(u.must(podman("inspect", "--format", "{{.State.Status}}", name)...)); got != "exited" {
		t.Errorf("after podman stop: status %q, want exited", got)
	}
	u.must(podman("rm", name)...)
	if got := strings.TrimSpace(u.must(podman("ps", "-aq")...)); got != "" {
		t.Errorf("containers left after podman rm: %s", got)
	}
	if got := strings.TrimSpace(u.must(podman("run", "--rm", "--network", "none", "--userns=keep-id", image, "id", "-u")...)); got != strconv.Itoa(u.uid) {
		t.Errorf("podman run --userns=keep-id: id -u = %q, want the user's uid %d", got, u.uid)
	}
}

// nb run by the user, from nb init to nb rm: its store under ~/.local/share/nebulon, owned by
// the user's ids; its containers' cgroups from the user's systemd as rootless podman's (a scope
// in user.slice below user@UID.service), with -m in the scope's memory.max; exec, logs, stop
// and rm, which leaves no unit and no cgroup.
func (u *rootlessUser) testNb(t *testing.T) {
	u.t = t
	nbBin := os.Getenv("NB")
	if nbBin == "" {
		t.Skip("NB (nb's binary) is not set: tests/systemd/guest-run.sh sets it")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tarPath := filepath.Join(dir, "rootfs.tar")
	if out, err := exec.Command("tar", "-C", rootfsTemplate, "-cf", tarPath, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar of the rootfs: %v\n%s", err, out)
	}
	nb := func(args ...string) []string { return append([]string{nbBin}, args...) }
	const name = "nbrl-nb"
	t.Cleanup(func() { u.run("", nb("rm", "-f", name)...) })
	u.must(nb("init")...)
	store := filepath.Join("/home", rlUser, ".local", "share", "nebulon")
	if st, err := os.Stat(store); err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != u.uid {
		t.Errorf("nb init: the store %s is not the user's (%v)", store, err)
	}
	u.must(nb("image", "import", tarPath, "nbtest-busybox")...)
	id := strings.TrimSpace(u.must(nb("create", "--name", name, "--network", "none", "-m", "32m",
		"nbtest-busybox", "sh", "-c", "echo hello from nb; exec sleep 600")...))
	if id == "" {
		t.Fatal("nb create printed no container id")
	}
	u.must(nb("run", "-d", name)...)
	// The scope the user's systemd made for it: nebulon-ID.scope in its user.slice.
	scopes, _ := filepath.Glob(filepath.Join(cgroupRoot, u.service, "user.slice", "nebulon-*.scope"))
	var scope string
	for _, s := range scopes {
		if strings.Contains(filepath.Base(s), id) {
			scope = s
		}
	}
	if scope == "" {
		t.Fatalf("no scope nebulon-%s*.scope below %s/user.slice (have %v)", id, u.service, scopes)
	}
	if got := strings.TrimSpace(readCgroupFile(t, scope, "memory.max")); got != strconv.Itoa(32<<20) {
		t.Errorf("nb run -m 32m: %s/memory.max = %q, want %d", scope, got, 32<<20)
	}
	if procs := strings.Fields(readCgroupFile(t, scope, "cgroup.procs")); len(procs) == 0 {
		t.Errorf("the scope %s holds no process: the container runs outside its limits", scope)
	}
	// The container is in nb's user namespace: its root is the user, 1 and up its range.
	if got, want := strings.Join(strings.Fields(u.must(nb("exec", name, "cat", "/proc/self/uid_map")...)), " "),
		fmt.Sprintf("0 %d 1 1 %d %d", u.uid, rlSubStart, rlSubCount); got != want {
		t.Errorf("nb exec: the container's uid_map is %q, want %q", got, want)
	}
	if got := u.must(nb("logs", name)...); !strings.Contains(got, "hello from nb") {
		t.Errorf("nb logs: %q", got)
	}
	u.must(nb("stop", "-t", "2", name)...)
	u.must(nb("rm", name)...)
	if got := strings.TrimSpace(u.must(nb("ps", "-aq")...)); got != "" {
		t.Errorf("containers left after nb rm: %s", got)
	}
	u.userUnitGone(filepath.Base(scope))
	if exists(scope) {
		t.Errorf("nb rm left the cgroup %s", scope)
	}
}

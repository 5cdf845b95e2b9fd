package libnebulon

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	criurpc "github.com/checkpoint-restore/go-criu/v8/rpc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
)

func TestCriuBaseOpts(t *testing.T) {
	o := &CriuOpts{
		TCPEstablished: true, ExtUnixSk: true, ShellJob: true, FileLocks: true, AutoDedup: true,
		LazyPages: true, ManageCgroupsMode: "strict", EmptyNs: []specs.LinuxNamespaceType{specs.NetworkNamespace},
	}
	opts, err := baseOpts(o, "dump.log")
	if err != nil {
		t.Fatal(err)
	}
	if !opts.GetTcpEstablished() || !opts.GetExtUnixSk() || !opts.GetShellJob() || !opts.GetFileLocks() ||
		!opts.GetAutoDedup() || !opts.GetLazyPages() || !opts.GetOrphanPtsMaster() || !opts.GetNotifyScripts() {
		t.Errorf("a flag did not reach CRIU's options: %v", opts)
	}
	if opts.GetManageCgroupsMode() != criurpc.CriuCgMode_STRICT || opts.GetLogFile() != "dump.log" || opts.GetLogLevel() != 4 {
		t.Errorf("mode %v, log %q level %d", opts.GetManageCgroupsMode(), opts.GetLogFile(), opts.GetLogLevel())
	}
	if opts.GetEmptyNs() != unix.CLONE_NEWNET {
		t.Errorf("empty_ns = %#x, want CLONE_NEWNET", opts.GetEmptyNs())
	}
	// Off by default, the network namespace empty all the same (runc's rule).
	opts, err = baseOpts(&CriuOpts{}, "restore.log")
	if err != nil {
		t.Fatal(err)
	}
	if opts.GetTcpEstablished() || opts.GetShellJob() || opts.GetLazyPages() || opts.GetEmptyNs() != unix.CLONE_NEWNET ||
		opts.GetManageCgroupsMode() != criurpc.CriuCgMode_DEFAULT {
		t.Errorf("defaults: %v", opts)
	}
}

func TestCriuCgMode(t *testing.T) {
	for in, want := range map[string]criurpc.CriuCgMode{
		"": criurpc.CriuCgMode_DEFAULT, "soft": criurpc.CriuCgMode_SOFT, "full": criurpc.CriuCgMode_FULL,
		"strict": criurpc.CriuCgMode_STRICT, "ignore": criurpc.CriuCgMode_IGNORE,
	} {
		if got, err := cgMode(in); err != nil || got != want {
			t.Errorf("cgMode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := cgMode("hard"); err == nil || !strings.Contains(err.Error(), `--manage-cgroups-mode "hard"`) {
		t.Errorf("cgMode(hard): %v", err)
	}
	if _, err := baseOpts(&CriuOpts{EmptyNs: []specs.LinuxNamespaceType{specs.PIDNamespace}}, "x"); err == nil || !strings.Contains(err.Error(), `--empty-ns "pid"`) {
		t.Errorf("--empty-ns pid: %v", err)
	}
}

func extMap(opts *criurpc.CriuOpts) map[string]string {
	m := map[string]string{}
	for _, e := range opts.ExtMnt {
		m[e.GetKey()] = e.GetVal()
	}
	return m
}

func TestCriuExtMounts(t *testing.T) {
	rootfs := t.TempDir()
	// /data is a symlink in the rootfs: the init mounted on its target, /srv/data.
	os.MkdirAll(filepath.Join(rootfs, "srv/data"), 0o755)
	os.Symlink("/srv/data", filepath.Join(rootfs, "data"))
	spec := &specs.Spec{
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/data", Source: "/host/data", Options: []string{"rbind", "ro"}},
			{Destination: "/etc/hosts", Type: "bind", Source: "/host/hosts"},
		},
		Linux: &specs.Linux{
			MaskedPaths: []string{"/proc/kcore", "/proc/acpi", "/proc/missing"},
			Devices:     []specs.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}},
		},
	}
	maskedFile := func(p string) (bool, error) { return p == "/proc/kcore", nil }
	dump := &criurpc.CriuOpts{}
	if err := extMounts(dump, spec, rootfs, nil, true, maskedFile); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"/srv/data": "/srv/data", "/etc/hosts": "/etc/hosts", "/proc/kcore": "/dev/null",
		"/dev/null": "/dev/null", "/dev/zero": "/dev/zero", "/dev/full": "/dev/full", "/dev/random": "/dev/random",
		"/dev/urandom": "/dev/urandom", "/dev/tty": "/dev/tty", "/dev/fuse": "/dev/fuse",
	}
	if got := extMap(dump); !reflect.DeepEqual(got, want) {
		t.Errorf("dump's external mounts:\n got %v\nwant %v", got, want)
	}
	restore := &criurpc.CriuOpts{}
	if err := extMounts(restore, spec, rootfs, nil, false, nil); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{
		"/srv/data": "/host/data", "/etc/hosts": "/host/hosts",
		"/dev/null": "/dev/null", "/dev/zero": "/dev/zero", "/dev/full": "/dev/full", "/dev/random": "/dev/random",
		"/dev/urandom": "/dev/urandom", "/dev/tty": "/dev/tty", "/dev/fuse": "/dev/fuse",
	}
	if got := extMap(restore); !reflect.DeepEqual(got, want) {
		t.Errorf("restore's external mounts:\n got %v\nwant %v", got, want)
	}
	spec.Mounts = append(spec.Mounts, specs.Mount{Destination: "/a]:/etc", Type: "bind", Source: "/"})
	field := fmt.Sprintf("config.json: mounts[%d].destination: ", len(spec.Mounts)-1)
	if err := extMounts(&criurpc.CriuOpts{}, spec, rootfs, nil, false, nil); err == nil || !strings.Contains(err.Error(), field) {
		t.Errorf("a destination with ]: was taken, or the error does not name %q: %v", field, err)
	}
}

func TestCriuNamespaces(t *testing.T) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		t.Skip(err)
	}
	spec := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.MountNamespace},
		{Type: specs.NetworkNamespace, Path: "/proc/self/ns/net"},
		{Type: specs.UTSNamespace, Path: "/proc/self/ns/uts"},
	}}}
	opts := &criurpc.CriuOpts{}
	if err := dumpExternalNamespaces(opts, spec, 31700); err != nil {
		t.Fatal(err)
	}
	if want := []string{fmt.Sprintf("net[%d]:extRootNetNS", st.Ino)}; !reflect.DeepEqual(opts.External, want) {
		t.Errorf("external = %v, want %v", opts.External, want)
	}
	if err := dumpExternalNamespaces(&criurpc.CriuOpts{}, spec, 31000); err == nil {
		t.Error("CRIU 3.10 was let dump an external network namespace")
	}
	opts = &criurpc.CriuOpts{}
	files, err := restoreNamespaces(opts, spec, 31700)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(files)
	if len(files) != 1 || len(opts.InheritFd) != 1 || opts.InheritFd[0].GetKey() != "extRootNetNS" || opts.InheritFd[0].GetFd() != 4 {
		t.Errorf("inherit_fd = %v (%d files)", opts.InheritFd, len(files))
	}
	if len(opts.JoinNs) != 1 || opts.JoinNs[0].GetNs() != "uts" || opts.JoinNs[0].GetNsFile() != "/proc/self/ns/uts" {
		t.Errorf("join_ns = %v", opts.JoinNs)
	}
	spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace, Path: "/proc/self/ns/cgroup"})
	if _, err := restoreNamespaces(&criurpc.CriuOpts{}, spec, 31700); err == nil || !strings.Contains(err.Error(), "cgroup namespace") {
		t.Errorf("a joined cgroup namespace: %v", err)
	}
	if extNsKey(specs.PIDNamespace) != "extRootPidNS" {
		t.Errorf("extNsKey(pid) = %s", extNsKey(specs.PIDNamespace))
	}
}

func TestCriuPageServer(t *testing.T) {
	ps, err := parsePageServer("192.0.2.1:1234")
	if err != nil || ps.GetAddress() != "192.0.2.1" || ps.GetPort() != 1234 {
		t.Errorf("parsePageServer = %v, %v", ps, err)
	}
	if ps, err := parsePageServer("[::1]:27"); err != nil || ps.GetAddress() != "::1" || ps.GetPort() != 27 {
		t.Errorf("parsePageServer([::1]:27) = %v, %v", ps, err)
	}
	for _, bad := range []string{"host", ":1234", "host:", "host:port", "host:70000", "host:-1"} {
		if _, err := parsePageServer(bad); err == nil {
			t.Errorf("parsePageServer(%q) took it", bad)
		}
	}
}

func TestCriuCgRoots(t *testing.T) {
	v2 := cgRoots("0::/nebulon/c1\n")
	if len(v2) != 1 || v2[0].GetCtrl() != "" || v2[0].GetPath() != "/nebulon/c1" {
		t.Errorf("v2 roots: %v", v2)
	}
	v1 := cgRoots("4:cpu,cpuacct:/c1\n1:name=systemd:/c1\n0::/c1\n")
	var got []string
	for _, r := range v1 {
		got = append(got, r.GetCtrl()+"="+r.GetPath())
	}
	if want := []string{"cpu=/c1", "cpuacct=/c1", "name=systemd=/c1", "=/c1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("v1 roots = %v, want %v", got, want)
	}
}

func TestCriuInheritPipes(t *testing.T) {
	dir := t.TempDir()
	opts := &criurpc.CriuOpts{}
	if err := inheritPipes(opts, dir); err == nil || !strings.Contains(err.Error(), "no descriptors.json") {
		t.Errorf("an image directory without descriptors.json: %v", err)
	}
	os.WriteFile(filepath.Join(dir, descriptorsFile), []byte(`["/dev/null","pipe:[123]","/tmp/log"]`), 0o600)
	if err := inheritPipes(opts, dir); err != nil {
		t.Fatal(err)
	}
	if len(opts.InheritFd) != 1 || opts.InheritFd[0].GetKey() != "pipe:[123]" || opts.InheritFd[0].GetFd() != 1 {
		t.Errorf("inherit_fd = %v", opts.InheritFd)
	}
	os.WriteFile(filepath.Join(dir, descriptorsFile), []byte(`garbage`), 0o600)
	if err := inheritPipes(&criurpc.CriuOpts{}, dir); err == nil || !strings.Contains(err.Error(), descriptorsFile) {
		t.Errorf("a corrupt descriptors.json: %v", err)
	}
}

func TestCriuConfigFile(t *testing.T) {
	for _, tc := range []struct {
		ann  map[string]string
		want string
	}{
		{nil, defaultCriuConfig},
		{map[string]string{criuConfigAnnotation: "/etc/criu/mine.conf"}, "/etc/criu/mine.conf"},
		{map[string]string{criuConfigAnnotation: ""}, ""},
	} {
		opts := &criurpc.CriuOpts{}
		setConfigFile(opts, tc.ann)
		if opts.GetConfigFile() != tc.want {
			t.Errorf("annotations %v: config file %q, want %q", tc.ann, opts.GetConfigFile(), tc.want)
		}
	}
}

func TestCriuStatusFd(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := checkStatusFd(int(w.Fd())); err != nil {
		t.Errorf("a pipe's write end: %v", err)
	}
	if err := checkStatusFd(int(r.Fd())); err == nil {
		t.Error("a pipe's read end was taken")
	}
	if err := checkStatusFd(9999); err == nil {
		t.Error("a closed descriptor was taken")
	}
}

func TestCriuCgroupBinds(t *testing.T) {
	v2 := map[string]string{"": "/sys/fs/cgroup/ctr"}
	if got := cgroupBinds(cgroups.Unified, nil, "/sys/fs/cgroup", true, v2); len(got) != 0 {
		t.Errorf("v2 with a cgroup namespace mounts cgroup2, no bind: %v", got)
	}
	if got, want := cgroupBinds(cgroups.Unified, nil, "/sys/fs/cgroup", false, v2), [][2]string{{"/sys/fs/cgroup", "/sys/fs/cgroup/ctr"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("v2 without a cgroup namespace: %v, want %v", got, want)
	}
	hier := []cgroups.Hierarchy{
		{Mountpoint: "/sys/fs/cgroup/cpu,cpuacct", Subsystems: []string{"cpu", "cpuacct"}},
		{Mountpoint: "/sys/fs/cgroup/memory", Subsystems: []string{"memory"}},
	}
	paths := map[string]string{"cpu,cpuacct": "/sys/fs/cgroup/cpu,cpuacct/ctr", "memory": "/sys/fs/cgroup/memory/ctr", "": "/sys/fs/cgroup/unified/ctr"}
	want := [][2]string{
		{"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct/ctr"},
		{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/ctr"},
		{"/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified/ctr"},
	}
	if got := cgroupBinds(cgroups.Hybrid, hier, "/sys/fs/cgroup", false, paths); !reflect.DeepEqual(got, want) {
		t.Errorf("hybrid without a cgroup namespace: %v, want %v", got, want)
	}
	// With one, the v1 hierarchies are mounted; the v2 one of a hybrid host is bound all the same.
	if got := cgroupBinds(cgroups.Hybrid, hier, "/sys/fs/cgroup", true, paths); !reflect.DeepEqual(got, want[2:]) {
		t.Errorf("hybrid with a cgroup namespace: %v, want %v", got, want[2:])
	}
}

package specconv

import (
	"encoding/json"
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite testdata/spec-*.json from Spec's output")

const testRootfs = "/var/lib/nebulon/overlay/nb-0123456789abcdef/merged"

// baseOptions are the least `nb create --rootfs DIR sh` gives.
func baseOptions() *Options {
	return &Options{ID: "nb-0123456789abcdef", RootfsPath: testRootfs, Args: []string{"sh"}}
}

// fullOptions use every option at once.
func fullOptions() *Options {
	return &Options{
		ID:         "nb-0123456789abcdef",
		Name:       "web",
		Hostname:   "web.local",
		RootfsPath: testRootfs,
		Image: &ImageConfig{
			Env:        []string{"PATH=/opt/bin:/usr/bin:/bin", "LANG=C.UTF-8", "MODE=image"},
			Entrypoint: []string{"/docker-entrypoint.sh"},
			Cmd:        []string{"nginx", "-g", "daemon off;"},
			WorkingDir: "/usr/share/nginx",
			User:       "nginx",
			Labels:     map[string]string{"maintainer": "someone", "org.opencontainers.image.version": "1.27"},
		},
		Args:        []string{"nginx", "-T"},
		Workdir:     "/srv",
		Env:         []string{"MODE=cli", "EXTRA=1"},
		TTY:         true,
		User:        "app:www-data",
		Passwd:      []byte(testPasswd),
		Group:       []byte(testGroup),
		Memory:      64 << 20,
		CPUQuota:    50000,
		CPUPeriod:   100000,
		PidsLimit:   100,
		Rlimits:     []specs.POSIXRlimit{NofileRlimit(20000)},
		Volumes:     []Mount{{Source: "/var/lib/nebulon/volumes/data/_data", Destination: "/data"}, {Source: "/etc/ssl", Destination: "/etc/ssl", ReadOnly: true}},
		Tmpfs:       []Tmpfs{{Destination: "/run"}, {Destination: "/tmp", Options: []string{"size=64m"}}},
		ExtraMounts: []Mount{{Source: "/var/lib/nebulon/containers/nb-0123456789abcdef/hosts", Destination: "/etc/hosts"}},
		ReadOnly:    true,
		Network:     NetworkHost,
		CapAdd:      []string{"NET_ADMIN"},
		CapDrop:     []string{"MKNOD"},
		CgroupsPath: "/nebulon/nb-0123456789abcdef",
		Annotations: map[string]string{"maintainer": "override"},
	}
}

type specCase struct {
	name  string
	opts  func(o *Options)
	check func(t *testing.T, s *specs.Spec)
}

func mountAt(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func destinations(s *specs.Spec) []string {
	var d []string
	for _, m := range s.Mounts {
		d = append(d, m.Destination)
	}
	return d
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	return slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == t })
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q; want %q", what, got, want)
	}
}

var defaultDestinations = []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}

// specCases are Spec's successes; TestSpecPassesRuntimeValidation runs each through the runtime's
// own validation as well.
var specCases = []specCase{
	{name: "defaults are docker's", check: func(t *testing.T, s *specs.Spec) {
		if s.Root.Path != testRootfs || s.Root.Readonly {
			t.Errorf("root = %+v; want %s, writable", s.Root, testRootfs)
		}
		if s.Hostname != "nb-012345678" {
			t.Errorf("hostname = %q; want the id's first 12 characters", s.Hostname)
		}
		wantStrings(t, "args", s.Process.Args, []string{"sh"})
		wantStrings(t, "env", s.Process.Env, []string{"PATH=" + DefaultPath, "HOSTNAME=nb-012345678"})
		wantStrings(t, "capabilities", s.Process.Capabilities.Bounding, DockerCapabilities)
		wantStrings(t, "effective", s.Process.Capabilities.Effective, DockerCapabilities)
		wantStrings(t, "permitted", s.Process.Capabilities.Permitted, DockerCapabilities)
		if c := s.Process.Capabilities; c.Inheritable != nil || c.Ambient != nil {
			t.Errorf("inheritable %q, ambient %q; want none (CVE-2022-24769)", c.Inheritable, c.Ambient)
		}
		if p := s.Process; p.Cwd != "/" || p.Terminal || p.NoNewPrivileges || p.Rlimits != nil || p.User.UID != 0 || p.User.GID != 0 {
			t.Errorf("process = %+v; want cwd /, no terminal, no_new_privs off, no rlimits, root", p)
		}
		wantStrings(t, "mounts", destinations(s), defaultDestinations)
		for _, ns := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace, specs.NetworkNamespace, specs.CgroupNamespace} {
			if !hasNamespace(s, ns) {
				t.Errorf("no %s namespace", ns)
			}
		}
		if len(s.Linux.Namespaces) != 6 {
			t.Errorf("namespaces = %v; want docker's six", s.Linux.Namespaces)
		}
		if r := s.Linux.Resources; r.Memory != nil || r.CPU != nil || r.Pids != nil || len(r.Devices) != 1 || r.Devices[0].Allow {
			t.Errorf("resources = %+v; want only deny-all devices", r)
		}
		wantStrings(t, "masked paths", s.Linux.MaskedPaths, defaultMaskedPaths())
		wantStrings(t, "read-only paths", s.Linux.ReadonlyPaths, defaultReadonlyPaths())
		if s.Annotations != nil || s.Linux.CgroupsPath != "" {
			t.Errorf("annotations %v, cgroups path %q; want none", s.Annotations, s.Linux.CgroupsPath)
		}
	}},
	{name: "hostname is --hostname, in HOSTNAME too", opts: func(o *Options) { o.Hostname = "web-1.example" }, check: func(t *testing.T, s *specs.Spec) {
		if s.Hostname != "web-1.example" || !slices.Contains(s.Process.Env, "HOSTNAME=web-1.example") {
			t.Errorf("hostname %q, env %q", s.Hostname, s.Process.Env)
		}
	}},
	{name: "a short id is the hostname whole", opts: func(o *Options) { o.ID = "c1" }, check: func(t *testing.T, s *specs.Spec) {
		if s.Hostname != "c1" {
			t.Errorf("hostname = %q", s.Hostname)
		}
	}},
	{name: "-t gives a terminal and TERM", opts: func(o *Options) { o.TTY = true }, check: func(t *testing.T, s *specs.Spec) {
		if !s.Process.Terminal {
			t.Error("no terminal")
		}
		wantStrings(t, "env", s.Process.Env, []string{"PATH=" + DefaultPath, "HOSTNAME=nb-012345678", "TERM=xterm"})
	}},
	{name: "--env TERM wins over -t's", opts: func(o *Options) { o.TTY = true; o.Env = []string{"TERM=dumb"} }, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "env", s.Process.Env, []string{"PATH=" + DefaultPath, "HOSTNAME=nb-012345678", "TERM=dumb"})
	}},
	{name: "image defaults apply when the command line is silent", opts: func(o *Options) {
		o.Args = nil
		o.Image = &ImageConfig{
			Env: []string{"PATH=/opt/bin", "LANG=C"}, Entrypoint: []string{"/entry"}, Cmd: []string{"serve", "-v"},
			WorkingDir: "/app", User: "1000:1000", Labels: map[string]string{"a": "1"},
		}
	}, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "args", s.Process.Args, []string{"/entry", "serve", "-v"})
		wantStrings(t, "env", s.Process.Env, []string{"PATH=/opt/bin", "HOSTNAME=nb-012345678", "LANG=C"})
		if s.Process.Cwd != "/app" || s.Process.User.UID != 1000 || s.Process.User.GID != 1000 {
			t.Errorf("cwd %q, user %+v; want the image's", s.Process.Cwd, s.Process.User)
		}
		if s.Annotations["a"] != "1" {
			t.Errorf("annotations = %v; want the image's labels", s.Annotations)
		}
	}},
	{name: "the command line wins over the image", opts: func(o *Options) {
		o.Args = []string{"echo", "hi"}
		o.Image = &ImageConfig{
			Env: []string{"A=image", "B=image"}, Entrypoint: []string{"/entry"}, Cmd: []string{"serve"},
			WorkingDir: "/app", User: "1000",
		}
		o.Env = []string{"B=cli", "C=cli", "C=cli2", "PATH=/cli"}
		o.Workdir = "/work/./dir/"
		o.User = "2000:3000"
	}, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "args", s.Process.Args, []string{"/entry", "echo", "hi"})
		wantStrings(t, "env", s.Process.Env, []string{"PATH=/cli", "HOSTNAME=nb-012345678", "A=image", "B=cli", "C=cli2"})
		if s.Process.Cwd != "/work/dir" || s.Process.User.UID != 2000 || s.Process.User.GID != 3000 {
			t.Errorf("cwd %q, user %+v; want the command line's", s.Process.Cwd, s.Process.User)
		}
	}},
	{name: "an image with only Cmd", opts: func(o *Options) { o.Args = nil; o.Image = &ImageConfig{Cmd: []string{"/bin/sh", "-c", "true"}} }, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "args", s.Process.Args, []string{"/bin/sh", "-c", "true"})
	}},
	{name: "an image with only an Entrypoint", opts: func(o *Options) { o.Args = nil; o.Image = &ImageConfig{Entrypoint: []string{"/bin/app"}} }, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "args", s.Process.Args, []string{"/bin/app"})
	}},
	{name: "a user name is resolved in the image's passwd and group", opts: func(o *Options) {
		o.Image = &ImageConfig{User: "nginx"}
		o.Passwd, o.Group = []byte(testPasswd), []byte(testGroup)
	}, check: func(t *testing.T, s *specs.Spec) {
		if u := s.Process.User; u.UID != 101 || u.GID != 101 || !slices.Equal(u.AdditionalGids, []uint32{33}) {
			t.Errorf("user = %+v; want nginx: 101, 101, [33]", u)
		}
	}},
	{name: "--uid and --gid", opts: func(o *Options) { o.UID, o.GID = u32(1000), u32(33); o.Image = &ImageConfig{User: "nginx"} }, check: func(t *testing.T, s *specs.Spec) {
		if u := s.Process.User; u.UID != 1000 || u.GID != 33 {
			t.Errorf("user = %+v; want 1000:33", u)
		}
	}},
	{name: "--gid alone keeps the image's user", opts: func(o *Options) {
		o.GID = u32(33)
		o.Image = &ImageConfig{User: "nginx:nginx"}
		o.Passwd, o.Group = []byte(testPasswd), []byte(testGroup)
	}, check: func(t *testing.T, s *specs.Spec) {
		if u := s.Process.User; u.UID != 101 || u.GID != 33 {
			t.Errorf("user = %+v; want 101:33", u)
		}
	}},
	{name: "--gid alone with no image user is root's", opts: func(o *Options) { o.GID = u32(33) }, check: func(t *testing.T, s *specs.Spec) {
		if u := s.Process.User; u.UID != 0 || u.GID != 33 {
			t.Errorf("user = %+v; want 0:33", u)
		}
	}},
	{name: "resources", opts: func(o *Options) { o.Memory = 64 << 20; o.CPUQuota = 50000; o.PidsLimit = 100 }, check: func(t *testing.T, s *specs.Spec) {
		r := s.Linux.Resources
		if r.Memory == nil || *r.Memory.Limit != 64<<20 || r.Memory.Swap != nil {
			t.Errorf("memory = %+v; want a 64m limit", r.Memory)
		}
		if r.CPU == nil || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 {
			t.Errorf("cpu = %+v; want 50000/100000", r.CPU)
		}
		if r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit != 100 {
			t.Errorf("pids = %+v; want 100", r.Pids)
		}
	}},
	{name: "a pids limit of -1 is none", opts: func(o *Options) { o.PidsLimit = -1 }, check: func(t *testing.T, s *specs.Spec) {
		if s.Linux.Resources.Pids != nil {
			t.Errorf("pids = %+v; want none", s.Linux.Resources.Pids)
		}
	}},
	{name: "rlimits are the caller's", opts: func(o *Options) {
		o.Rlimits = []specs.POSIXRlimit{NofileRlimit(20000), {Type: "RLIMIT_NPROC", Soft: 100, Hard: 200}}
	}, check: func(t *testing.T, s *specs.Spec) {
		want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 20000, Hard: 20000}, {Type: "RLIMIT_NPROC", Soft: 100, Hard: 200}}
		if !slices.Equal(s.Process.Rlimits, want) {
			t.Errorf("rlimits = %+v; want %+v", s.Process.Rlimits, want)
		}
	}},
	{name: "--network none: a network namespace and docker's sysctls", opts: func(o *Options) { o.Network = NetworkNone }, check: func(t *testing.T, s *specs.Spec) {
		if !hasNamespace(s, specs.NetworkNamespace) {
			t.Error("no network namespace")
		}
		if s.Linux.Sysctl["net.ipv4.ip_unprivileged_port_start"] != "0" || s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" {
			t.Errorf("sysctl = %v", s.Linux.Sysctl)
		}
	}},
	{name: "--network host: the host's namespace, its sysctls untouched", opts: func(o *Options) { o.Network = NetworkHost }, check: func(t *testing.T, s *specs.Spec) {
		if hasNamespace(s, specs.NetworkNamespace) || len(s.Linux.Namespaces) != 5 {
			t.Errorf("namespaces = %v; want all but network", s.Linux.Namespaces)
		}
		if s.Linux.Sysctl != nil {
			t.Errorf("sysctl = %v; want none", s.Linux.Sysctl)
		}
	}},
	{name: "--network bridge: the caller's network namespace, docker's sysctls", opts: func(o *Options) {
		o.Network, o.NetworkNamespace = NetworkBridge, "/var/lib/nebulon/containers/x/netns"
	}, check: func(t *testing.T, s *specs.Spec) {
		var path string
		for _, n := range s.Linux.Namespaces {
			if n.Type == specs.NetworkNamespace {
				path = n.Path
			}
		}
		if path != "/var/lib/nebulon/containers/x/netns" {
			t.Errorf("network namespace path = %q", path)
		}
		if s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" {
			t.Errorf("sysctl = %v", s.Linux.Sysctl)
		}
	}},
	{name: "--cap-add ALL", opts: func(o *Options) { o.CapAdd = []string{"ALL"} }, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "bounding", s.Process.Capabilities.Bounding, AllCapabilities())
		wantStrings(t, "effective", s.Process.Capabilities.Effective, AllCapabilities())
	}},
	{name: "--cap-drop ALL --cap-add NET_BIND_SERVICE", opts: func(o *Options) { o.CapDrop = []string{"all"}; o.CapAdd = []string{"net_bind_service"} }, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "bounding", s.Process.Capabilities.Bounding, []string{"CAP_NET_BIND_SERVICE"})
		wantStrings(t, "permitted", s.Process.Capabilities.Permitted, []string{"CAP_NET_BIND_SERVICE"})
	}},
	{name: "--cap-drop ALL leaves no capability", opts: func(o *Options) { o.CapDrop = []string{"ALL"} }, check: func(t *testing.T, s *specs.Spec) {
		if c := s.Process.Capabilities; len(c.Bounding)+len(c.Effective)+len(c.Permitted) != 0 {
			t.Errorf("capabilities = %+v; want none", c)
		}
	}},
	{name: "--init: the init runs the command after --, bound read-only at /sbin/docker-init", opts: func(o *Options) {
		o.Init = "/usr/bin/catatonit"
		o.Args = []string{"sleep", "10"}
	}, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "args", s.Process.Args, []string{"/sbin/docker-init", "--", "sleep", "10"})
		m := mountAt(s, "/sbin/docker-init")
		if m == nil || m.Type != "bind" || m.Source != "/usr/bin/catatonit" || !slices.Equal(m.Options, []string{"rbind", "ro", "rprivate"}) {
			t.Errorf("/sbin/docker-init = %+v; want a read-only bind of the init", m)
		}
	}},
	{name: "--read-only and --tmpfs", opts: func(o *Options) {
		o.ReadOnly = true
		o.Tmpfs = []Tmpfs{{Destination: "/tmp"}, {Destination: "/run", Options: []string{"size=64m", "mode=755"}}}
	}, check: func(t *testing.T, s *specs.Spec) {
		if !s.Root.Readonly {
			t.Error("root is writable")
		}
		tmp, run := mountAt(s, "/tmp"), mountAt(s, "/run")
		if tmp == nil || tmp.Type != "tmpfs" || tmp.Source != "tmpfs" || !slices.Equal(tmp.Options, []string{"nosuid", "nodev", "mode=1777"}) {
			t.Errorf("/tmp = %+v", tmp)
		}
		if run == nil || !slices.Equal(run.Options, []string{"nosuid", "nodev", "mode=755", "size=64m"}) {
			t.Errorf("/run = %+v", run)
		}
	}},
	{name: "volumes: read-write and read-only binds", opts: func(o *Options) {
		o.Volumes = []Mount{{Source: "/var/lib/nebulon/volumes/data/_data", Destination: "/data"}, {Source: "/srv/conf/", Destination: "/etc/app/", ReadOnly: true}}
	}, check: func(t *testing.T, s *specs.Spec) {
		data, conf := mountAt(s, "/data"), mountAt(s, "/etc/app")
		if data == nil || data.Type != "bind" || data.Source != "/var/lib/nebulon/volumes/data/_data" || !slices.Equal(data.Options, []string{"rbind", "rprivate"}) {
			t.Errorf("/data = %+v; want a read-write rbind", data)
		}
		if conf == nil || conf.Source != "/srv/conf" || !slices.Equal(conf.Options, []string{"rbind", "ro", "rprivate"}) {
			t.Errorf("/etc/app = %+v; want a read-only rbind", conf)
		}
	}},
	{name: "extra mounts are read-only with the root", opts: func(o *Options) {
		o.ReadOnly = true
		o.ExtraMounts = []Mount{{Source: "/run/nb/hosts", Destination: "/etc/hosts"}}
	}, check: func(t *testing.T, s *specs.Spec) {
		if m := mountAt(s, "/etc/hosts"); m == nil || !slices.Equal(m.Options, []string{"rbind", "ro", "rprivate"}) {
			t.Errorf("/etc/hosts = %+v; want read-only", m)
		}
	}},
	{name: "extra mounts are writable with a writable root", opts: func(o *Options) {
		o.ExtraMounts = []Mount{{Source: "/run/nb/hosts", Destination: "/etc/hosts"}}
	}, check: func(t *testing.T, s *specs.Spec) {
		if m := mountAt(s, "/etc/hosts"); m == nil || !slices.Equal(m.Options, []string{"rbind", "rprivate"}) {
			t.Errorf("/etc/hosts = %+v; want writable", m)
		}
	}},
	{name: "user mounts come parents first, after the defaults", opts: func(o *Options) {
		o.Volumes = []Mount{{Source: "/a", Destination: "/data/deep/er"}, {Source: "/b", Destination: "/data"}}
		o.Tmpfs = []Tmpfs{{Destination: "/data/deep"}, {Destination: "/run"}}
	}, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "mounts", destinations(s), append(slices.Clone(defaultDestinations), "/data", "/run", "/data/deep", "/data/deep/er"))
	}},
	{name: "a user mount replaces the default at its destination", opts: func(o *Options) {
		o.Tmpfs = []Tmpfs{{Destination: "/dev/shm", Options: []string{"size=1g"}}}
	}, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "mounts", destinations(s), []string{"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/dev/shm"})
		if m := mountAt(s, "/dev/shm"); m.Source != "tmpfs" || !slices.Contains(m.Options, "size=1g") {
			t.Errorf("/dev/shm = %+v; want the --tmpfs", m)
		}
	}},
	{name: "a user mount on /dev drops the defaults under it", opts: func(o *Options) {
		o.Volumes = []Mount{{Source: "/srv/dev", Destination: "/dev"}}
	}, check: func(t *testing.T, s *specs.Spec) {
		wantStrings(t, "mounts", destinations(s), []string{"/proc", "/sys", "/sys/fs/cgroup", "/dev"})
	}},
	{name: "annotations: labels, then the caller's, then --name", opts: func(o *Options) {
		o.Name = "web"
		o.Image = &ImageConfig{Labels: map[string]string{"a": "label", "b": "label", AnnotationName: "label"}}
		o.Annotations = map[string]string{"b": "annotation", "c": "annotation"}
	}, check: func(t *testing.T, s *specs.Spec) {
		want := map[string]string{"a": "label", "b": "annotation", "c": "annotation", AnnotationName: "web"}
		if len(s.Annotations) != len(want) {
			t.Errorf("annotations = %v; want %v", s.Annotations, want)
		}
		for k, v := range want {
			if s.Annotations[k] != v {
				t.Errorf("annotations = %v; want %v", s.Annotations, want)
			}
		}
	}},
	{name: "cgroups path and a rootfs path cleaned", opts: func(o *Options) { o.CgroupsPath = "/nb/c1"; o.RootfsPath = "/x//y/" }, check: func(t *testing.T, s *specs.Spec) {
		if s.Linux.CgroupsPath != "/nb/c1" || s.Root.Path != "/x/y" {
			t.Errorf("cgroups path %q, root %q", s.Linux.CgroupsPath, s.Root.Path)
		}
	}},
	{name: "every option at once", opts: func(o *Options) { *o = *fullOptions() }, check: func(t *testing.T, s *specs.Spec) {}},
}

func TestSpec(t *testing.T) {
	for _, tc := range specCases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions()
			if tc.opts != nil {
				tc.opts(o)
			}
			s, err := Spec(o)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		opts func(o *Options)
		err  string
	}{
		{func(o *Options) { o.RootfsPath = "rootfs" }, `rootfs "rootfs": not an absolute path`},
		{func(o *Options) { o.RootfsPath = "" }, `rootfs "": not an absolute path`},
		{func(o *Options) { o.Hostname = "a b" }, `--hostname "a b": want 1 to 64 letters, digits and -._`},
		{func(o *Options) { o.Hostname = strings.Repeat("a", 65) }, `--hostname "` + strings.Repeat("a", 65) + `": want 1 to 64 letters, digits and -._`},
		{func(o *Options) { o.ID = "" }, `container id "": not usable as a hostname: give --hostname`},
		{func(o *Options) { o.Args = nil }, `no command: give CMD [ARGS...], or an image with an Entrypoint or Cmd`},
		{func(o *Options) { o.Args = nil; o.Image = &ImageConfig{WorkingDir: "/"} }, `no command: give CMD [ARGS...], or an image with an Entrypoint or Cmd`},
		{func(o *Options) { o.Args = []string{"", "x"} }, `command ["" "x"]: the program name is empty`},
		{func(o *Options) { o.Workdir = "srv" }, `--workdir "srv": not an absolute path`},
		{func(o *Options) { o.Image = &ImageConfig{WorkingDir: "app"} }, `image WorkingDir "app": not an absolute path`},
		{func(o *Options) { o.Env = []string{"A=1", "B"} }, `--env "B": want K=V`},
		{func(o *Options) { o.Env = []string{"=x"} }, `--env "=x": want K=V`},
		{func(o *Options) { o.Image = &ImageConfig{Env: []string{"JUNK"}} }, `image Env "JUNK": want K=V`},
		{func(o *Options) { o.User = "1000"; o.UID = u32(1) }, `--user "1000" and --uid/--gid: give one or the other`},
		{func(o *Options) { o.User = "1000"; o.GID = u32(1) }, `--user "1000" and --uid/--gid: give one or the other`},
		{func(o *Options) { o.User = "nginx" }, `--user "nginx": no such user in the container's /etc/passwd`},
		{func(o *Options) { o.User = "-x" }, `--user "-x": user "-x" is neither a number nor a name`},
		{func(o *Options) { o.Image = &ImageConfig{User: "nginx"} }, `image User "nginx": no such user in the container's /etc/passwd`},
		{func(o *Options) { o.UID = u32(5); o.GID = u32(1 << 31) }, `--uid/--gid "5:2147483648": group 2147483648 is not from 0 to 2147483647`},
		{func(o *Options) { o.CapAdd = []string{"FLY"} }, `--cap-add "FLY": unknown capability`},
		{func(o *Options) { o.CapAdd = []string{"ALL"}; o.CapDrop = []string{"ALL"} }, `--cap-add ALL and --cap-drop ALL: give one or the other`},
		{func(o *Options) { o.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_FUN"}} }, `rlimit "RLIMIT_FUN": unknown`},
		{func(o *Options) { o.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE"}, {Type: "RLIMIT_NOFILE"}} }, `rlimit RLIMIT_NOFILE: given twice`},
		{func(o *Options) { o.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 2, Hard: 1}} }, `rlimit RLIMIT_NOFILE: soft limit 2 is above hard limit 1`},
		{func(o *Options) { o.Network = "bridge" }, `--network bridge: needs the path of its network namespace`},
		{func(o *Options) { o.Network = "a b" }, `--network "a b": want none, host, bridge, container:ID|NAME or a network's name`},
		{func(o *Options) { o.NetworkNamespace = "/x" }, `--network none: joins no network namespace (given /x)`},
		{func(o *Options) { o.Volumes = []Mount{{Source: "data", Destination: "/data"}} }, `-v data:/data: source "data" is not an absolute path`},
		{func(o *Options) { o.Volumes = []Mount{{Source: "/d", Destination: "data"}} }, `-v /d:data: destination "data" is not an absolute path`},
		{func(o *Options) { o.Volumes = []Mount{{Source: "/d", Destination: "/"}} }, `-v /d:/: destination "/" is the container's root`},
		{func(o *Options) { o.ExtraMounts = []Mount{{Source: "hosts", Destination: "/etc/hosts"}} }, `mount hosts:/etc/hosts: source "hosts" is not an absolute path`},
		{func(o *Options) { o.Tmpfs = []Tmpfs{{Destination: "tmp"}} }, `--tmpfs tmp: "tmp" is not an absolute path`},
		{func(o *Options) { o.Tmpfs = []Tmpfs{{Destination: "/tmp", Options: []string{"suid"}}} }, `--tmpfs /tmp: unknown option "suid" (ro, rw, exec, noexec, size=, nr_inodes=, mode=, uid=, gid=)`},
		{func(o *Options) {
			o.Volumes = []Mount{{Source: "/a", Destination: "/data"}, {Source: "/b", Destination: "/data/"}}
		}, `-v /b:/data/: destination /data is also the destination of -v /a:/data`},
		{func(o *Options) {
			o.Volumes = []Mount{{Source: "/a", Destination: "/tmp"}}
			o.Tmpfs = []Tmpfs{{Destination: "/tmp"}}
		}, `--tmpfs /tmp: destination /tmp is also the destination of -v /a:/tmp`},
		{func(o *Options) {
			o.Tmpfs = []Tmpfs{{Destination: "/etc/hosts"}}
			o.ExtraMounts = []Mount{{Source: "/run/hosts", Destination: "/etc/hosts"}}
		}, `mount /run/hosts:/etc/hosts: destination /etc/hosts is also the destination of --tmpfs /etc/hosts`},
		{func(o *Options) { o.Memory = -1 }, `--memory: -1 bytes is negative`},
		{func(o *Options) { o.Memory = 1 << 20 }, `--memory: 1048576 bytes is below the minimum of 6m`},
		{func(o *Options) { o.CPUQuota = 999 }, `--cpus: quota 999us is below the kernel's minimum of 1000`},
		{func(o *Options) { o.CPUQuota = 50000; o.CPUPeriod = 10 }, `--cpus: period 10us is outside 1000..1000000`},
		{func(o *Options) { o.PidsLimit = -2 }, `--pids-limit: -2 is not a number of tasks`},
		{func(o *Options) { o.Image = &ImageConfig{Labels: map[string]string{"": "v"}} }, `image label "=v": empty key`},
		{func(o *Options) { o.Annotations = map[string]string{"": "v"} }, `annotation "=v": empty key`},
	} {
		o := baseOptions()
		tc.opts(o)
		s, err := Spec(o)
		if errString(err) != tc.err {
			t.Errorf("Spec error = %q; want %q", errString(err), tc.err)
		}
		if err != nil && s != nil {
			t.Errorf("Spec returned a spec with error %q", err)
		}
	}
}

// The same options give the same config.json, byte for byte, whatever the maps' order; the
// golden files show a reviewer the whole of what nb create writes.
func TestSpecIsDeterministic(t *testing.T) {
	for name, opts := range map[string]func() *Options{"minimal": baseOptions, "full": fullOptions} {
		var first []byte
		for range 20 {
			s, err := Spec(opts())
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			if first == nil {
				first = b
			} else if string(b) != string(first) {
				t.Fatalf("%s: two Spec calls differ:\n%s\n%s", name, first, b)
			}
		}
		golden := "testdata/spec-" + name + ".json"
		if *update {
			if err := os.WriteFile(golden, append(first, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if string(first)+"\n" != string(want) {
			t.Errorf("%s: Spec output differs from %s (go test -update rewrites it):\n%s", name, golden, first)
		}
	}
}

// Spec must not keep or change the caller's slices: nb may build several specs from one image.
func TestSpecLeavesOptionsAlone(t *testing.T) {
	o := fullOptions()
	s, err := Spec(o)
	if err != nil {
		t.Fatal(err)
	}
	s.Process.Args[0] = "changed"
	s.Process.Env[0] = "changed"
	s.Process.Rlimits[0].Soft = 1
	s.Process.Capabilities.Bounding[0] = "changed"
	want := fullOptions()
	if o.Image.Entrypoint[0] != want.Image.Entrypoint[0] || o.Image.Env[0] != want.Image.Env[0] ||
		o.Rlimits[0] != want.Rlimits[0] || !slices.Equal(o.Tmpfs[1].Options, want.Tmpfs[1].Options) {
		t.Errorf("Spec's output shares memory with its options")
	}
	if s.Process.Capabilities.Effective[0] == "changed" || DockerCapabilities[0] == "changed" {
		t.Errorf("capability sets share memory")
	}
}

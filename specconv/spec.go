package specconv

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Spec is the OCI runtime spec of the container o describes: docker's defaults for a container
// (its capabilities, namespaces, device rules, and runc's mounts, masked and read-only paths),
// the image's config where the command line says nothing, and the command line over both. It
// reads nothing and asks the host nothing: the same options give the same spec.
func Spec(o *Options) (*specs.Spec, error) {
	if !path.IsAbs(o.RootfsPath) {
		return nil, fmt.Errorf("rootfs %q: not an absolute path", o.RootfsPath)
	}
	img := o.Image
	if img == nil {
		img = &ImageConfig{}
	}
	hostname, err := o.hostname()
	if err != nil {
		return nil, err
	}
	process, err := o.process(img, hostname)
	if err != nil {
		return nil, err
	}
	network, err := o.network()
	if err != nil {
		return nil, err
	}
	mounts, err := o.mounts()
	if err != nil {
		return nil, err
	}
	linux, err := o.linux(network)
	if err != nil {
		return nil, err
	}
	annotations, err := o.annotations(img)
	if err != nil {
		return nil, err
	}
	return &specs.Spec{
		Version:     specs.Version,
		Root:        &specs.Root{Path: path.Clean(o.RootfsPath), Readonly: o.ReadOnly},
		Process:     process,
		Hostname:    hostname,
		Mounts:      mounts,
		Annotations: annotations,
		Linux:       linux,
	}, nil
}

// process is the container's process: the command, its directory, environment, user,
// capabilities and rlimits.
func (o *Options) process(img *ImageConfig, hostname string) (*specs.Process, error) {
	args, err := command(img, o.Args)
	if err != nil {
		return nil, err
	}
	if o.Init != "" {
		args = slices.Concat([]string{InitPath, "--"}, args)
	}
	cwd, err := workdir(img, o.Workdir)
	if err != nil {
		return nil, err
	}
	env, err := o.env(img, hostname)
	if err != nil {
		return nil, err
	}
	usr, err := o.user(img)
	if err != nil {
		return nil, err
	}
	caps, err := ParseCapabilities(o.CapAdd, o.CapDrop)
	if err != nil {
		return nil, err
	}
	if err := checkRlimits(o.Rlimits); err != nil {
		return nil, err
	}
	return &specs.Process{
		Terminal: o.TTY,
		User:     usr,
		Args:     args,
		Env:      env,
		Cwd:      cwd,
		// No inheritable or ambient sets: with them a program could regain, across execve,
		// capabilities the container was not meant to pass on (CVE-2022-24769, docker's fix).
		Capabilities: &specs.LinuxCapabilities{
			Bounding:  slices.Clone(caps),
			Effective: slices.Clone(caps),
			Permitted: slices.Clone(caps),
		},
		Rlimits: slices.Clone(o.Rlimits),
		// Docker leaves no_new_privs off, so set-uid programs (su, ping on old images) work.
		NoNewPrivileges: false,
	}, nil
}

// network is --network, or none when it is not given.
func (o *Options) network() (Network, error) {
	network := o.Network
	if network == "" {
		network = NetworkNone
	}
	if _, err := ParseNetwork(string(network)); err != nil {
		return "", err
	}
	if o.NetworkNamespace != "" && !path.IsAbs(o.NetworkNamespace) {
		return "", fmt.Errorf("network namespace %q: not an absolute path", o.NetworkNamespace)
	}
	if (network == NetworkNone || network == NetworkHost) && o.NetworkNamespace != "" {
		return "", fmt.Errorf("--network %s: joins no network namespace (given %s)", network, o.NetworkNamespace)
	}
	if network != NetworkNone && network != NetworkHost && o.NetworkNamespace == "" {
		return "", fmt.Errorf("--network %s: needs the path of its network namespace", network)
	}
	return network, nil
}

// linux is the spec's Linux section: the namespaces and sysctls for network, the cgroup and its
// limits, and runc's masked and read-only paths.
func (o *Options) linux(network Network) (*specs.Linux, error) {
	resources, err := o.resources()
	if err != nil {
		return nil, err
	}
	return &specs.Linux{
		Namespaces:    namespaces(network, o.NetworkNamespace),
		Sysctl:        sysctls(network),
		Resources:     resources,
		CgroupsPath:   o.CgroupsPath,
		MaskedPaths:   defaultMaskedPaths(),
		ReadonlyPaths: defaultReadonlyPaths(),
	}, nil
}

// hostnameRE is what a hostname may be: letters, digits, - and . (RFC 1123), and the _ that
// many names hold anyway; at most 64 bytes, the kernel's __NEW_UTS_LEN.
var hostnameRE = lazyRegexp(`^[a-zA-Z0-9_.-]{1,64}$`)

func (o *Options) hostname() (string, error) {
	if o.Hostname != "" {
		if !hostnameRE().MatchString(o.Hostname) {
			return "", fmt.Errorf("--hostname %q: want 1 to 64 letters, digits and -._", o.Hostname)
		}
		return o.Hostname, nil
	}
	h := o.ID
	if len(h) > 12 {
		h = h[:12]
	}
	if !hostnameRE().MatchString(h) {
		return "", fmt.Errorf("container id %q: not usable as a hostname: give --hostname", o.ID)
	}
	return h, nil
}

// command is docker's rule: the image's Entrypoint, then the command line's CMD [ARGS...] or,
// when there is none, the image's Cmd.
func command(img *ImageConfig, cmdline []string) ([]string, error) {
	rest := cmdline
	if len(rest) == 0 {
		rest = img.Cmd
	}
	args := slices.Concat(img.Entrypoint, rest)
	if len(args) == 0 {
		return nil, errors.New("no command: give CMD [ARGS...], or an image with an Entrypoint or Cmd")
	}
	if args[0] == "" {
		return nil, fmt.Errorf("command %q: the program name is empty", args)
	}
	return args, nil
}

// workdir is --workdir, else the image's WorkingDir, else /.
func workdir(img *ImageConfig, flag string) (string, error) {
	dir, source := flag, "--workdir"
	if dir == "" {
		dir, source = img.WorkingDir, "image WorkingDir"
	}
	if dir == "" {
		return "/", nil
	}
	if !path.IsAbs(dir) {
		return "", fmt.Errorf("%s %q: not an absolute path", source, dir)
	}
	return path.Clean(dir), nil
}

// env is docker's environment: PATH, HOSTNAME and (with -t) TERM, then the image's Env over
// them, then --env over that. A variable set again keeps its first place with its last value.
func (o *Options) env(img *ImageConfig, hostname string) ([]string, error) {
	env := []string{"PATH=" + DefaultPath, "HOSTNAME=" + hostname}
	if o.TTY {
		env = append(env, "TERM=xterm")
	}
	index := map[string]int{}
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		index[k] = i
	}
	for _, layer := range []struct {
		source string
		vars   []string
	}{{"image Env", img.Env}, {"--env", o.Env}} {
		for _, kv := range layer.vars {
			k, _, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("%s %q: want K=V", layer.source, kv)
			}
			if i, seen := index[k]; seen {
				env[i] = kv
				continue
			}
			index[k] = len(env)
			env = append(env, kv)
		}
	}
	return env, nil
}

// user is the process's user: --user, or --uid/--gid, or the image's User, or root.
func (o *Options) user(img *ImageConfig) (specs.User, error) {
	if o.User != "" && (o.UID != nil || o.GID != nil) {
		return specs.User{}, fmt.Errorf("--user %q and --uid/--gid: give one or the other", o.User)
	}
	spec, source := o.User, "--user"
	switch {
	case o.UID != nil || o.GID != nil:
		spec, source = o.idSpec(img), "--uid/--gid"
	case spec == "":
		spec, source = img.User, "image User"
	}
	return ResolveUser(source, spec, o.Passwd, o.Group)
}

// idSpec is --uid and --gid as a U[:G] spec. --gid alone changes the group of the image's user.
func (o *Options) idSpec(img *ImageConfig) string {
	u, _, _ := strings.Cut(img.User, ":")
	if o.UID != nil {
		u = strconv.FormatUint(uint64(*o.UID), 10)
	}
	if o.GID != nil {
		if u == "" {
			u = "0"
		}
		u += ":" + strconv.FormatUint(uint64(*o.GID), 10)
	}
	return u
}

// rlimitNames are the rlimits the spec knows (config.md, "POSIX process").
var rlimitNames = []string{
	"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
	"RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
	"RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
}

func checkRlimits(rl []specs.POSIXRlimit) error {
	seen := map[string]bool{}
	for _, r := range rl {
		switch {
		case !slices.Contains(rlimitNames, r.Type):
			return fmt.Errorf("rlimit %q: unknown", r.Type)
		case seen[r.Type]:
			return fmt.Errorf("rlimit %s: given twice", r.Type)
		case r.Soft > r.Hard:
			return fmt.Errorf("rlimit %s: soft limit %d is above hard limit %d", r.Type, r.Soft, r.Hard)
		}
		seen[r.Type] = true
	}
	return nil
}

// PodmanNofile is the open-file limit podman gives a container (soft and hard).
const PodmanNofile = 1048576

// NofileRlimit is podman's RLIMIT_NOFILE for a container: PodmanNofile, or hostHard (the caller's
// own hard limit, from getrlimit) when that is lower, because a process without CAP_SYS_RESOURCE
// in the host's user namespace cannot raise a hard limit.
func NofileRlimit(hostHard uint64) specs.POSIXRlimit {
	n := min(uint64(PodmanNofile), hostHard)
	return specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: n, Hard: n}
}

// namespaces are docker's for --network none (a network namespace with only lo), host (none:
// the host's), or the namespace at path (a network's, or another container's).
func namespaces(network Network, path string) []specs.LinuxNamespace {
	ns := defaultNamespaces()
	if network == NetworkHost {
		return slices.DeleteFunc(ns, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
	}
	for i := range ns {
		if ns[i].Type == specs.NetworkNamespace {
			ns[i].Path = path
		}
	}
	return ns
}

// sysctls are docker's defaults for a container with a network namespace of its own: any user may
// bind ports below 1024 and open ICMP echo sockets (ping without CAP_NET_RAW or set-uid). Both
// are per network namespace, so they change nothing outside it; with the host's network they
// would, so they are left alone.
func sysctls(network Network) map[string]string {
	if network == NetworkHost {
		return nil
	}
	return map[string]string{
		"net.ipv4.ip_unprivileged_port_start": "0",
		"net.ipv4.ping_group_range":           "0 2147483647",
	}
}

// resources are the cgroup limits: --memory, --cpus, --pids-limit, and no devices but the
// runtime's defaults.
func (o *Options) resources() (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{Devices: denyAllDevices()}
	switch m := o.Memory; {
	case m < 0:
		return nil, fmt.Errorf("--memory: %d bytes is negative", m)
	case m > 0 && m < MinMemory:
		return nil, fmt.Errorf("--memory: %d bytes is below the minimum of 6m", m)
	case m > 0:
		r.Memory = &specs.LinuxMemory{Limit: &m}
	}
	if q := o.CPUQuota; q != 0 {
		p := o.CPUPeriod
		if p == 0 {
			p = CPUPeriod
		}
		// The kernel takes periods of 1ms to 1s (tg_set_cfs_bandwidth: min_ and max_cfs_quota_period).
		if p < 1000 || p > 1000000 {
			return nil, fmt.Errorf("--cpus: period %dus is outside 1000..1000000", p)
		}
		if q < minCPUQuota {
			return nil, fmt.Errorf("--cpus: quota %dus is below the kernel's minimum of 1000", q)
		}
		r.CPU = &specs.LinuxCPU{Quota: &q, Period: &p}
	}
	switch n := o.PidsLimit; {
	case n < -1:
		return nil, fmt.Errorf("--pids-limit: %d is not a number of tasks", n)
	case n > 0:
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	return r, nil
}

// annotations are the image's labels, with o.Annotations and --name over them.
func (o *Options) annotations(img *ImageConfig) (map[string]string, error) {
	out := map[string]string{}
	for _, layer := range []struct {
		source string
		m      map[string]string
	}{{"image label", img.Labels}, {"annotation", o.Annotations}} {
		for k, v := range layer.m {
			if k == "" {
				return nil, fmt.Errorf("%s %q: empty key", layer.source, "="+v)
			}
			out[k] = v
		}
	}
	if o.Name != "" {
		out[AnnotationName] = o.Name
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

package main

import (
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/network"
	"github.com/nebulon-dev/nebulon/internal/overlay"
	"github.com/nebulon-dev/nebulon/internal/rootless"
	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/specconv"
)

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container from an image or a root filesystem; prints its id",
	ArgsUsage: "(--rootfs DIR | IMAGE) [CMD [ARGS...]]",
	Description: `The container gets new pid, ipc, uts, mount, network and cgroup namespaces, an address on the
bridge network (or --network's), docker's default capabilities, and its own copy-on-write root
over an image. Examples:
   nb create --name web --rootfs /srv/rootfs -e MODE=prod --memory 64m -p 8080:80 sh -c 'httpd -f'
   nb create --name db -v data:/var/lib/db --read-only --tmpfs /run busybox:latest sleep 1000
   nb create -t --user 1000:1000 --cap-drop ALL busybox sh`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "name", Usage: "a unique name (ids and names are accepted everywhere)"},
		&cli.StringFlag{Name: "hostname", Usage: "the container's hostname (default: its id)"},
		&cli.StringFlag{Name: "rootfs", Usage: "run on this root filesystem directory instead of an image"},
		&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "environment variable K=V (repeatable)"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "user U[:G], names or numbers"},
		&cli.StringFlag{Name: "uid", Usage: "user id"},
		&cli.StringFlag{Name: "gid", Usage: "group id"},
		&cli.StringFlag{Name: "memory", Aliases: []string{"m"}, Usage: "memory limit (64m, 1g)"},
		&cli.StringFlag{Name: "cpus", Usage: "CPUs it may use (0.5)"},
		&cli.StringFlag{Name: "pids-limit", Usage: "most processes it may have"},
		&cli.StringSliceFlag{Name: "volume", Aliases: []string{"v"}, Usage: "VOLUME:/path[:ro] or /host/dir:/path[:ro] (repeatable)"},
		&cli.StringSliceFlag{Name: "tmpfs", Usage: "a tmpfs at /path[:OPTIONS] (repeatable)"},
		&cli.BoolFlag{Name: "read-only", Usage: "mount the root read-only"},
		&cli.StringFlag{Name: "network", Value: "bridge", Usage: "bridge (the default network), a network's name, none (only lo), host, or container:ID|NAME"},
		&cli.StringSliceFlag{Name: "publish", Aliases: []string{"p"}, Usage: "publish a port: [IP:]HOSTPORT:CTRPORT[/tcp|udp] (repeatable)"},
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "restart policy of nb run -d: no, on-failure[:N], always, unless-stopped"},
		&cli.StringSliceFlag{Name: "cap-add", Usage: "add a capability (NET_ADMIN, ALL)"},
		&cli.StringSliceFlag{Name: "cap-drop", Usage: "drop a capability (CHOWN, ALL)"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the process a terminal"},
		&cli.BoolFlag{Name: "init", Usage: "run an init as process 1 that reaps orphans and passes signals on (docker-init, catatonit or tini-static)"},
		&cli.StringFlag{Name: "init-path", Usage: "the static init binary --init runs"},
	},
	Action: createAction,
}

// createConfig is what a container was created with, kept in its metadata for inspect.
type createConfig struct {
	Rootfs   string            `json:"rootfs,omitempty"`
	Image    string            `json:"image,omitempty"`
	Args     []string          `json:"args,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	Workdir  string            `json:"workdir,omitempty"`
	Env      []string          `json:"env,omitempty"`
	User     string            `json:"user,omitempty"`
	Memory   int64             `json:"memory,omitempty"`
	CPUs     string            `json:"cpus,omitempty"`
	Pids     int64             `json:"pidsLimit,omitempty"`
	Volumes  []string          `json:"volumes,omitempty"`
	Tmpfs    []string          `json:"tmpfs,omitempty"`
	ReadOnly bool              `json:"readOnly,omitempty"`
	Network  string            `json:"network"`
	Ports    []string          `json:"ports,omitempty"`
	Restart  string            `json:"restart,omitempty"`
	CapAdd   []string          `json:"capAdd,omitempty"`
	CapDrop  []string          `json:"capDrop,omitempty"`
	TTY      bool              `json:"tty,omitempty"`
	Init     string            `json:"init,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

func createAction(ctx *cli.Context) (retErr error) {
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	o, cfg, named, err := createOptions(ctx)
	if err != nil {
		return err
	}
	unlock, err := lockClean(s)
	if err != nil {
		return err
	}
	defer unlock()
	if o.Name != "" {
		if c, err := s.FindContainer(o.Name); err == nil && c.Name == o.Name {
			return fmt.Errorf("the name %q is taken by container %s", o.Name, c.ID)
		}
	}
	for i, v := range o.Volumes {
		if !named[i] {
			continue
		}
		vol, err := s.Volume(v.Source)
		if err != nil {
			return fmt.Errorf("-v %s:%s: %w", v.Source, v.Destination, err)
		}
		o.Volumes[i].Source = vol.Mountpoint
	}
	id := store.NewID()
	o.ID = id
	if o.Name == "" {
		o.Name = id
	}
	dir := s.ContainerDir(id)
	if err := os.MkdirAll(bundleDir(s, id), 0o700); err != nil {
		return err
	}
	c := &store.Container{ID: id, Name: o.Name, Created: time.Now().UTC(), Status: store.Created}
	defer func() {
		if retErr != nil {
			overlay.Unmount(overlay.LayoutOf(dir))
			os.RemoveAll(dir)
		}
	}()
	if err := setRootfs(ctx, s, c, o, cfg); err != nil {
		return err
	}
	if err := setNetwork(s, c, o, cfg); err != nil {
		return err
	}
	spec, err := specconv.Spec(o)
	if err != nil {
		return err
	}
	if rootless.Is() {
		rootlessSpec(spec)
	}
	if err := writeEtcFiles(s, id, spec.Hostname, o.Network); err != nil {
		return err
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundleDir(s, id), "config.json"), data, 0o600); err != nil {
		return err
	}
	c.Command = spec.Process.Args
	for i, v := range cfg.Volumes {
		if named[i] {
			c.Volumes = append(c.Volumes, strings.SplitN(v, ":", 2)[0])
		}
	}
	if c.Config, err = json.Marshal(cfg); err != nil {
		return err
	}
	if err := s.SaveContainer(c); err != nil {
		return err
	}
	fmt.Fprintln(ctx.App.Writer, id)
	return nil
}

// createOptions parses create's flags into specconv's options; named says which volumes are
// volume names (the store resolves them).
func createOptions(ctx *cli.Context) (*specconv.Options, *createConfig, []bool, error) {
	o := &specconv.Options{
		Name: ctx.String("name"), Hostname: ctx.String("hostname"), Workdir: ctx.String("workdir"),
		Env: ctx.StringSlice("env"), User: ctx.String("user"), TTY: ctx.Bool("tty"), ReadOnly: ctx.Bool("read-only"),
		CapAdd: ctx.StringSlice("cap-add"), CapDrop: ctx.StringSlice("cap-drop"),
	}
	cfg := &createConfig{
		Rootfs: ctx.String("rootfs"), Hostname: o.Hostname, Workdir: o.Workdir, Env: o.Env, User: o.User,
		CPUs: ctx.String("cpus"), Volumes: ctx.StringSlice("volume"), Tmpfs: ctx.StringSlice("tmpfs"),
		ReadOnly: o.ReadOnly, CapAdd: o.CapAdd, CapDrop: o.CapDrop, TTY: o.TTY,
	}
	args := ctx.Args().Slice()
	if cfg.Rootfs == "" {
		if len(args) == 0 {
			return nil, nil, nil, fmt.Errorf("create: needs --rootfs DIR or an IMAGE; usage: nb create [flags] (--rootfs DIR | IMAGE) [CMD [ARGS...]]")
		}
		cfg.Image, args = args[0], args[1:]
	}
	o.Args, cfg.Args = args, args
	var err error
	if s := ctx.String("uid"); s != "" {
		uid, err := specconv.ParseID("--uid", s)
		if err != nil {
			return nil, nil, nil, err
		}
		o.UID = &uid
	}
	if s := ctx.String("gid"); s != "" {
		gid, err := specconv.ParseID("--gid", s)
		if err != nil {
			return nil, nil, nil, err
		}
		o.GID = &gid
	}
	if s := ctx.String("memory"); s != "" {
		if o.Memory, err = specconv.ParseMemory(s); err != nil {
			return nil, nil, nil, err
		}
		cfg.Memory = o.Memory
	}
	if s := ctx.String("cpus"); s != "" {
		if o.CPUQuota, o.CPUPeriod, err = specconv.ParseCPUs(s); err != nil {
			return nil, nil, nil, err
		}
	}
	if s := ctx.String("pids-limit"); s != "" {
		if o.PidsLimit, err = specconv.ParsePidsLimit(s); err != nil {
			return nil, nil, nil, err
		}
		cfg.Pids = o.PidsLimit
	}
	netFlag := ctx.String("network")
	if rootless.Is() && !ctx.IsSet("network") {
		netFlag = network.Slirp.Name // a bridge needs root
	}
	if o.Network, err = specconv.ParseNetwork(netFlag); err != nil {
		return nil, nil, nil, err
	}
	cfg.Network = string(o.Network)
	for _, p := range ctx.StringSlice("publish") {
		pm, err := network.ParsePublish(p)
		if err != nil {
			return nil, nil, nil, err
		}
		cfg.Ports = append(cfg.Ports, pm.String())
	}
	if _, err := parseRestart(ctx.String("restart")); err != nil {
		return nil, nil, nil, err
	}
	cfg.Restart = ctx.String("restart")
	if o.Init, err = initBinary(ctx.Bool("init"), ctx.String("init-path")); err != nil {
		return nil, nil, nil, err
	}
	cfg.Init = o.Init
	var named []bool
	for _, s := range cfg.Volumes {
		v, err := specconv.ParseVolume(s)
		if err != nil {
			return nil, nil, nil, err
		}
		o.Volumes = append(o.Volumes, specconv.Mount{Source: v.Source, Destination: v.Destination, ReadOnly: v.ReadOnly})
		named = append(named, v.Named)
	}
	for _, s := range cfg.Tmpfs {
		t, err := specconv.ParseTmpfs(s)
		if err != nil {
			return nil, nil, nil, err
		}
		o.Tmpfs = append(o.Tmpfs, t)
	}
	return o, cfg, named, nil
}

// initCandidates are the inits --init looks for on the host, in order: docker's (tini),
// podman's, Debian's static tini.
var initCandidates = []string{"docker-init", "/usr/libexec/podman/catatonit", "catatonit", "tini-static"}

// initBinary is the host path of the init --init runs: --init-path, or the first of
// initCandidates found. "" without --init.
func initBinary(init bool, initPath string) (string, error) {
	if !init {
		if initPath != "" {
			return "", fmt.Errorf("--init-path %s: give --init too", initPath)
		}
		return "", nil
	}
	if initPath != "" {
		abs, err := filepath.Abs(initPath)
		if err != nil {
			return "", fmt.Errorf("--init-path %s: %w", initPath, err)
		}
		if err := checkStatic(abs); err != nil {
			return "", fmt.Errorf("--init-path %s: %w", initPath, err)
		}
		return abs, nil
	}
	for _, c := range initCandidates {
		p, err := exec.LookPath(c)
		if err != nil {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil && checkStatic(abs) == nil {
			return abs, nil
		}
	}
	return "", fmt.Errorf("--init: no static init on this host (looked for %s): install catatonit or tini, or give --init-path", strings.Join(initCandidates, ", "))
}

// checkStatic makes sure path is an executable the container's root can run: a regular,
// executable file, and, when it is ELF, one without a program interpreter (the root has not
// the host's libraries).
func checkStatic(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not an executable file")
	}
	f, err := elf.Open(path)
	if err != nil {
		return nil // not ELF: a script or another format the kernel runs
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked: the container's root has not the host's libraries; give a static init")
		}
	}
	return nil
}

// rootlessSpec adapts a rootless user's container, made by uid 0 of nb's user namespace. The
// kernel takes a ping_group_range of gids mapped there only (EINVAL): it is every mapped gid. A
// sysfs mount needs a network namespace that namespace owns, which a container sharing the
// host's (--network host) has not, so /sys is the host's, bound read-only, as runc's rootless
// example has it.
func rootlessSpec(spec *specs.Spec) {
	if _, ok := spec.Linux.Sysctl["net.ipv4.ping_group_range"]; ok {
		spec.Linux.Sysctl["net.ipv4.ping_group_range"] = fmt.Sprintf("0 %d", rootless.MappedGIDs()-1)
	}
	if slices.ContainsFunc(spec.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace }) {
		return
	}
	for i, m := range spec.Mounts {
		if filepath.Clean(m.Destination) == "/sys" {
			spec.Mounts[i] = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

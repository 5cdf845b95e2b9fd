package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/foreground"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a new process inside a running container",
	ArgsUsage: "<container-id> <command> [args...]",
	Description: `The process joins every namespace and the cgroups of the container, with the container's
user, capabilities, rlimits and environment unless flags change them; --process gives the
whole process as a JSON process object of the OCI spec instead. In the foreground exec
forwards signals and exits with the process's status (128+N when signal N killed it).
Examples:
   nebulon exec mycontainer ps
   nebulon exec -e DEBUG=1 --cwd /tmp -u 1000:1000 mycontainer sh -c 'id; pwd'
   nebulon exec -d --pid-file /run/p.pid mycontainer sleep 100
   nebulon exec --process process.json mycontainer`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "JSON file of the process (the other process flags are then ignored)"},
		&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable (KEY=VALUE)"},
		&cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
		&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "uid[:gid] to run as"},
		&cli.StringSliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional gid"},
		&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "add a capability (CAP_NET_ADMIN)"},
		&cli.BoolFlag{Name: "no-new-privs", Usage: "set no_new_privs"},
		&cli.StringFlag{Name: "apparmor", Usage: "AppArmor profile"},
		&cli.StringFlag{Name: "process-label", Usage: "SELinux label"},
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-terminal"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket to send the pty master to (with --tty)"},
		&cli.StringFlag{Name: "pidfd-socket", Usage: "unix socket to send a pidfd of the new process to"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the process"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the process's pid to"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio (3, 4, ...) to the process"},
		&cli.BoolFlag{Name: "ignore-paused", Usage: "exec even if the container is paused"},
		&cli.StringSliceFlag{Name: "cgroup", Usage: "run in a sub-cgroup of the container: PATH, or CONTROLLER:PATH (v1)"},
	},
	Action: func(ctx *cli.Context) error {
		code, err := execAction(ctx)
		if err != nil {
			return failWith{err, 255}
		}
		return exitCode(code)
	},
}

// execAction runs exec and returns the process's exit status (0 when detached).
func execAction(ctx *cli.Context) (int, error) {
	if ctx.NArg() < 1 || (ctx.NArg() < 2 && ctx.String("process") == "") {
		return 0, fmt.Errorf("exec: needs a container id and a command (or --process); usage: nebulon exec [flags] <container-id> <command> [args...]")
	}
	detach := ctx.Bool("detach")
	sigs, err := becomeReaper(ctx, detach)
	if err != nil {
		return 0, err
	}
	// exec reads the state without a lock: it changes nothing of the container's, and a
	// process joining a frozen cgroup (--ignore-paused) waits until resume.
	c, err := libnebulon.Peek(ctx.String("root"), ctx.Args().First())
	if err != nil {
		return 0, err
	}
	proc, err := execProcess(ctx, c)
	if err != nil {
		return 0, err
	}
	listen, env := socketActivation()
	preserve := listen + ctx.Int("preserve-fds")
	if err := checkPreservedFds(preserve); err != nil {
		return 0, err
	}
	for _, kv := range env {
		proc.Env = setEnv(proc.Env, kv)
	}
	pidfdConn, err := dialPidfdSocket(ctx.String("pidfd-socket"))
	if err != nil {
		return 0, err
	}
	pid, master, err := c.Exec(proc, libnebulon.ExecOpts{
		PreserveFds: preserve, IgnorePaused: ctx.Bool("ignore-paused"),
		Cgroup: ctx.StringSlice("cgroup"), ConsoleSocket: ctx.String("console-socket"), Foreground: !detach,
	})
	if err != nil {
		if pidfdConn != nil {
			pidfdConn.Close()
		}
		return 0, err
	}
	if err := announce(ctx, pidfdConn, pid); err != nil {
		// Nobody would know the pid of what runs: end it, as runc does.
		unix.Kill(pid, unix.SIGKILL)
		return 0, err
	}
	if detach {
		return 0, nil
	}
	var tty *foreground.Relay
	if master != nil {
		if tty, err = foreground.StartRelay(master); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			return 0, err
		}
	}
	code := foreground.ForwardAndWait(pid, sigs, tty)
	tty.Finish()
	return code, nil
}

// becomeReaper makes this process a child subreaper where exec needs to be one, and in the
// foreground catches signals, to forward them, before the process exists.
func becomeReaper(ctx *cli.Context, detach bool) (chan os.Signal, error) {
	if detach && ctx.String("pidfd-socket") == "" {
		return nil, nil
	}
	// In the foreground: the process's parent (the nsexec stage) exits at once; as a subreaper
	// we inherit the process and can wait for it. Detached with a pidfd socket: the process is
	// our child until we exit, so one that exits at once stays a zombie, whose pidfd can still
	// be opened, instead of being reaped by the host's init before we send it.
	if err := libnebulon.BecomeSubreaper(); err != nil {
		return nil, err
	}
	if detach {
		return nil, nil
	}
	return foreground.Catch()
}

// announce hands the exec'd process's pid to whoever asked for it: a pidfd to --pidfd-socket,
// the number to --pid-file.
func announce(ctx *cli.Context, pidfdConn *net.UnixConn, pid int) error {
	if pidfdConn != nil {
		if err := sendPidfdOf(pidfdConn, pidfdNameExec, pid); err != nil {
			return err
		}
	}
	if path := ctx.String("pid-file"); path != "" {
		return libnebulon.WritePidFile(path, pid)
	}
	return nil
}

// execProcess is the process to exec: --process, or the container's own process with the
// command line's args and the flags' changes, as runc builds it.
func execProcess(ctx *cli.Context, c *libnebulon.Container) (*specs.Process, error) {
	if path := ctx.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("exec: --process: %w", err)
		}
		p := &specs.Process{}
		if err := json.Unmarshal(data, p); err != nil {
			return nil, fmt.Errorf("exec: --process %s: not a JSON process object: %w", path, err)
		}
		return p, nil
	}
	spec, err := c.ProcessSpec()
	if err != nil {
		return nil, err
	}
	p := *spec.Process
	p.Args = ctx.Args().Slice()[1:]
	p.Terminal = ctx.Bool("tty")
	p.Env = append([]string(nil), p.Env...)
	for _, kv := range ctx.StringSlice("env") {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("exec: --env %q: want KEY=VALUE", kv)
		}
		p.Env = setEnv(p.Env, kv)
	}
	if cwd := ctx.String("cwd"); cwd != "" {
		p.Cwd = cwd
	}
	if u := ctx.String("user"); u != "" {
		uid, gid, hasGid := strings.Cut(u, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("exec: --user %q: the uid must be a number", u)
		}
		p.User.UID = uint32(n)
		if hasGid {
			if n, err = strconv.ParseUint(gid, 10, 32); err != nil {
				return nil, fmt.Errorf("exec: --user %q: the gid must be a number", u)
			}
			p.User.GID = uint32(n)
		}
	}
	if gids := ctx.StringSlice("additional-gids"); len(gids) > 0 {
		p.User.AdditionalGids = nil
		for _, g := range gids {
			n, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("exec: --additional-gids %q: not a number", g)
			}
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(n))
		}
	}
	if caps := ctx.StringSlice("cap"); len(caps) > 0 {
		c := specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			c = *p.Capabilities
		}
		// Never inheritable (CVE-2022-29162). Ambient too only when process.capabilities has an
		// inheritable set, as runc's exec does: an ambient capability must be inheritable
		// (capabilities(7)), and a spec that set inheritable chose to pass capabilities on.
		c.Bounding = append(append([]string(nil), c.Bounding...), caps...)
		c.Effective = append(append([]string(nil), c.Effective...), caps...)
		c.Permitted = append(append([]string(nil), c.Permitted...), caps...)
		if c.Inheritable != nil {
			c.Ambient = append(append([]string(nil), c.Ambient...), caps...)
		}
		p.Capabilities = &c
	}
	if ctx.Bool("no-new-privs") {
		p.NoNewPrivileges = true
	}
	if ctx.IsSet("apparmor") {
		p.ApparmorProfile = ctx.String("apparmor")
	}
	if ctx.IsSet("process-label") {
		p.SelinuxLabel = ctx.String("process-label")
	}
	return &p, nil
}

// setEnv sets KEY=VALUE in env, replacing an entry for KEY.
func setEnv(env []string, kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

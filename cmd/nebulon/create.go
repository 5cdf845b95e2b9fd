package main

import (
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var createFlags = []cli.Flag{
	&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle directory"},
	&cli.StringFlag{Name: "pid-file", Usage: "file to write the container's init pid to"},
	&cli.BoolFlag{Name: "no-pivot", Usage: "use MS_MOVE and chroot instead of pivot_root (for roots on an initramfs)"},
	&cli.BoolFlag{Name: "no-new-keyring", Usage: "keep the caller's session keyring"},
	&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many fds after stdio (3, 4, ...) to the container"},
	&cli.StringFlag{Name: "console-socket", Usage: "unix socket to send the pty master to, for a process with process.terminal"},
	&cli.StringFlag{Name: "pidfd-socket", Usage: "unix socket to send a pidfd of the container's init to"},
}

var createCommand = &cli.Command{
	Name:      "create",
	Usage:     "create a container from a bundle; its process waits for start",
	ArgsUsage: "<container-id>",
	Description: `Example:
   nebulon create --bundle /mycontainer --pid-file /run/mycontainer.pid mycontainer`,
	Flags: createFlags,
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "[flags] <container-id>"); err != nil {
			return err
		}
		c, err := create(ctx, false)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	},
}

// create makes the container; in the foreground (run without -d) nebulon relays its terminal.
func create(ctx *cli.Context, foreground bool) (*libnebulon.Container, error) {
	if err := checkSystemd(ctx); err != nil {
		return nil, err
	}
	listen, env := socketActivation()
	if err := checkPreservedFds(listen + ctx.Int("preserve-fds")); err != nil {
		return nil, err
	}
	pidfdConn, err := dialPidfdSocket(ctx.String("pidfd-socket"))
	if err != nil {
		return nil, err
	}
	c, err := libnebulon.Create(ctx.String("root"), ctx.Args().First(), libnebulon.CreateOpts{
		Bundle:          ctx.String("bundle"),
		PidFile:         ctx.String("pid-file"),
		NoPivot:         ctx.Bool("no-pivot"),
		NoNewKeyring:    ctx.Bool("no-new-keyring"),
		PreserveFds:     listen + ctx.Int("preserve-fds"),
		ExtraEnv:        env,
		ConsoleSocket:   ctx.String("console-socket"),
		Foreground:      foreground,
		SystemdCgroup:   ctx.Bool("systemd-cgroup"),
		SystemdUser:     ctx.Bool("systemd-cgroup") && systemdUser(ctx),
		RootlessCgroups: rootlessCgroups(ctx),
	})
	if err != nil || pidfdConn == nil {
		if pidfdConn != nil {
			pidfdConn.Close()
		}
		return c, err
	}
	if err := sendInitPidfd(pidfdConn, c); err != nil {
		c.Delete(true)
		c.Close()
		return nil, err
	}
	return c, nil
}

// sendInitPidfd sends a pidfd of the container's init over --pidfd-socket.
func sendInitPidfd(conn *net.UnixConn, c *libnebulon.Container) error {
	pidfd, err := c.InitPidfd()
	if err != nil {
		conn.Close()
		return fmt.Errorf("--pidfd-socket: %w", err)
	}
	defer pidfd.Close()
	return sendPidfd(conn, pidfdNameInit, pidfd)
}

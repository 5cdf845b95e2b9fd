package main

import (
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/foreground"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var restoreCommand = &cli.Command{
	Name:      "restore",
	Usage:     "restore a container from a checkpoint, and wait for it unless --detach",
	ArgsUsage: "<container-id>",
	Description: `The container, under the id given (any: not necessarily the checkpointed one's), is made from
the bundle's config and the images of a checkpoint. In the foreground restore forwards the
signals it gets to the container, deletes it when it exits and exits with its status, as run.
Examples:
   nebulon restore --image-path /tmp/ck --bundle /mycontainer mycontainer
   nebulon restore -d --image-path /tmp/ck --console-socket /run/tty.sock --bundle /mycontainer other`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "path to the bundle directory"},
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the restored init's pid to"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket to send the pty master to, for a process with process.terminal"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "do not reap the container's orphaned processes"},
		// CRIU restores the mount namespace itself, pivot_root or not; accepted as runc does.
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted for runc's command line; CRIU restores the root itself"},
		&cli.StringFlag{Name: "lsm-profile", Usage: "LSM profile of the restored processes, TYPE:NAME (apparmor:NAME or selinux:LABEL), instead of the checkpointed one"},
		&cli.StringFlag{Name: "lsm-mount-context", Usage: "SELinux mount context of the restored mounts, instead of the checkpointed one"},
	}, criuFlags...),
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "[flags] <container-id>"); err != nil {
			return err
		}
		if err := checkSystemd(ctx); err != nil {
			return err
		}
		criuOpts, err := criuOptions(ctx, false)
		if err != nil {
			return err
		}
		detach := ctx.Bool("detach")
		var sigs chan os.Signal
		if !detach {
			if !ctx.Bool("no-subreaper") {
				if err := libnebulon.BecomeSubreaper(); err != nil {
					return err
				}
			}
			var err error
			if sigs, err = foreground.Catch(); err != nil {
				return err
			}
		}
		c, err := libnebulon.Restore(ctx.String("root"), ctx.Args().First(), libnebulon.RestoreOpts{
			CreateOpts: libnebulon.CreateOpts{
				Bundle:        ctx.String("bundle"),
				PidFile:       ctx.String("pid-file"),
				NoPivot:       ctx.Bool("no-pivot"),
				ConsoleSocket: ctx.String("console-socket"),
				Foreground:    !detach,
				SystemdCgroup: ctx.Bool("systemd-cgroup"),
				SystemdUser:   ctx.Bool("systemd-cgroup") && systemdUser(ctx),
			},
			Criu: *criuOpts,
		})
		if err != nil {
			return err
		}
		if detach {
			c.Close()
			return nil
		}
		tty, err := relayTerminal(c)
		if err != nil {
			return err
		}
		pid := c.State().InitPid
		c.Close()
		code := foreground.ForwardAndWait(pid, sigs, tty)
		slog.Debug("exited", "code", code)
		return deleteExited(ctx, code, tty)
	},
}

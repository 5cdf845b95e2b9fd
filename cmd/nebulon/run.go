package main

import (
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/internal/foreground"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container, and wait for it unless --detach",
	ArgsUsage: "<container-id>",
	Description: `In the foreground, run forwards the signals it gets to the container, deletes it when it
exits and exits with its status (128+N when signal N killed it). Examples:
   nebulon run --bundle /mycontainer mycontainer
   nebulon run -d --bundle /mycontainer mycontainer
   nebulon run --keep --bundle /mycontainer mycontainer; nebulon delete mycontainer`,
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
		&cli.BoolFlag{Name: "keep", Usage: "do not delete the container after it exits"},
		&cli.BoolFlag{Name: "no-subreaper", Usage: "do not reap the container's orphaned processes (they go to the host's reaper)"},
	}, createFlags...),
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "[flags] <container-id>"); err != nil {
			return err
		}
		detach := ctx.Bool("detach")
		var sigs chan os.Signal
		if !detach {
			// The init's parent (the nsexec stage) exits at once; as a subreaper we inherit the
			// init and can wait for it.
			if err := libnebulon.BecomeSubreaper(); err != nil {
				return err
			}
			// Catch signals before the container exists, so none is lost to the default action.
			var err error
			if sigs, err = foreground.Catch(); err != nil {
				return err
			}
		}
		c, err := create(ctx, !detach)
		if err != nil {
			return err
		}
		if !detach && ctx.Bool("no-subreaper") {
			// The init is our child now (stage0, its parent, has exited): it needs the
			// subreaper no more. Processes it orphans go to the host's reaper, as under runc's
			// --no-subreaper, where runc is the init's parent.
			if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0); err != nil {
				c.Delete(true)
				c.Close()
				return os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", err)
			}
		}
		tty, err := relayTerminal(c)
		if err != nil {
			return err
		}
		if err := c.Start(); err != nil {
			tty.Restore()
			c.Delete(true)
			c.Close()
			return err
		}
		if detach {
			c.Close()
			return nil
		}
		pid := c.State().InitPid
		c.Close()
		slog.Debug("started", "pid", pid)
		code := foreground.ForwardAndWait(pid, sigs, tty)
		slog.Debug("exited", "code", code)
		if ctx.Bool("keep") {
			// The stopped container stays, for state and delete (runc's --keep).
			tty.Finish()
			return exitCode(code)
		}
		return deleteExited(ctx, code, tty)
	},
}

// relayTerminal starts relaying the terminal of a foreground container that has one (nil
// otherwise); when it cannot, the container is deleted and closed.
func relayTerminal(c *libnebulon.Container) (*foreground.Relay, error) {
	master := c.Console()
	if master == nil {
		return nil, nil
	}
	tty, err := foreground.StartRelay(master)
	if err != nil {
		c.Delete(true)
		c.Close()
		return nil, err
	}
	return tty, nil
}

// deleteExited ends a foreground run or restore once the container's init exited with code:
// the container is deleted, the terminal relay finished, and the init's status returned.
func deleteExited(ctx *cli.Context, code int, tty *foreground.Relay) error {
	var delErr error
	if c, err := libnebulon.Load(ctx.String("root"), ctx.Args().First()); err == nil {
		delErr = c.Delete(true)
		c.Close()
	}
	tty.Finish()
	if delErr != nil {
		return delErr
	}
	slog.Debug("deleted")
	return exitCode(code)
}

package main

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "create and start a container, and wait for it unless --detach",
	ArgsUsage: "<container-id>",
	Description: `In the foreground, run forwards the signals it gets to the container, deletes it when it
exits and exits with its status (128+N when signal N killed it). Examples:
   nebulon run --bundle /mycontainer mycontainer
   nebulon run -d --bundle /mycontainer mycontainer`,
	Flags: append([]cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "do not wait for the container"},
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
			if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
				return os.NewSyscallError("prctl(PR_SET_CHILD_SUBREAPER)", err)
			}
			// Catch signals before the container exists, so none is lost to the default action.
			sigs = make(chan os.Signal, 64)
			signal.Notify(sigs)
		}
		c, err := create(ctx, !detach)
		if err != nil {
			return err
		}
		var tty *relay
		if master := c.Console(); master != nil {
			if tty, err = startRelay(master); err != nil {
				c.Delete(true)
				c.Close()
				return err
			}
		}
		if err := c.Start(); err != nil {
			tty.restore()
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
		code := forwardAndWait(pid, sigs, tty)
		slog.Debug("exited", "code", code)
		var delErr error
		if c, err := libnebulon.Load(ctx.String("root"), ctx.Args().First()); err == nil {
			delErr = c.Delete(true)
			c.Close()
		}
		tty.finish()
		if delErr != nil {
			return delErr
		}
		slog.Debug("deleted")
		return exitCode(code)
	},
}

// forwardAndWait relays signals to the container's init until it exits, reaping every child that
// is reparented to us meanwhile, and returns the init's exit code (128+N for signal N).
// SIGWINCH resizes the terminal the runtime relays, if any.
func forwardAndWait(pid int, sigs chan os.Signal, tty *relay) int {
	for sig := range sigs {
		s, ok := sig.(unix.Signal)
		if !ok {
			continue
		}
		if s != unix.SIGCHLD {
			if s == unix.SIGURG {
				continue // the Go runtime's preemption signal
			}
			if s == unix.SIGWINCH {
				tty.resize()
				continue
			}
			unix.Kill(pid, s)
			continue
		}
		for {
			var ws unix.WaitStatus
			reaped, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if reaped <= 0 || errors.Is(err, unix.ECHILD) {
				break
			}
			if reaped != pid {
				continue
			}
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		}
	}
	return 1
}

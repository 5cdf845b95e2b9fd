package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/foreground"
	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var execCommand = &cli.Command{
	Name:      "exec",
	Usage:     "run a command in a running container, attached; nb exits with its status",
	ArgsUsage: "ID|NAME CMD [ARGS...]",
	Description: `The command gets the container's user, environment, capabilities and limits. Examples:
   nb exec web ps
   nb exec -t web sh`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal"},
	},
	Action: func(ctx *cli.Context) error {
		s, c, err := oneContainer(ctx, 2, -1)
		if err != nil {
			return err
		}
		if c.Status != store.Running {
			return fmt.Errorf("container %s is %s, not running", c.ID, c.Status)
		}
		if err := libnebulon.BecomeSubreaper(); err != nil {
			return err
		}
		sigs, err := foreground.Catch()
		if err != nil {
			return err
		}
		lc, err := libnebulon.Load(runtimeRoot(s), c.ID)
		if err != nil {
			return err
		}
		spec, err := lc.Spec()
		if err != nil {
			lc.Close()
			return err
		}
		lc.Close()
		p := *spec.Process
		p.Args = ctx.Args().Slice()[1:]
		p.Terminal = ctx.Bool("tty")
		pid, master, err := lc.Exec(&p, libnebulon.ExecOpts{Foreground: true})
		if err != nil {
			return err
		}
		var tty *foreground.Relay
		if master != nil {
			if tty, err = foreground.StartRelay(master); err != nil {
				return err
			}
		}
		code := foreground.ForwardAndWait(pid, sigs, tty)
		tty.Finish()
		return exitStatus(code)
	},
}

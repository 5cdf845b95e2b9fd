package main

import (
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal to a container's init (default SIGTERM)",
	ArgsUsage: "<container-id> [signal]",
	Description: `The signal is a name (KILL, SIGKILL) or a number (9). Examples:
   nebulon kill mycontainer
   nebulon kill mycontainer KILL
   nebulon kill --all mycontainer 9`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process in the container"},
	},
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 || ctx.NArg() > 2 {
			return checkArgs(ctx, 1, "[--all] <container-id> [signal]")
		}
		sig := unix.SIGTERM
		if ctx.NArg() == 2 {
			var err error
			if sig, err = libnebulon.ParseSignal(ctx.Args().Get(1)); err != nil {
				return err
			}
		}
		c, err := libnebulon.Peek(ctx.String("root"), ctx.Args().First())
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Signal(sig, ctx.Bool("all"))
	},
}

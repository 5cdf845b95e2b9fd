package main

import (
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var deleteCommand = &cli.Command{
	Name:      "delete",
	Usage:     "delete a stopped or created container and everything it holds",
	ArgsUsage: "<container-id>",
	Description: `A running container needs --force, which kills it first. Examples:
   nebulon delete mycontainer
   nebulon delete --force mycontainer`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container first if it is running"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "[--force] <container-id>"); err != nil {
			return err
		}
		c, err := libnebulon.Load(ctx.String("root"), ctx.Args().First())
		if errors.Is(err, libnebulon.ErrNotExist) && ctx.Bool("force") {
			// As runc: deleting what is not there is done. A create of this id killed
			// before its state was saved may have left a temporary directory.
			libnebulon.SweepOrphans(ctx.String("root"), ctx.Args().First())
			return nil
		}
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Delete(ctx.Bool("force"))
	},
}

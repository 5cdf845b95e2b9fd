package main

import (
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var startCommand = &cli.Command{
	Name:      "start",
	Usage:     "run the process of a created container",
	ArgsUsage: "<container-id>",
	Description: `Example:
   nebulon start mycontainer`,
	Action: func(ctx *cli.Context) error {
		return withContainer(ctx, (*libnebulon.Container).Start)
	},
}

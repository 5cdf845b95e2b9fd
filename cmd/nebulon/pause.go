package main

import (
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var pauseCommand = &cli.Command{
	Name:      "pause",
	Usage:     "freeze every process of a container",
	ArgsUsage: "<container-id>",
	Description: `Freezes the container's cgroup (freezer.state on cgroup v1, cgroup.freeze on v2); its
status becomes paused until resume. Example:
   nebulon pause mycontainer`,
	Action: func(ctx *cli.Context) error {
		return withContainer(ctx, (*libnebulon.Container).Pause)
	},
}

var resumeCommand = &cli.Command{
	Name:      "resume",
	Usage:     "thaw a paused container",
	ArgsUsage: "<container-id>",
	Description: `Example:
   nebulon resume mycontainer`,
	Action: func(ctx *cli.Context) error {
		return withContainer(ctx, (*libnebulon.Container).Resume)
	},
}

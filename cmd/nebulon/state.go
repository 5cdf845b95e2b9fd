package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var stateCommand = &cli.Command{
	Name:      "state",
	Usage:     "print a container's state as JSON",
	ArgsUsage: "<container-id>",
	Description: `Prints the OCI state: ociVersion, id, status (created, running, stopped), pid, bundle,
annotations, and runc's rootfs, created and owner. Example:
   nebulon state mycontainer`,
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "<container-id>"); err != nil {
			return err
		}
		c, err := libnebulon.Peek(ctx.String("root"), ctx.Args().First())
		if err != nil {
			return err
		}
		defer c.Close()
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(c.OCIState())
	},
}

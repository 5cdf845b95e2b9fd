package main

import (
	"encoding/json"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var featuresCommand = &cli.Command{
	Name:  "features",
	Usage: "print what this runtime supports, as the OCI features JSON",
	Description: `Example:
   nebulon features | jq .linux.namespaces`,
	Action: func(ctx *cli.Context) error {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "    ")
		return enc.Encode(libnebulon.Features())
	},
}

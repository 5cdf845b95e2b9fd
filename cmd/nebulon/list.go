package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var listCommand = &cli.Command{
	Name:  "list",
	Usage: "list the containers under --root",
	Description: `Examples:
   nebulon list
   nebulon list -q
   nebulon list --format json`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the container ids"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 0, "[flags]"); err != nil {
			return err
		}
		// A missing default root means no container was made yet; a missing --root the
		// caller named is an error, as in runc ("open /x: no such file or directory").
		if ctx.IsSet("root") {
			if _, err := os.ReadDir(ctx.String("root")); err != nil {
				return err
			}
		}
		states, err := libnebulon.List(ctx.String("root"))
		if err != nil {
			return err
		}
		if ctx.Bool("quiet") {
			for _, s := range states {
				fmt.Println(s.ID)
			}
			return nil
		}
		switch ctx.String("format") {
		case "json":
			if states == nil {
				states = []*libnebulon.OCIState{}
			}
			return json.NewEncoder(os.Stdout).Encode(states)
		case "table":
			w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created, s.Owner)
			}
			return w.Flush()
		}
		return fmt.Errorf("--format: unknown format %q (table or json)", ctx.String("format"))
	},
}

package main

import (
	"bufio"
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
			out := bufio.NewWriter(os.Stdout)
			for _, s := range states {
				fmt.Fprintln(out, s.ID)
			}
			return out.Flush()
		}
		switch ctx.String("format") {
		case "json":
			if states == nil {
				states = []*libnebulon.OCIState{}
			}
			return json.NewEncoder(os.Stdout).Encode(states)
		case "table":
			out := bufio.NewWriter(os.Stdout) // one write for the table, not one per row
			w := tabwriter.NewWriter(out, 12, 1, 3, ' ', 0)
			fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created, s.Owner)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			return out.Flush()
		}
		return fmt.Errorf("--format: unknown format %q (table or json)", ctx.String("format"))
	},
}

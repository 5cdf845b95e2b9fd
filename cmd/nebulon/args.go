package main

import (
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/cliargs"
)

// reorderArgs moves a command's flags before its positional arguments, so that
// `nebulon update ID --pids-limit 10` means what `nebulon update --pids-limit 10 ID` does, as
// runc's urfave/cli v1 reorders on every command but those with SkipArgReorder: exec and ps are
// left alone, as in runc, since what follows their container id is the command to run (exec)
// or ps(1)'s own options (ps).
func reorderArgs(app *cli.App, args []string) []string {
	return cliargs.Reorder(app, args, func(c *cli.Command) bool { return c == execCommand || c == psCommand })
}

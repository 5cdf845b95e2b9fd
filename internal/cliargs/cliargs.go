// Package cliargs lets a command's flags follow its positional arguments, as runc's CLI
// (urfave/cli v1) and docker's take them, on urfave/cli v2, which stops parsing a command's
// flags at its first positional argument.
package cliargs

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// Reorder returns args (os.Args) with the flags of the command they run moved before its
// positional arguments, so that `nb volume create data --driver local` means what
// `nb volume create --driver local data` does. It walks the global flags and subcommands
// (`volume create`) to the command. A command that keep reports true for, whose positional
// arguments are followed by a command line of its own (exec's program and its flags), is left as
// it is, and so is everything after "--". An unknown command is left for the parser to report.
//
// Unlike urfave/cli v1, a flag takes the next argument as its value only when it takes a value
// at all: `kill ID --all 9` keeps 9 as the signal.
func Reorder(app *cli.App, args []string, keep func(*cli.Command) bool) []string {
	flags, cmds := app.Flags, app.Commands
	i := 1
	for {
		// Skip this level's flags, and their values, to the next name.
		for i < len(args) && isFlagArg(args[i]) {
			if args[i] == "--" {
				return args
			}
			if takesValue(flags, args[i]) {
				i++
			}
			i++
		}
		if i >= len(args) {
			return args
		}
		cmd := findCommand(cmds, args[i])
		if cmd == nil {
			return args
		}
		if len(cmd.Subcommands) > 0 {
			flags, cmds = cmd.Flags, cmd.Subcommands
			i++
			continue
		}
		if cmd.SkipFlagParsing || (keep != nil && keep(cmd)) {
			return args
		}
		return reorderCommand(args, i, cmd.Flags)
	}
}

// reorderCommand moves the flags among args[i+1:], the arguments of the command args[i], before
// its positional arguments.
func reorderCommand(args []string, i int, cmdFlags []cli.Flag) []string {
	var flags, positional []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		if a == "--" {
			positional = append(positional, rest[j:]...)
			break
		}
		if !isFlagArg(a) {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if takesValue(cmdFlags, a) && j+1 < len(rest) {
			j++
			flags = append(flags, rest[j])
		}
	}
	out := append([]string(nil), args[:i+1]...)
	out = append(out, flags...)
	return append(out, positional...)
}

// isFlagArg reports whether a looks like a flag: "-x", "--name", "--name=value"; "-" alone is
// an argument (standard input).
func isFlagArg(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether a (without "=value") is a flag among flags that takes a value
// from the next argument.
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if v, ok := f.(cli.DocGenerationFlag); ok {
				return v.TakesValue()
			}
			return false
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

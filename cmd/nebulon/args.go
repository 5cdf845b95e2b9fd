package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves a command's flags before its positional arguments, so that
// `nebulon update ID --pids-limit 10` means what `nebulon update --pids-limit 10 ID` does.
// runc's urfave/cli v1 reorders so on every command but those with SkipArgReorder; urfave/cli
// v2 stops parsing flags at the first positional argument, so nebulon does it here. exec and ps
// are left alone, as in runc: what follows their container id is the command to run (exec) or
// ps(1)'s own options (ps). Nothing after "--" moves.
//
// Unlike urfave/cli v1, a flag takes the next argument as its value only when it takes a value
// at all: `kill ID --all 9` keeps 9 as the signal.
func reorderArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	// Skip the global flags, and their values, to the command's name.
	i := 1
	for i < len(args) && isFlagArg(args[i]) {
		if args[i] == "--" {
			return args
		}
		if takesValue(app.Flags, args[i]) {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	cmd := findCommand(app.Commands, args[i])
	if cmd == nil || cmd.SkipFlagParsing || cmd.Name == "exec" || cmd.Name == "ps" {
		return args
	}
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
		if takesValue(cmd.Flags, a) && j+1 < len(rest) {
			j++
			flags = append(flags, rest[j])
		}
	}
	out := append([]string(nil), args[:i+1]...)
	out = append(out, flags...)
	return append(out, positional...)
}

// isFlagArg reports whether a looks like a flag: "-x", "--name", "--name=value"; "-" alone is
// an argument (standard input, for update --resources).
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

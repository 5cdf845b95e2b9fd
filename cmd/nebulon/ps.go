package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var psCommand = &cli.Command{
	Name:      "ps",
	Usage:     "list the processes of a container",
	ArgsUsage: "<container-id> [ps options]",
	Description: `Runs ps(1) with the given options (default -ef) and keeps the header and the lines of the
container's processes; --format json prints their pids. Examples:
   nebulon ps mycontainer
   nebulon ps mycontainer -o pid,comm
   nebulon ps --format json mycontainer`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
	},
	SkipFlagParsing: false,
	Action: func(ctx *cli.Context) error {
		if ctx.NArg() < 1 {
			return checkArgs(ctx, 1, "[--format table|json] <container-id> [ps options]")
		}
		format := ctx.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("ps: --format: unknown format %q (table or json)", format)
		}
		c, err := libnebulon.Peek(ctx.String("root"), ctx.Args().First())
		if err != nil {
			return err
		}
		pids, err := c.Processes()
		c.Close()
		if err != nil {
			return err
		}
		if format == "json" {
			if pids == nil {
				pids = []int{}
			}
			return json.NewEncoder(os.Stdout).Encode(pids)
		}
		args := ctx.Args().Slice()[1:]
		if len(args) == 0 {
			args = []string{"-ef"}
		}
		out, err := exec.Command("ps", args...).Output()
		if err != nil {
			return fmt.Errorf("ps %s: %w", strings.Join(args, " "), err)
		}
		return printProcesses(out, pids)
	},
}

// printProcesses prints ps(1)'s header and the lines whose PID column is one of pids.
func printProcesses(out []byte, pids []int) error {
	lines := strings.Split(string(bytes.TrimRight(out, "\n")), "\n")
	col := -1
	for i, name := range strings.Fields(lines[0]) {
		if name == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps: the output has no PID column (add -o pid)")
	}
	want := map[int]bool{}
	for _, p := range pids {
		want[p] = true
	}
	fmt.Println(lines[0])
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= col {
			continue
		}
		if pid, err := strconv.Atoi(f[col]); err == nil && want[pid] {
			fmt.Println(line)
		}
	}
	return nil
}

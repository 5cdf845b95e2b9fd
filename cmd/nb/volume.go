package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
)

var volumeCommand = &cli.Command{
	Name:  "volume",
	Usage: "manage volumes: directories of the store that containers mount with -v NAME:/path",
	Subcommands: []*cli.Command{
		{
			Name:      "create",
			Usage:     "create a volume",
			ArgsUsage: "NAME",
			Description: `Examples:
   nb volume create data
   nb volume create --driver local --opt purpose=cache cache`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "driver", Value: "local", Usage: "volume driver (local)"},
				&cli.StringSliceFlag{Name: "opt", Aliases: []string{"o"}, Usage: "driver option K=V"},
			},
			Action: volumeCreate,
		},
		{
			Name:    "ls",
			Aliases: []string{"list"},
			Usage:   "list volumes (DRIVER VOLUME NAME)",
			Description: `Examples:
   nb volume ls
   nb volume ls -q
   nb volume ls --format json`,
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "names only"},
				&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
			},
			Action: volumeList,
		},
		{
			Name:      "rm",
			Aliases:   []string{"remove"},
			Usage:     "remove volumes (refused while a container uses one)",
			ArgsUsage: "NAME...",
			Description: `Example:
   nb volume rm data`,
			Action: volumeRemove,
		},
		{
			Name:      "inspect",
			Usage:     "print volumes' metadata as JSON",
			ArgsUsage: "NAME...",
			Description: `Example:
   nb volume inspect data`,
			Action: volumeInspect,
		},
	},
}

func volumeCreate(ctx *cli.Context) error {
	if err := needArgs(ctx, 1, 1); err != nil {
		return err
	}
	opts := map[string]string{}
	for _, o := range ctx.StringSlice("opt") {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return fmt.Errorf("volume create: --opt %q: want K=V", o)
		}
		opts[k] = v
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	v, err := s.CreateVolume(ctx.Args().First(), ctx.String("driver"), opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(ctx.App.Writer, v.Name)
	return nil
}

func volumeList(ctx *cli.Context) error {
	if err := needArgs(ctx, 0, 0); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	vs, err := s.Volumes()
	if err != nil {
		return err
	}
	switch {
	case ctx.Bool("quiet"):
		for _, v := range vs {
			fmt.Fprintln(ctx.App.Writer, v.Name)
		}
	case ctx.String("format") == "json":
		return printJSON(ctx, vs)
	case ctx.String("format") == "table":
		w := tabwriter.NewWriter(ctx.App.Writer, 0, 8, 3, ' ', 0)
		fmt.Fprintln(w, "DRIVER\tVOLUME NAME")
		for _, v := range vs {
			fmt.Fprintf(w, "%s\t%s\n", v.Driver, v.Name)
		}
		return w.Flush()
	default:
		return fmt.Errorf("volume ls: --format %q: want table or json", ctx.String("format"))
	}
	return nil
}

func volumeRemove(ctx *cli.Context) error {
	s, unlock, err := lockStore(ctx, 1, -1)
	if err != nil {
		return err
	}
	defer unlock()
	for _, name := range ctx.Args().Slice() {
		users, err := s.VolumeUsers(name)
		if err != nil {
			return err
		}
		if err := s.RemoveVolume(name, users); err != nil {
			return err
		}
		fmt.Fprintln(ctx.App.Writer, name)
	}
	return nil
}

func volumeInspect(ctx *cli.Context) error {
	if err := needArgs(ctx, 1, -1); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	var out []any
	for _, name := range ctx.Args().Slice() {
		v, err := s.Volume(name)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return printJSON(ctx, out)
}

func printJSON(ctx *cli.Context, v any) error {
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	fmt.Fprintln(ctx.App.Writer, string(data))
	return nil
}

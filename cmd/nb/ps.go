package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/store"
)

var psCommand = &cli.Command{
	Name:  "ps",
	Usage: "list containers (running ones; -a for all)",
	Description: `Columns: CONTAINER ID, NAME, IMAGE, COMMAND, CREATED, STATUS. A container whose process is
gone shows Exited, whoever ran it. Examples:
   nb ps
   nb ps -a
   nb ps -aq
   nb ps -a --format json`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "show every container"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "ids only"},
		&cli.StringFlag{Name: "format", Value: "table", Usage: "table or json"},
	},
	Action: func(ctx *cli.Context) error {
		if err := needArgs(ctx, 0, 0); err != nil {
			return err
		}
		format := ctx.String("format")
		if format != "table" && format != "json" {
			return fmt.Errorf("ps: --format %q: want table or json", format)
		}
		s, err := openStore(ctx)
		if err != nil {
			return err
		}
		cs, err := reconciledContainers(s)
		if err != nil {
			return err
		}
		var shown []*store.Container
		for _, c := range cs {
			if ctx.Bool("all") || c.Status == store.Running || c.Status == store.Paused {
				shown = append(shown, c)
			}
		}
		now := time.Now()
		switch {
		case ctx.Bool("quiet"):
			for _, c := range shown {
				fmt.Fprintln(ctx.App.Writer, c.ID)
			}
		case format == "json":
			if shown == nil {
				shown = []*store.Container{}
			}
			return printJSON(ctx, shown)
		default:
			w := tabwriter.NewWriter(ctx.App.Writer, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "CONTAINER ID\tNAME\tIMAGE\tCOMMAND\tCREATED\tSTATUS")
			for _, c := range shown {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s ago\t%s\n", c.ID, c.Name, c.Image,
					quoteCommand(c.Command), humanDuration(now.Sub(c.Created)), statusText(c, now))
			}
			return w.Flush()
		}
		return nil
	},
}

// reconciledContainers lists every container with its status checked against the kernel.
func reconciledContainers(s *store.Store) ([]*store.Container, error) {
	unlock, err := lockClean(s)
	if err != nil {
		return nil, err
	}
	defer unlock()
	cs, err := s.Containers()
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if err := reconcile(s, c); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// statusText is docker's STATUS: "Created", "Up 3 seconds", "Up 3 seconds (Paused)",
// "Exited (0) 1 minute ago".
func statusText(c *store.Container, now time.Time) string {
	switch c.Status {
	case store.Running:
		return "Up " + humanDuration(now.Sub(c.Started))
	case store.Paused:
		return "Up " + humanDuration(now.Sub(c.Started)) + " (Paused)"
	case store.Exited:
		return fmt.Sprintf("Exited (%d) %s ago", c.ExitCode, humanDuration(now.Sub(c.Finished)))
	}
	return "Created"
}

// quoteCommand is docker's COMMAND column: the command line in quotes, cut at 20 characters.
func quoteCommand(args []string) string {
	cmd := strings.Join(args, " ")
	if len(cmd) > 20 {
		cmd = cmd[:19] + "…"
	}
	return `"` + cmd + `"`
}

// humanDuration reads a duration as docker does (go-units HumanDuration).
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", int(d.Hours())/24/365)
	}
}

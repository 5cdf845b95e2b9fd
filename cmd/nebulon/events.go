package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
)

var eventsCommand = &cli.Command{
	Name:      "events",
	Usage:     "print a container's resource usage and OOM events as JSON",
	ArgsUsage: "<container-id>",
	Description: `Prints one JSON object a line, as runc does: {"type":"stats","id":...,"data":{...}} every
--interval, and {"type":"oom","id":...} when the container runs out of memory. It ends when the
container stops. --stats prints one stats object and exits. Examples:
   nebulon events --stats mycontainer
   nebulon events --interval 1s mycontainer`,
	Flags: []cli.Flag{
		&cli.DurationFlag{Name: "interval", Value: 5 * time.Second, Usage: "time between stats"},
		&cli.BoolFlag{Name: "stats", Usage: "print stats once and exit"},
	},
	Action: func(ctx *cli.Context) error {
		if err := checkArgs(ctx, 1, "[--stats] [--interval D] <container-id>"); err != nil {
			return err
		}
		interval := ctx.Duration("interval")
		if interval <= 0 {
			return fmt.Errorf("events: --interval %v: must be positive", interval)
		}
		root, id := ctx.String("root"), ctx.Args().First()
		enc := json.NewEncoder(os.Stdout)
		stats := func() (bool, error) {
			c, err := libnebulon.Peek(root, id)
			if err != nil {
				return false, err
			}
			defer c.Close()
			s, err := c.Stats()
			if err != nil {
				return false, err
			}
			return true, enc.Encode(event{Type: "stats", ID: id, Data: s})
		}
		if ctx.Bool("stats") {
			_, err := stats()
			return err
		}
		c, err := libnebulon.Peek(root, id)
		if err != nil {
			return err
		}
		if c.Status() == specs.StateStopped {
			c.Close()
			return libnebulon.ErrNotRunning
		}
		ooms, stop, err := c.NotifyOOM()
		c.Close()
		if err != nil {
			slog.Warn("no OOM events", "id", id, "err", err)
		} else {
			defer stop()
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			if ok, err := stats(); !ok {
				if errors.Is(err, libnebulon.ErrNotRunning) || errors.Is(err, libnebulon.ErrNotExist) {
					return nil // the container stopped or was deleted: the stream ends
				}
				return err
			} else if err != nil {
				return err
			}
			if err := waitTick(tick.C, &ooms, enc, id); err != nil {
				return err
			}
		}
	},
}

// waitTick prints OOM events until the next tick.
func waitTick(tick <-chan time.Time, ooms *<-chan struct{}, enc *json.Encoder, id string) error {
	for {
		select {
		case _, open := <-*ooms:
			if !open {
				*ooms = nil
				continue
			}
			if err := enc.Encode(event{Type: "oom", ID: id}); err != nil {
				return err
			}
		case <-tick:
			return nil
		}
	}
}

// event is one line of `events`, runc's shape.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

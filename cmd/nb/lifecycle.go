package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var stopCommand = &cli.Command{
	Name:      "stop",
	Usage:     "stop containers: SIGTERM, then SIGKILL after --time seconds",
	ArgsUsage: "ID|NAME...",
	Description: `Examples:
   nb stop web
   nb stop -t 2 web db`,
	Flags: []cli.Flag{
		&cli.IntFlag{Name: "time", Aliases: []string{"t"}, Value: 10, Usage: "seconds to wait before SIGKILL"},
	},
	Action: func(ctx *cli.Context) error {
		return forEachContainer(ctx, func(s *store.Store, c *store.Container) error {
			return stop(s, c, time.Duration(ctx.Int("time"))*time.Second)
		})
	},
}

// stop ends a running container for good: SIGTERM, then SIGKILL after grace; it returns once
// the container's exit is recorded. Its restart policy does not restart it: nb stop marks it
// stopped first, and waits for a monitor between two runs to see that and end.
func stop(s *store.Store, c *store.Container, grace time.Duration) error {
	restarting := c.Status == store.Exited && s.RecorderAlive(c.ID)
	if c.Status != store.Running && c.Status != store.Paused && !restarting {
		return nil
	}
	if err := setStatus(s, c.ID, func(c *store.Container) { c.ManuallyStopped = true }); err != nil {
		return err
	}
	if !restarting {
		if err := sendSignal(s, c, syscall.SIGTERM); err != nil {
			return err
		}
		if !waitExited(s, c.ID, grace) {
			if err := sendSignal(s, c, syscall.SIGKILL); err != nil {
				return err
			}
			if !waitExited(s, c.ID, 10*time.Second) {
				return fmt.Errorf("container %s did not exit after SIGKILL", c.ID)
			}
		}
	}
	// The exit is recorded; whoever recorded it (a monitor, an attached nb run) releases the
	// network and ends. A monitor that restarted the container in the meantime gets SIGKILL.
	deadline := time.Now().Add(10 * time.Second)
	for s.RecorderAlive(c.ID) {
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s: its monitor did not end after the container was stopped", c.ID)
		}
		if cur, err := findContainer(s, c.ID); err == nil && cur.Status == store.Running {
			sendSignal(s, cur, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// sendSignal sends sig to c's process (SIGKILL also thaws a paused one).
func sendSignal(s *store.Store, c *store.Container, sig syscall.Signal) error {
	lc, err := libnebulon.Load(runtimeRoot(s), c.ID)
	if errors.Is(err, libnebulon.ErrNotExist) {
		return nil // it has just gone
	}
	if err != nil {
		return err
	}
	defer lc.Close()
	return lc.Signal(sig, false)
}

var killCommand = &cli.Command{
	Name:      "kill",
	Usage:     "send a signal to containers' processes (default SIGKILL)",
	ArgsUsage: "ID|NAME...",
	Description: `Examples:
   nb kill web
   nb kill -s HUP web`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "signal", Aliases: []string{"s"}, Value: "KILL", Usage: "signal name or number"},
	},
	Action: func(ctx *cli.Context) error {
		sig, err := libnebulon.ParseSignal(ctx.String("signal"))
		if err != nil {
			return fmt.Errorf("kill: --signal: %w", err)
		}
		return forEachContainer(ctx, func(s *store.Store, c *store.Container) error {
			if c.Status != store.Running && c.Status != store.Paused {
				return fmt.Errorf("container %s is not running", c.ID)
			}
			return sendSignal(s, c, sig)
		})
	},
}

var rmCommand = &cli.Command{
	Name:      "rm",
	Usage:     "remove containers (a running one only with -f, which kills it)",
	ArgsUsage: "ID|NAME...",
	Description: `Examples:
   nb rm web
   nb rm -f web db`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"},
	},
	Action: func(ctx *cli.Context) error {
		return forEachContainer(ctx, func(s *store.Store, c *store.Container) error {
			if (c.Status == store.Running || c.Status == store.Paused) && !ctx.Bool("force") {
				return fmt.Errorf("container %s is %s: stop it first, or use rm -f", c.ID, c.Status)
			}
			// A running one is killed; an exited one whose restart policy's monitor is between
			// two runs is stopped for good, or the monitor would start it again.
			if err := stop(s, c, 0); err != nil {
				return err
			}
			return remove(s, c)
		})
	},
}

// oneContainer checks the argument count and finds the container the first argument names.
func oneContainer(ctx *cli.Context, min, max int) (*store.Store, *store.Container, error) {
	if err := needArgs(ctx, min, max); err != nil {
		return nil, nil, err
	}
	s, err := openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := findContainer(s, ctx.Args().First())
	return s, c, err
}

// forEachContainer runs op on each container the arguments name (ids, names, id prefixes), in
// order, printing each argument once op succeeds, as docker does; it stops at the first error.
func forEachContainer(ctx *cli.Context, op func(*store.Store, *store.Container) error) error {
	if err := needArgs(ctx, 1, -1); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	for _, ref := range ctx.Args().Slice() {
		c, err := findContainer(s, ref)
		if err != nil {
			return err
		}
		if err := op(s, c); err != nil {
			return err
		}
		fmt.Fprintln(ctx.App.Writer, ref)
	}
	return nil
}

// remove deletes a stopped container: its runtime leftovers, its root's mount, its directory.
// Its metadata goes first after the runtime's container, so that an nb killed part way leaves a
// container either whole (rm it again) or invisible and half-made (cleanHalfMade's).
func remove(s *store.Store, c *store.Container) error {
	unlock, err := s.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := deleteRuntime(s, c.ID); err != nil {
		return err
	}
	if err := releaseNetwork(s, c); err != nil {
		return fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	if err := s.RemoveMetadata(c.ID); err != nil {
		return fmt.Errorf("remove container %s: %w", c.ID, err)
	}
	if err := releaseRootfs(s, c); err != nil {
		return err
	}
	if err := os.RemoveAll(s.ContainerDir(c.ID)); err != nil {
		return err
	}
	return cleanHalfMade(s)
}

var logsCommand = &cli.Command{
	Name:      "logs",
	Usage:     "print a detached container's output; -f follows it until the container exits",
	ArgsUsage: "ID|NAME",
	Description: `Examples:
   nb logs web
   nb logs -f web`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing until the container exits"},
	},
	Action: func(ctx *cli.Context) error {
		s, c, err := oneContainer(ctx, 1, 1)
		if err != nil {
			return err
		}
		f, err := os.Open(logPath(s, c.ID))
		if errors.Is(err, os.ErrNotExist) {
			return nil // never run detached: no output kept
		}
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			if _, err := io.Copy(ctx.App.Writer, f); err != nil {
				return err
			}
			if !ctx.Bool("follow") {
				return nil
			}
			c, err := findContainer(s, c.ID)
			if err != nil || (c.Status != store.Running && c.Status != store.Paused) {
				_, err := io.Copy(ctx.App.Writer, f) // what came before the exit was recorded
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	},
}

var inspectCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "print containers' metadata as JSON",
	ArgsUsage: "ID|NAME...",
	Description: `Example:
   nb inspect web`,
	Action: func(ctx *cli.Context) error {
		if err := needArgs(ctx, 1, -1); err != nil {
			return err
		}
		s, err := openStore(ctx)
		if err != nil {
			return err
		}
		var out []*store.Container
		for _, ref := range ctx.Args().Slice() {
			c, err := findContainer(s, ref)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return printJSON(ctx, out)
	},
}

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/foreground"
	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var runCommand = &cli.Command{
	Name:      "run",
	Usage:     "start a created container: attached (its exit status is nb's), or with -d in the background",
	ArgsUsage: "ID|NAME",
	Description: `Attached, the container's stdio is nb's (or, created with -t, a terminal nb relays), nb
forwards the signals it gets, and exits with the container's status. With -d a small monitor
process runs it instead: it keeps its output for nb logs and records its exit status.
Examples:
   nb run web
   nb run -d web && nb logs -f web`,
	Flags: []cli.Flag{
		&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "run in the background"},
	},
	Action: func(ctx *cli.Context) error {
		s, c, err := oneContainer(ctx, 1, 1)
		if err != nil {
			return err
		}
		if c.Status == store.Running || c.Status == store.Paused {
			return fmt.Errorf("container %s is already %s", c.ID, c.Status)
		}
		if err := prepareRootfs(s, c); err != nil {
			return err
		}
		if ctx.Bool("detach") {
			return runDetached(ctx, s, c)
		}
		return runAttached(s, c)
	},
}

// runAttached runs c with nb's stdio and waits for it.
func runAttached(s *store.Store, c *store.Container) error {
	release, err := s.HoldRecorder(c.ID)
	if err != nil {
		return err
	}
	defer release()
	if err := dropStaleRuntime(s, c.ID); err != nil {
		return err
	}
	// The init's parent, the nsexec stage, exits at once: as a subreaper nb inherits the init.
	if err := libnebulon.BecomeSubreaper(); err != nil {
		return err
	}
	if err := beginRun(s, c.ID); err != nil {
		return err
	}
	sigs, err := foreground.Catch()
	if err != nil {
		abandonRun(s, c.ID)
		return err
	}
	lc, err := libnebulon.Create(runtimeRoot(s), c.ID, createOpts(s, c.ID))
	if err != nil {
		abandonRun(s, c.ID)
		return err
	}
	var tty *foreground.Relay
	if m := lc.Console(); m != nil {
		if tty, err = foreground.StartRelay(m); err != nil {
			lc.Delete(true)
			lc.Close()
			abandonRun(s, c.ID)
			return err
		}
	}
	if err := lc.Start(); err != nil {
		tty.Restore()
		lc.Delete(true)
		lc.Close()
		abandonRun(s, c.ID)
		return err
	}
	pid := lc.State().InitPid
	lc.Close()
	if err := markRunning(s, c.ID, pid); err != nil {
		return err
	}
	code := foreground.ForwardAndWait(pid, sigs, tty)
	tty.Finish()
	return finish(s, c.ID, code)
}

// dropStaleRuntime deletes a runtime container left by an nb run (or monitor) killed before it
// recorded the container as running: the caller holds the recorder lock of a container nb has
// as created or exited, so no one else runs it and any runtime container of its id is stale.
func dropStaleRuntime(s *store.Store, id string) error {
	c, err := s.LoadContainer(id)
	if err != nil {
		return err
	}
	if c.Status == store.Running || c.Status == store.Paused {
		return fmt.Errorf("container %s is already %s", id, c.Status)
	}
	return deleteRuntime(s, id)
}

// beginRun readies container id for nb run: no nb stop or restart count of an earlier run
// holds, and its network is attached.
func beginRun(s *store.Store, id string) error {
	if err := setStatus(s, id, func(c *store.Container) { c.ManuallyStopped, c.RestartCount = false, 0 }); err != nil {
		return err
	}
	return attachNetwork(s, id)
}

// abandonRun releases what beginRun attached, for a container that could not start.
func abandonRun(s *store.Store, id string) {
	setStatus(s, id, func(c *store.Container) { releaseNetwork(s, c) })
}

// markRunning records that c's process runs with that pid.
func markRunning(s *store.Store, id string, pid int) error {
	return setStatus(s, id, func(c *store.Container) {
		c.Status, c.Pid, c.ExitCode, c.Started, c.Finished = store.Running, pid, 0, time.Now().UTC(), time.Time{}
	})
}

// finish records c's exit and removes its runtime container and its network attachment; an
// attached run then exits with the container's status.
func finish(s *store.Store, id string, code int) error {
	derr := deleteRuntime(s, id)
	var nerr error
	err := setStatus(s, id, func(c *store.Container) {
		nerr = releaseNetwork(s, c)
		c.Status, c.ExitCode, c.Finished, c.Pid = store.Exited, code, time.Now().UTC(), 0
	})
	if err == nil {
		err = errors.Join(derr, nerr)
	}
	if err != nil {
		return err
	}
	return exitStatus(code)
}

// runDetached starts the monitor, a detached nb in a session of its own, and waits until it says
// the container runs or why it could not.
func runDetached(ctx *cli.Context, s *store.Store, c *store.Container) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	null, err := devNull()
	if err != nil {
		w.Close()
		return err
	}
	defer null.Close()
	cmd := exec.Command("/proc/self/exe", "--root", s.Root, monitorCommand.Name, c.ID)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start the monitor: %w", err)
	}
	cmd.Process.Release()
	line, err := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "started "):
		fmt.Fprintln(ctx.App.Writer, c.ID)
		return nil
	case strings.HasPrefix(line, "error: "):
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	return fmt.Errorf("the monitor of %s exited without starting it (%v)", c.ID, err)
}

// monitorCommand is the monitor of a detached container (see runDetached): like conmon, it holds
// the container's stdio, writing it to the container's log, reaps its process, records its
// exit status and restarts it as its --restart policy says (supervise). It reports on fd 3
// ("started PID" or "error: WHY"), then closes it.
var monitorCommand = &cli.Command{
	Name:      "__monitor",
	Hidden:    true,
	ArgsUsage: "ID",
	Action: func(ctx *cli.Context) error {
		report := os.NewFile(3, "report")
		s, pid, drained, err := monitorStart(ctx)
		if err != nil {
			fmt.Fprintf(report, "error: %v\n", err)
			report.Close()
			return err
		}
		fmt.Fprintf(report, "started %d\n", pid)
		report.Close()
		return supervise(s, ctx.Args().First(), pid, drained)
	},
}

// monitorRecorder is the monitor's recorder lock (store.HoldRecorder).
var monitorRecorder func()

// monitorStart readies the monitor and the container's network, then starts it.
func monitorStart(ctx *cli.Context) (s *store.Store, pid int, drained chan struct{}, err error) {
	s, err = openStore(ctx)
	if err != nil {
		return nil, 0, nil, err
	}
	id := ctx.Args().First()
	// Held for the monitor's life (kept reachable: a collected *os.File would close it); the
	// kernel drops it when the monitor exits.
	if monitorRecorder, err = s.HoldRecorder(id); err != nil {
		return nil, 0, nil, err
	}
	if err := dropStaleRuntime(s, id); err != nil {
		return nil, 0, nil, err
	}
	if err := libnebulon.BecomeSubreaper(); err != nil {
		return nil, 0, nil, err
	}
	// Signals for nb go to the container through nb stop and nb kill, not to its monitor.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	if err := beginRun(s, id); err != nil {
		return nil, 0, nil, err
	}
	if pid, drained, err = startOnce(s, id); err != nil {
		abandonRun(s, id)
		return nil, 0, nil, err
	}
	return s, pid, drained, nil
}

// startOnce creates and starts the container, its output going to its log; drained is closed
// once its output is all in the log (at once without a terminal). Its restarts run it again.
func startOnce(s *store.Store, id string) (pid int, drained chan struct{}, err error) {
	drained = make(chan struct{})
	logf, err := os.OpenFile(logPath(s, id), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, nil, err
	}
	// Closed here, except with a terminal: then the copy below writes to it until the end.
	copying := false
	defer func() {
		if !copying {
			logf.Close()
		}
	}()
	null, err := devNull()
	if err != nil {
		return 0, nil, err
	}
	defer null.Close()
	opts := createOpts(s, id)
	opts.Stdin, opts.Stdout, opts.Stderr = null, logf, logf
	lc, err := libnebulon.Create(runtimeRoot(s), id, opts)
	if err != nil {
		return 0, nil, err
	}
	if m := lc.Console(); m != nil {
		// A terminal: its output is the log, until EIO: the last slave closed.
		copying = true
		go func() {
			defer close(drained)
			defer logf.Close()
			defer m.Close()
			io.Copy(logf, m)
		}()
	} else {
		close(drained)
	}
	if err := lc.Start(); err != nil {
		lc.Delete(true)
		lc.Close()
		return 0, nil, err
	}
	pid = lc.State().InitPid
	lc.Close()
	return pid, drained, markRunning(s, id, pid)
}

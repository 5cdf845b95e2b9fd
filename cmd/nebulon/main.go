// Command nebulon is an OCI runtime with runc's command line: engines call it in place of runc.
//
// The Go runtime's cgroup-aware GOMAXPROCS (Go 1.25) is off: it opens the process's cgroup CPU
// files at start-up and keeps them open, which costs every exec of nebulon (two per container
// start) and puts host files at fd numbers that --preserve-fds must find free.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"github.com/urfave/cli/v2"

	// First among nebulon's own: it sets GOMAXPROCS while the packages before it are few.
	_ "github.com/nebulon-dev/nebulon/internal/oneproc"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

// version is set by the Makefile.
var version = "dev"

func main() {
	if libnebulon.IsInit() {
		runInit()
		return
	}
	recordInheritedFds()
	app := newApp()
	if err := app.Run(reorderArgs(app, os.Args)); err != nil {
		fatal(err)
	}
}

// versionText is what --version prints (cli.VersionPrinter, set in newApp: only --version pays
// for it), in runc's shape, which engines show and from which a caller reads the runtime-spec
// version: the version, then the spec's, Go's and libseccomp's.
func versionText() string {
	v := []string{version, "spec: " + specs.Version, "go: " + runtime.Version()}
	if major, minor, micro := libseccomp.GetLibraryVersion(); major+minor+micro > 0 {
		v = append(v, fmt.Sprintf("libseccomp: %d.%d.%d", major, minor, micro))
	}
	return strings.Join(v, "\n")
}

// newApp is nebulon's command line: runc's commands and flags.
func newApp() *cli.App {
	cli.VersionPrinter = func(ctx *cli.Context) {
		fmt.Fprintf(ctx.App.Writer, "%s version %s\n", ctx.App.Name, versionText())
	}
	root, xdgRoot := defaultRoot()
	return &cli.App{
		Name:    "nebulon",
		Usage:   "OCI container runtime",
		Version: version,
		Description: `nebulon runs containers from OCI bundles (a config.json and a root filesystem),
following the OCI runtime specification. Its commands and flags are runc's, so engines
such as containerd, CRI-O and podman can use it in place of runc.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: root, Usage: "directory for container state ($XDG_RUNTIME_DIR/nebulon for a user other than root)"},
			&cli.StringFlag{Name: "log", Usage: "log file (default: stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "use systemd to manage cgroups (needs systemd as PID 1)"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "ignore cgroup permission errors ('true', 'false', or 'auto')"},
			// runc 1.1's path of the criu binary; checkpoint and restore run criu from PATH, as
			// runc 1.2 on do. Accepted so that callers written for runc 1.1 still work.
			&cli.StringFlag{Name: "criu", Value: "criu", Hidden: true, Usage: "path to the criu binary (ignored)"},
		},
		Before: func(ctx *cli.Context) error {
			if err := setupLogging(ctx); err != nil {
				return err
			}
			if _, err := parseBoolOrAuto(ctx.String("rootless")); err != nil {
				return fmt.Errorf("--rootless: %w", err)
			}
			if xdgRoot && !ctx.IsSet("root") {
				if err := prepareXDGRoot(root); err != nil {
					return err
				}
			}
			slog.Debug("nebulon started", "args", os.Args[1:])
			return nil
		},
		Commands: []*cli.Command{
			createCommand, startCommand, runCommand, stateCommand, killCommand, deleteCommand,
			listCommand, specCommand, featuresCommand, pauseCommand, resumeCommand, updateCommand,
			eventsCommand, psCommand, execCommand,
			checkpointCommand, restoreCommand,
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// exitCode is an error that carries the process's exit status, for run.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// logToStderr is false when --log names a file: errors are then also printed plainly to stderr,
// as runc does, so a person sees them while an engine reads the log.
var logToStderr = true

// failWith is an error that exits with a given status instead of 1: exec's own failures exit
// 255, as runc's do, so they are not taken for the process's exit status.
type failWith struct {
	err  error
	code int
}

func (f failWith) Error() string { return f.err.Error() }
func (f failWith) Unwrap() error { return f.err }

func fatal(err error) {
	var code exitCode
	if errors.As(err, &code) {
		os.Exit(int(code))
	}
	slog.Error(err.Error())
	if !logToStderr {
		fmt.Fprintln(os.Stderr, err)
	}
	var fw failWith
	if errors.As(err, &fw) {
		os.Exit(fw.code)
	}
	os.Exit(1)
}

// setupLogging sends log/slog to --log in --log-format. Levels and keys are runc's (logrus):
// engines parse the JSON lines for "level":"error" and "msg".
func setupLogging(ctx *cli.Context) error {
	var out io.Writer = os.Stderr
	if path := ctx.String("log"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("open log file: %w", err)
		}
		out = f
		logToStderr = false
	}
	level := slog.LevelWarn
	if ctx.Bool("debug") {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: logrusNames}
	switch ctx.String("log-format") {
	case "text":
		slog.SetDefault(slog.New(slog.NewTextHandler(out, opts)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(out, opts)))
	default:
		return fmt.Errorf("--log-format: unknown format %q (text or json)", ctx.String("log-format"))
	}
	return nil
}

func logrusNames(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey {
		lvl := strings.ToLower(a.Value.String())
		if lvl == "warn" {
			lvl = "warning"
		}
		return slog.String(slog.LevelKey, lvl)
	}
	return a
}

// checkArgs checks the number of positional arguments.
func checkArgs(ctx *cli.Context, n int, usage string) error {
	if ctx.NArg() != n {
		return fmt.Errorf("%s: %s needs %d argument(s), got %d; usage: nebulon %s %s",
			ctx.Command.Name, ctx.Command.Name, n, ctx.NArg(), ctx.Command.Name, usage)
	}
	return nil
}

// withContainer runs op on the one container the command names, holding its lock.
func withContainer(ctx *cli.Context, op func(*libnebulon.Container) error) error {
	if err := checkArgs(ctx, 1, "<container-id>"); err != nil {
		return err
	}
	c, err := libnebulon.Load(ctx.String("root"), ctx.Args().First())
	if err != nil {
		return err
	}
	defer c.Close()
	return op(c)
}

func checkSystemd(ctx *cli.Context) error {
	if ctx.Bool("systemd-cgroup") && !libnebulon.SystemdBooted() {
		return errors.New("--systemd-cgroup: systemd is not running as PID 1 on this host, so it cannot manage cgroups; use the cgroupfs driver (omit the flag)")
	}
	return nil
}

func runInit() {
	err := libnebulon.Init()
	if !errors.Is(err, libnebulon.ErrReported) {
		fmt.Fprintln(os.Stderr, "nebulon init:", err)
	}
	os.Exit(1)
}

// parseBoolOrAuto reads --rootless as runc does: "auto" (or "") is nil, else a strconv bool.
// See rootlessCgroups for what it changes.
func parseBoolOrAuto(s string) (*bool, error) {
	if s == "" || strings.EqualFold(s, "auto") {
		return nil, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return nil, fmt.Errorf("want true, false or auto: %w", err)
	}
	return &b, nil
}

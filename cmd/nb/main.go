// Command nb is Nebulon's container CLI for people, in the manner of docker and podman: it turns
// flags and images into OCI bundles and runs them with libnebulon. Its store (images,
// containers, volumes) lives on disk under --root, so it keeps working across runs of nb.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/cliargs"
	"github.com/nebulon-dev/nebulon/internal/network"
	"github.com/nebulon-dev/nebulon/internal/rootless"
	"github.com/nebulon-dev/nebulon/internal/store"
	"github.com/nebulon-dev/nebulon/libnebulon"
)

var version = "dev"

func main() {
	if libnebulon.IsInit() {
		// libnebulon re-executes this binary as the container's init.
		err := libnebulon.Init()
		if !errors.Is(err, libnebulon.ErrReported) {
			fmt.Fprintln(os.Stderr, "nb init:", err)
		}
		os.Exit(1)
	}
	if len(os.Args) >= 2 && os.Args[1] == rootless.PauseCommand {
		network.NamespaceChild(os.Args)
		rootless.Pause()
	}
	app := newApp()
	enterBefore(app.Commands)
	if err := app.Run(reorderArgs(app, os.Args)); err != nil {
		var code exitStatus
		if errors.As(err, &code) {
			os.Exit(int(code)) // the container's status: nothing went wrong in nb
		}
		fmt.Fprintln(os.Stderr, "nb:", err)
		os.Exit(1)
	}
}

// reorderArgs lets a command's flags follow its arguments, as docker and podman take them
// (`nb volume create data --driver local`). What follows create's image (or, with --rootfs, its
// first argument) and exec's container is the container's command line, with flags of its own,
// as in docker; and nothing after "--" moves.
func reorderArgs(app *cli.App, args []string) []string {
	return cliargs.Reorder(app, args, func(c *cli.Command) bool { return c == createCommand || c == execCommand })
}

func newApp() *cli.App {
	return &cli.App{
		Name:    "nb",
		Usage:   "run containers from images or root filesystems",
		Version: version,
		Description: `nb keeps images, containers and volumes in a store on disk and runs containers with
Nebulon. Start with:
   nb init
   nb volume create data
   nb info`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "root", Value: defaultStoreRoot(), EnvVars: []string{"NEBULON_ROOT"}, Usage: "the store's directory"},
			&cli.BoolFlag{Name: "debug", Usage: "log debug messages"},
		},
		Before: func(ctx *cli.Context) error {
			level := slog.LevelInfo
			if ctx.Bool("debug") {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
			return nil
		},
		Commands: []*cli.Command{
			initCommand, createCommand, runCommand, psCommand, stopCommand, killCommand, rmCommand,
			execCommand, inspectCommand, logsCommand, imageCommand, pullCommand, pushCommand, loginCommand, logoutCommand, volumeCommand, networkCommand, infoCommand, completionCommand, monitorCommand,
		},
		EnableBashCompletion:   true,
		UseShortOptionHandling: true, // -aq, as docker takes it
		ExitErrHandler:         func(*cli.Context, error) {},
	}
}

// exitStatus is an error that carries a container's exit status out of nb.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// openStore opens the store --root names, saying how to make one when there is none.
func openStore(ctx *cli.Context) (*store.Store, error) {
	root, err := storeRoot(ctx)
	if err != nil {
		return nil, err
	}
	return store.Open(root)
}

// enterBefore makes each command that does something (one with an action, but shell completion)
// enter a rootless user's namespaces first (rootless.Enter), once urfave has found it and parsed
// its flags: a typo or a bad flag, help and the version neither start the pause process nor
// make $XDG_RUNTIME_DIR/nb.
func enterBefore(cmds []*cli.Command) {
	for _, c := range cmds {
		enterBefore(c.Subcommands)
		if c.Action == nil || c == completionCommand {
			continue
		}
		before := c.Before
		c.Before = func(ctx *cli.Context) error {
			if err := rootless.Enter(); err != nil {
				return err
			}
			if rootless.Is() {
				var err error
				if rootlessRunDir, err = rootless.RuntimeDir(); err != nil {
					return err
				}
			}
			if before != nil {
				return before(ctx)
			}
			return nil
		}
	}
}

// rootlessRunDir is a rootless nb's $XDG_RUNTIME_DIR/nb, "" for the host's root.
var rootlessRunDir string

// defaultStoreRoot is --root's default: /var/lib/nebulon for the host's root, a rootless
// user's data directory (rootless.DataHome) for anyone else; "" when that has no answer
// (storeRoot says why).
func defaultStoreRoot() string {
	if !rootless.Is() {
		return store.DefaultRoot
	}
	root, _ := rootless.DataHome()
	return root
}

// storeRoot is --root, or why a rootless user has no default.
func storeRoot(ctx *cli.Context) (string, error) {
	if root := ctx.String("root"); root != "" {
		return root, nil
	}
	_, err := rootless.DataHome()
	if err == nil {
		err = errors.New("--root: empty")
	}
	return "", err
}

// lockStore checks a command's argument count (needArgs), opens the store and takes its lock,
// for a command that changes it; the caller calls unlock.
func lockStore(ctx *cli.Context, min, max int) (s *store.Store, unlock func(), err error) {
	if err := needArgs(ctx, min, max); err != nil {
		return nil, nil, err
	}
	if s, err = openStore(ctx); err != nil {
		return nil, nil, err
	}
	if unlock, err = s.Lock(); err != nil {
		return nil, nil, err
	}
	return s, unlock, nil
}

// needArgs checks a command's argument count, naming its usage.
func needArgs(ctx *cli.Context, min, max int) error {
	n := ctx.NArg()
	if n < min || (max >= 0 && n > max) {
		return fmt.Errorf("%s: wrong number of arguments; usage: nb %s %s", ctx.Command.FullName(), ctx.Command.FullName(), ctx.Command.ArgsUsage)
	}
	return nil
}

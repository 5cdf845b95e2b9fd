package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/containerd/console"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/internal/image"
	"github.com/nebulon-dev/nebulon/internal/store"
)

// Flags for reaching a registry, podman's.
var registryFlags = []cli.Flag{
	&cli.BoolFlag{Name: "tls-verify", Value: true, Usage: "require HTTPS and check the registry's certificate (false: plain HTTP or an unchecked certificate; localhost and 127.0.0.0/8 may use plain HTTP anyway)"},
	&cli.BoolFlag{Name: "insecure", Usage: "the same as --tls-verify=false"},
	&cli.StringFlag{Name: "cert-dir", Usage: "a directory of CA certificates (*.crt) to check the registry's certificate against, instead of /etc/containers/certs.d/HOST:PORT/"},
}

var pullCommand = &cli.Command{
	Name:      "pull",
	Usage:     "pull an image from a registry (of an index, this machine's platform: linux/" + runtime.GOARCH + ")",
	ArgsUsage: "NAME[:TAG|@DIGEST]",
	Description: `Examples:
   nb pull 127.0.0.1:5000/busybox
   nb pull registry.example/team/app:v2
   nb pull registry.example/team/app@sha256:...`,
	Flags:  registryFlags,
	Action: pull,
}

var pushCommand = &cli.Command{
	Name:      "push",
	Usage:     "push an image to a registry, under its own name or as REMOTE",
	ArgsUsage: "NAME[:TAG] [REMOTE[:TAG]]",
	Description: `Examples:
   nb push 127.0.0.1:5000/busybox
   nb push busybox registry.example/team/busybox:1`,
	Flags:  registryFlags,
	Action: push,
}

var loginCommand = &cli.Command{
	Name:      "login",
	Usage:     "log in to a registry: its credentials are checked, then kept in ROOT/auth.json (mode 0600); without -p or --password-stdin, asks for the password on the terminal",
	ArgsUsage: "REGISTRY",
	Description: `Examples:
   echo "$PASSWORD" | nb login -u me --password-stdin registry.example:5000
   nb login -u me -p "$PASSWORD" --cert-dir ./certs 127.0.0.1:5000`,
	Flags: append([]cli.Flag{
		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "the user name"},
		&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "the password (it shows in ps: prefer --password-stdin)"},
		&cli.BoolFlag{Name: "password-stdin", Usage: "read the password from standard input"},
	}, registryFlags...),
	Action: login,
}

var logoutCommand = &cli.Command{
	Name:      "logout",
	Usage:     "forget a registry's credentials",
	ArgsUsage: "REGISTRY",
	Description: `Example:
   nb logout registry.example:5000`,
	Action: logout,
}

// registryOptions are the registry flags of ctx's command, with the store's credentials file.
func registryOptions(ctx *cli.Context, s *store.Store) image.RegistryOptions {
	opts := image.RegistryOptions{
		TLSVerify: ctx.Bool("tls-verify") && !ctx.Bool("insecure"),
		CertDirs:  image.DefaultCertDirs,
		AuthFile:  authFile(s),
	}
	if dir := ctx.String("cert-dir"); dir != "" {
		opts.CertDirs, opts.CertDirIsFlat = []string{dir}, true
	}
	return opts
}

// authFile is the credentials file: ROOT/auth.json, in docker's config.json format.
func authFile(s *store.Store) string { return filepath.Join(s.Root, "auth.json") }

// signalContext is cancelled by SIGINT or SIGTERM, so a pull or push stops at once and
// cleans its work dir up.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func pull(ctx *cli.Context) error {
	s, images, err := imageStore(ctx, 1, 1)
	if err != nil {
		return err
	}
	ref := ctx.Args().First()
	opts := registryOptions(ctx, s)
	bar := newProgress("pulling " + ref)
	opts.Progress = bar.update
	c, cancel := signalContext()
	defer cancel()
	res, err := images.Pull(c, ref, opts)
	bar.done()
	if err != nil {
		return err
	}
	w := ctx.App.Writer
	for _, l := range res.Layers {
		status := "Pull complete"
		if l.Existed {
			status = "Already exists"
		}
		fmt.Fprintf(w, "%s: %s\n", shortID(l.Digest), status)
	}
	fmt.Fprintf(w, "Digest: %s\n", res.Digest)
	if res.Existed {
		fmt.Fprintf(w, "Status: Image is up to date for %s\n", ref)
	} else {
		fmt.Fprintf(w, "Status: Downloaded newer image for %s\n", ref)
	}
	fmt.Fprintln(w, res.Image.ID)
	return nil
}

func push(ctx *cli.Context) error {
	s, images, err := imageStore(ctx, 1, 2)
	if err != nil {
		return err
	}
	local, remote := ctx.Args().Get(0), ctx.Args().Get(1)
	if remote == "" {
		remote = local
	}
	opts := registryOptions(ctx, s)
	bar := newProgress("pushing " + remote)
	opts.Progress = bar.update
	c, cancel := signalContext()
	defer cancel()
	digest, err := images.Push(c, local, remote, opts)
	bar.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(ctx.App.Writer, "Pushed %s\nDigest: %s\n", remote, digest)
	return nil
}

func login(ctx *cli.Context) error {
	if err := needArgs(ctx, 1, 1); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	user, password := ctx.String("username"), ctx.String("password")
	switch {
	case ctx.Bool("password-stdin") && password != "":
		return errors.New("login: --password and --password-stdin both given; give one")
	case ctx.Bool("password-stdin"):
		if user == "" {
			return errors.New("login: --password-stdin needs --username")
		}
		if password, err = readPassword(os.Stdin); err != nil {
			return err
		}
	}
	if user == "" {
		return errors.New("login: give the user name with -u")
	}
	if password == "" {
		if password, err = promptPassword(); err != nil {
			return err
		}
	}
	c, cancel := signalContext()
	defer cancel()
	registry := ctx.Args().First()
	if err := image.Login(c, registry, user, password, registryOptions(ctx, s)); err != nil {
		return err
	}
	fmt.Fprintln(ctx.App.Writer, "Login Succeeded!")
	return nil
}

// promptPassword asks for the password on the terminal that standard input is, without echo,
// as docker login does; without a terminal it says how to give one.
func promptPassword() (string, error) {
	c, err := console.ConsoleFromFile(os.Stdin)
	if err != nil {
		return "", errors.New("login: give the password with --password-stdin (or -p): standard input is no terminal to ask on")
	}
	fmt.Fprint(os.Stderr, "Password: ")
	if err := c.DisableEcho(); err != nil {
		return "", fmt.Errorf("login: turn the terminal's echo off: %w", err)
	}
	defer func() {
		c.Reset()
		fmt.Fprintln(os.Stderr)
	}()
	return readPassword(os.Stdin)
}

// readPassword reads one line of r, a password given on standard input.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("login: read the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("login: no password on standard input")
	}
	return line, nil
}

func logout(ctx *cli.Context) error {
	if err := needArgs(ctx, 1, 1); err != nil {
		return err
	}
	s, err := openStore(ctx)
	if err != nil {
		return err
	}
	registry := ctx.Args().First()
	if err := image.Logout(registry, image.RegistryOptions{TLSVerify: true, AuthFile: authFile(s)}); err != nil {
		return err
	}
	fmt.Fprintf(ctx.App.Writer, "Removed login credentials for %s\n", registry)
	return nil
}

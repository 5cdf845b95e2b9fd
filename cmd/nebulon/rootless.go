package main

import (
	"fmt"
	"github.com/moby/sys/userns"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

// defaultRoot is --root's default, as runc's: /run/nebulon for the host's root, and
// $XDG_RUNTIME_DIR/nebulon for another user (or for root in a user namespace, unless $USER is
// root), who cannot write /run. xdg reports the latter, which Before makes (prepareXDGRoot).
func defaultRoot() (root string, xdg bool) {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" || !honorXDGRuntimeDir() {
		return "/run/nebulon", false
	}
	return filepath.Join(dir, "nebulon"), true
}

// honorXDGRuntimeDir is runc's shouldHonorXDGRuntimeDir: the host's root keeps /run/nebulon
// even where XDG_RUNTIME_DIR is set (/run/user/0), for the engines that expect it there.
func honorXDGRuntimeDir() bool {
	if os.Geteuid() != 0 {
		return true
	}
	if !userns.RunningInUserNS() {
		return false
	}
	u, ok := os.LookupEnv("USER")
	return !ok || u != "root"
}

// prepareXDGRoot makes the default state root under $XDG_RUNTIME_DIR, 0700 with the sticky bit,
// as runc does: the XDG base directory spec lets the system prune files there that lack it.
func prepareXDGRoot(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("state root %s (from $XDG_RUNTIME_DIR): %w; XDG_RUNTIME_DIR must name a directory this user (uid %d) can write, or give --root", root, err, os.Geteuid())
	}
	if err := os.Chmod(root, 0o700|os.ModeSticky); err != nil {
		return fmt.Errorf("state root %s (from $XDG_RUNTIME_DIR): %w", root, err)
	}
	return nil
}

// rootlessCgroups is runc's shouldUseRootlessCgroupManager for the cgroupfs driver: --rootless
// true or false as given; auto is true for a caller that is not the host's root (not root, or
// root in a user namespace), who may not be able to make cgroups.
func rootlessCgroups(ctx *cli.Context) bool {
	b, _ := parseBoolOrAuto(ctx.String("rootless")) // checked in Before
	if b != nil {
		return *b
	}
	return os.Geteuid() != 0 || userns.RunningInUserNS()
}

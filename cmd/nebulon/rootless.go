package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/moby/sys/userns"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
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

// systemdUser is runc's shouldUseRootlessCgroupManager for the systemd driver: whether
// --systemd-cgroup talks to the user's systemd rather than the system's. Only asked with
// --systemd-cgroup, as it may dial the user's bus.
func systemdUser(ctx *cli.Context) bool {
	b, _ := parseBoolOrAuto(ctx.String("rootless")) // checked in Before
	return decideSystemdUser(b, os.Geteuid(), userns.RunningInUserNS(), libnebulon.SystemdUserBusOwner)
}

// decideSystemdUser: --rootless as given; a caller that is not root is a user; the host's root
// uses the system's systemd. Root of a user namespace uses the user's only when a user bus
// answers with a systemd that a user (not uid 0) owns: that is rootless podman's runtime, where
// root of LXD, Incus, rootless kind or sysbox has a systemd of its own on the system bus and
// often no user bus at all.
func decideSystemdUser(flag *bool, euid int, inUserNS bool, busOwner func() (int, error)) bool {
	switch {
	case flag != nil:
		return *flag
	case euid != 0:
		return true
	case !inUserNS:
		return false
	}
	uid, err := busOwner()
	if err != nil {
		slog.Debug("no user's systemd to use: the system's", "err", err)
		return false
	}
	return uid != 0
}

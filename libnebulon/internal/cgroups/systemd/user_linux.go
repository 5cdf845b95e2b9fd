package systemd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	godbus "github.com/godbus/dbus/v5"
)

// UserBusOwner is the uid of the systemd that answers on the user's bus, as its bus daemon
// sees it (runc's DetectUID, the OwnerUID busctl --user reports). It tells root of a user
// namespace run by a user (rootless podman runs its runtime so), whose runtime talks to that
// user's systemd, from root of a namespace with a systemd of its own on the system bus (LXD,
// Incus, rootless kind, sysbox), where there is no user bus or its owner is 0.
func UserBusOwner() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	conn, err := dialUserBus(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var uid uint32
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionUnixUser", 0, "org.freedesktop.systemd1").Store(&uid); err != nil {
		return 0, fmt.Errorf("the owner of systemd on the user's bus: %w", err)
	}
	return int(uid), nil
}

// hostUID is the caller's effective uid as the user namespace's parent sees it: the id the
// uid_map maps it to, itself in the initial namespace. The user's bus daemon checks that id
// (SO_PEERCRED gives it the id in its own namespace), not the one the namespace shows.
func hostUID() int {
	data, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return os.Geteuid()
	}
	return mapUID(string(data), os.Geteuid())
}

// mapUID is the id a uid_map ("inside outside count" lines) maps uid to; uid itself where no
// line maps it.
func mapUID(uidMap string, uid int) int {
	for _, line := range strings.Split(uidMap, "\n") {
		var inside, outside, size int64
		if n, _ := fmt.Sscan(line, &inside, &outside, &size); n != 3 {
			continue
		}
		if int64(uid) >= inside && int64(uid) < inside+size {
			return int(outside + int64(uid) - inside)
		}
	}
	return uid
}

// userBusAddress is the user's bus: $DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus, where
// dbus-user-session and systemd's user instance put it.
func userBusAddress() (string, error) {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" {
		return a, nil
	}
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		return "", fmt.Errorf("neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set, so the user's bus cannot be found")
	}
	bus := filepath.Join(dir, "bus")
	if _, err := os.Stat(bus); err != nil {
		return "", fmt.Errorf("no user bus at %s (is the user's systemd running? loginctl enable-linger starts it without a login): %w", bus, err)
	}
	return "unix:path=" + bus, nil
}

// dialUserBus connects to the user's bus and authenticates as the user of the host: go-systemd's
// own user connection sends the namespace's uid, which the daemon refuses from inside one.
func dialUserBus(ctx context.Context) (*godbus.Conn, error) {
	addr, err := userBusAddress()
	if err != nil {
		return nil, err
	}
	conn, err := godbus.Dial(addr, godbus.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if err := conn.Auth([]godbus.Auth{godbus.AuthExternal(strconv.Itoa(hostUID()))}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("authenticate as uid %d on %s: %w", hostUID(), addr, err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// ControlGroup is the cgroup of the systemd instance (the user's: its user@UID.service), below
// which its slices and units are.
func (c *Client) ControlGroup() (string, error) {
	v, err := c.managerProperty("ControlGroup")
	if err != nil {
		return "", err
	}
	return strings.Trim(v, "\""), nil
}

// checkUserRoot refuses a ControlGroup of the user's systemd that is empty, relative or the
// root: the scope, the delegated controllers and the limits would be looked for at the root of
// the hierarchy rather than below user@UID.service.
func checkUserRoot(root string) error {
	if !filepath.IsAbs(root) || filepath.Clean(root) == "/" {
		return fmt.Errorf("systemd cgroup driver: the user's systemd reports the ControlGroup %q, not the absolute path of its own cgroup (user@UID.service)", root)
	}
	return nil
}

// Delegated is the cgroup v2 controllers the user's systemd may give its units: the
// cgroup.controllers of its own cgroup.
func Delegated(root string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", root, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("systemd cgroup driver: the controllers delegated to the user's systemd: %w", err)
	}
	return strings.Fields(string(data)), nil
}

package systemd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sd "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
)

// CallTimeout bounds every call to systemd and every wait for one of its jobs. A busy systemd
// that answers later is the driver's most reported hang (runc#3904, kubernetes#120103): past
// it the command fails, naming the call and the unit.
var CallTimeout = 30 * time.Second

// Client is one command's connection to systemd: the system instance, or the user's for a
// rootless runtime. It reconnects once when systemd went away mid-command (a restart, a
// daemon-reexec).
type Client struct {
	user   bool
	conn   *sd.Conn
	cancel context.CancelFunc // ends the connection (godbus ties it to its context)
}

// Dial connects to systemd's manager, bounded by CallTimeout.
func Dial(user bool) (*Client, error) {
	c := &Client{user: user}
	if err := c.connect(); err != nil {
		return nil, err
	}
	return c, nil
}

// connect dials, bounded by CallTimeout. The connection lives as long as the context it is made
// with, so that context is the Client's, cancelled by Close, and the bound is a timer.
func (c *Client) connect() error {
	ctx, cancel := context.WithCancel(context.Background())
	type dialed struct {
		conn *sd.Conn
		err  error
	}
	ch := make(chan dialed, 1)
	go func() {
		var d dialed
		if c.user {
			d.conn, d.err = sd.NewConnection(func() (*godbus.Conn, error) { return dialUserBus(ctx) })
		} else {
			d.conn, d.err = sd.NewWithContext(ctx)
		}
		ch <- d
	}()
	select {
	case d := <-ch:
		if d.err != nil {
			cancel()
			return fmt.Errorf("systemd cgroup driver: connect to systemd over D-Bus (%s): %w", c.bus(), d.err)
		}
		c.conn, c.cancel = d.conn, cancel
		return nil
	case <-time.After(CallTimeout):
		cancel()
		return fmt.Errorf("systemd cgroup driver: connect to systemd over D-Bus (%s): no answer within %v", c.bus(), CallTimeout)
	}
}

func (c *Client) bus() string {
	if c.user {
		return "the user's bus, $DBUS_SESSION_BUS_ADDRESS or $XDG_RUNTIME_DIR/bus"
	}
	return "the system bus"
}

// Close closes the connection; a nil Client has none.
func (c *Client) Close() {
	if c != nil && c.conn != nil {
		c.conn.Close()
		c.cancel()
		c.conn = nil
	}
}

// call runs f with a context bounded by CallTimeout. When systemd went away meanwhile (a
// restart, a daemon-reexec: the call got no reply, or the connection closed), it reconnects and
// runs f again, backing off, until the same bound: systemd answers again within a second or two
// of a re-exec.
func (c *Client) call(what string, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(CallTimeout)
	delay := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := f(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("systemd cgroup driver: %s: systemd did not answer within %v", what, CallTimeout)
		}
		if !systemdGone(c.conn, err) {
			return fmt.Errorf("systemd cgroup driver: %s: %w", what, err)
		}
		if time.Until(deadline) < delay {
			return fmt.Errorf("systemd cgroup driver: %s: systemd did not come back within %v: %w", what, CallTimeout, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
		c.Close()
		if cerr := c.connect(); cerr != nil {
			return fmt.Errorf("systemd cgroup driver: %s: %w (and reconnecting failed: %w)", what, err, cerr)
		}
	}
}

// systemdGone says whether err means systemd or the connection to it went away, rather than a
// refusal: no reply (systemd left the bus mid-call), no owner of its name yet (it has not
// re-registered), or a closed connection (its private socket).
func systemdGone(conn *sd.Conn, err error) bool {
	switch errorName(err) {
	case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.ServiceUnknown",
		"org.freedesktop.DBus.Error.NameHasNoOwner", "org.freedesktop.DBus.Error.Disconnected":
		return true
	}
	return !conn.Connected() || errors.Is(err, godbus.ErrClosed)
}

// errorName is the D-Bus error name in err, or "".
func errorName(err error) string {
	var v godbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *godbus.Error
	if errors.As(err, &p) && p != nil {
		return p.Name
	}
	return ""
}

// wait waits for a job's result on ch, bounded by CallTimeout; anything but "done" is an error.
func wait(what string, ch <-chan string) error {
	select {
	case result := <-ch:
		if result != "done" {
			return fmt.Errorf("systemd cgroup driver: %s: systemd's job ended %q", what, result)
		}
		return nil
	case <-time.After(CallTimeout):
		return fmt.Errorf("systemd cgroup driver: %s: systemd's job did not finish within %v", what, CallTimeout)
	}
}

// StartScope makes the transient unit u with props, Delegate=yes (the container may manage its
// own sub-cgroups, and systemd keeps off them) and pid in it, and waits until systemd has done
// it. A unit of that name left failed by an earlier container is reset first.
func (c *Client) StartScope(u Unit, pid int, props []sd.Property) error {
	what := "start " + u.Name
	all := append([]sd.Property{
		sd.PropDescription("nebulon container " + u.Name),
		prop("Delegate", true),
		prop("DefaultDependencies", false),
	}, props...)
	if u.IsSlice() {
		all = append(all, sd.PropWants(u.Slice))
	} else {
		all = append(all, sd.PropSlice(u.Slice), sd.PropPids(uint32(pid)))
	}
	ch := make(chan string, 1)
	err := c.call(what, func(ctx context.Context) error {
		_, err := c.conn.StartTransientUnitContext(ctx, u.Name, "replace", all, ch)
		return err
	})
	if errorName(err) == "org.freedesktop.systemd1.UnitExists" {
		// A call that systemd carried out but could not answer (it re-executed) and was then
		// asked again: the unit is there with pid in it, and its job's end was not for us.
		if pid != 0 && inCgroup(pid, u) {
			return nil
		}
		c.ResetFailed(u)
		err = c.call(what, func(ctx context.Context) error {
			_, err := c.conn.StartTransientUnitContext(ctx, u.Name, "replace", all, ch)
			return err
		})
	}
	if err != nil {
		return err
	}
	return wait(what, ch)
}

// inCgroup says whether pid is in u's cgroup, in the v2 hierarchy or systemd's own v1 one.
func inCgroup(pid int, u Unit) bool {
	dir, err := u.CgroupDir()
	if err != nil {
		return false
	}
	for _, h := range []string{"", "name=systemd"} {
		if path, ok, _ := cgroups.ProcCgroup(pid, h); ok && path == dir {
			return true
		}
	}
	return false
}

// Stop stops the unit and waits until it is gone; a unit systemd does not know is stopped.
func (c *Client) Stop(u Unit) error {
	what := "stop " + u.Name
	ch := make(chan string, 1)
	err := c.call(what, func(ctx context.Context) error {
		_, err := c.conn.StopUnitContext(ctx, u.Name, "replace", ch)
		return err
	})
	if errorName(err) == "org.freedesktop.systemd1.NoSuchUnit" {
		return nil
	}
	if err != nil {
		return err
	}
	if err := wait(what, ch); err != nil {
		return err
	}
	c.ResetFailed(u) // a scope whose processes were killed ends "failed" and would stay listed
	return nil
}

// ResetFailed clears a failed state of the unit; errors are of no consequence.
func (c *Client) ResetFailed(u Unit) {
	c.call("reset-failed "+u.Name, func(ctx context.Context) error {
		return c.conn.ResetFailedUnitContext(ctx, u.Name)
	})
}

// Set changes the unit's properties at runtime (update).
func (c *Client) Set(u Unit, props []sd.Property) error {
	if len(props) == 0 {
		return nil
	}
	return c.call("set properties of "+u.Name, func(ctx context.Context) error {
		return c.conn.SetUnitPropertiesContext(ctx, u.Name, true, props...)
	})
}

// Version is systemd's version number (the 252 of "252.22-1~deb12u1"), which says which
// properties it knows.
func (c *Client) Version() (int, error) {
	v, err := c.managerProperty("Version")
	if err != nil {
		return 0, err
	}
	return parseVersion(v)
}

// managerProperty reads a property of systemd's manager, as D-Bus's text form of its value.
func (c *Client) managerProperty(name string) (string, error) {
	var v string
	err := c.call("read systemd's "+name, func(ctx context.Context) error {
		// GetManagerProperty takes no context: its wait is bounded here.
		type answer struct {
			v   string
			err error
		}
		done := make(chan answer, 1)
		conn := c.conn
		go func() {
			v, err := conn.GetManagerProperty(name)
			done <- answer{v, err}
		}()
		select {
		case a := <-done:
			v = a.v
			return a.err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	return v, err
}

// parseVersion reads systemd's Version property: a quoted D-Bus string such as "\"252.22-1\""
// or "v256".
func parseVersion(s string) (int, error) {
	s = strings.Trim(s, "\"")
	s = strings.TrimPrefix(s, "v")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(s[:end])
	if err != nil {
		return 0, fmt.Errorf("systemd cgroup driver: systemd's version %q has no number", s)
	}
	return n, nil
}

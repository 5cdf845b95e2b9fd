package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nebulon-dev/nebulon/tests/internal/syncbuf"
)

// TestRelaysConsoleSentOverSocket plays the runtime of the protocol table: it opens a pty pair,
// sends the master with its name, and checks both directions of the relay, the name file, the
// window size seen from the slave, and that closing the slave ends the run with no error.
func TestRelaysConsoleSentOverSocket(t *testing.T) {
	dir := t.TempDir()
	opts := options{
		socket:    filepath.Join(dir, "console.sock"),
		nameFile:  filepath.Join(dir, "name"),
		readyFile: filepath.Join(dir, "ready"),
		timeout:   10 * time.Second,
		rows:      41,
		cols:      123,
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinR.Close()
	defer stdinW.Close()
	var stdout syncbuf.Buffer
	done := startRun(t, opts, stdinR, &stdout)

	master, slave, name := openPty(t)
	defer slave.Close()
	sendConsole(t, opts.socket, name, int(master.Fd()))
	master.Close() // the receiver holds the only master now, as it would from a runtime

	if _, err := slave.WriteString("hello from the container\n"); err != nil {
		t.Fatal(err)
	}
	// ONLCR: the line discipline turns the slave's "\n" into "\r\n" on the master.
	stdout.WaitFor(t, "hello from the container\r\n")

	if got, err := os.ReadFile(opts.nameFile); err != nil || string(got) != name {
		t.Errorf("name file = %q, %v; want %q", got, err, name)
	}
	// The relay had begun, so the window size was set before it. (Control, not Fd: Fd would
	// make the slave blocking, and the read below needs its deadline.)
	var ws *unix.Winsize
	if err := control(slave, func(fd int) (err error) {
		ws, err = unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		return os.NewSyscallError("ioctl TIOCGWINSZ", err)
	}); err != nil {
		t.Fatal(err)
	}
	if ws.Row != opts.rows || ws.Col != opts.cols {
		t.Errorf("slave window size = %dx%d, want %dx%d", ws.Row, ws.Col, opts.rows, opts.cols)
	}

	if _, err := stdinW.WriteString("typed by the person\n"); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 64)
	if err := slave.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := slave.Read(line) // canonical mode: one read returns the whole line
	if err != nil || string(line[:n]) != "typed by the person\n" {
		t.Errorf("slave read %q, %v; want the line written to stdin", line[:n], err)
	}
	stdinW.Close()

	// Output after stdin's EOF is still relayed.
	if _, err := slave.WriteString("after stdin closed\n"); err != nil {
		t.Fatal(err)
	}
	stdout.WaitFor(t, "after stdin closed\r\n")

	slave.Close() // the container's side closes: the master reads EIO
	if err := waitRun(t, done); err != nil {
		t.Fatalf("run: %v, want nil once the slave closed", err)
	}
	if _, err := os.Lstat(opts.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file still there after run: %v", err)
	}
}

// TestRefusesMessageWithoutOneTty sends what a broken runtime might and checks that the
// receiver refuses it with an error saying what was wrong, and removes its socket.
func TestRefusesMessageWithoutOneTty(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fds     func(t *testing.T) []int
		wantErr string
	}{{
		name:    "no fd",
		fds:     func(t *testing.T) []int { return nil },
		wantErr: `console message "/dev/pts/7" carries no fd: want the pty master in SCM_RIGHTS`,
	}, {
		name: "pipe, not a tty",
		fds: func(t *testing.T) []int {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close(); w.Close() })
			return []int{int(r.Fd())}
		},
		wantErr: `console message "/dev/pts/7": received fd is not a tty: ioctl TCGETS: inappropriate ioctl for device`,
	}, {
		name: "two ttys",
		fds: func(t *testing.T) []int {
			master, slave, _ := openPty(t)
			t.Cleanup(func() { master.Close(); slave.Close() })
			return []int{int(master.Fd()), int(slave.Fd())}
		},
		wantErr: `console message "/dev/pts/7" carries 2 fds: want exactly one, the pty master`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := options{
				socket:    filepath.Join(dir, "console.sock"),
				readyFile: filepath.Join(dir, "ready"),
				timeout:   10 * time.Second,
			}
			done := startRun(t, opts, nil, &syncbuf.Buffer{})
			sendConsole(t, opts.socket, "/dev/pts/7", tc.fds(t)...)
			err := waitRun(t, done)
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("run: %v\nwant: %s", err, tc.wantErr)
			}
			if _, err := os.Lstat(opts.socket); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket file still there after run: %v", err)
			}
		})
	}
}

// TestTimesOutWhenNoConsoleArrives: a runtime that never connects fails the run instead of
// hanging the test suite.
func TestTimesOutWhenNoConsoleArrives(t *testing.T) {
	opts := options{socket: filepath.Join(t.TempDir(), "console.sock"), timeout: 100 * time.Millisecond}
	err := run(context.Background(), opts, nil, &syncbuf.Buffer{})
	want := "no console on " + opts.socket + " within 100ms"
	if err == nil || err.Error() != want {
		t.Fatalf("run: %v, want %q", err, want)
	}
}

func TestParseWinsizeTakesRowsByCols(t *testing.T) {
	for _, tc := range []struct {
		in         string
		rows, cols uint16
		ok         bool
	}{
		{"24x80", 24, 80, true},
		{"1x65535", 1, 65535, true},
		{"80", 0, 0, false},
		{"0x80", 0, 0, false},
		{"24x", 0, 0, false},
		{"24x65536", 0, 0, false},
		{"24X80", 0, 0, false},
	} {
		rows, cols, err := parseWinsize(tc.in)
		if (err == nil) != tc.ok || rows != tc.rows || cols != tc.cols {
			t.Errorf("parseWinsize(%q) = %d, %d, %v; want %d, %d, ok=%v", tc.in, rows, cols, err, tc.rows, tc.cols, tc.ok)
		}
	}
}

// startRun runs the receiver in the background and returns once its ready file exists.
func startRun(t *testing.T, opts options, stdin *os.File, stdout *syncbuf.Buffer) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		if stdin == nil { // a nil *os.File in an io.Reader would not be a nil stdin
			done <- run(context.Background(), opts, nil, stdout)
			return
		}
		done <- run(context.Background(), opts, stdin, stdout)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(opts.readyFile); err == nil {
			return done
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before it was ready: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no ready file after 10s")
		}
	}
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("run still going 10s after the console's side closed")
		return nil
	}
}

// openPty opens a pty pair the way posix_openpt, unlockpt and ptsname do (pty(7)).
func openPty(t *testing.T) (master, slave *os.File, name string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty to test with: %v", err)
	}
	var n uint32
	if err := control(m, func(fd int) (err error) {
		if err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
			return os.NewSyscallError("ioctl TIOCSPTLCK", err)
		}
		n, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN)
		return os.NewSyscallError("ioctl TIOCGPTN", err)
	}); err != nil {
		m.Close()
		t.Fatal(err)
	}
	name = "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	s, err := os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s, name
}

// control runs fn on f's fd without making f blocking, as f.Fd() would.
func control(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var fnErr error
	if err := rc.Control(func(fd uintptr) { fnErr = fn(int(fd)) }); err != nil {
		return err
	}
	return fnErr
}

// sendConsole is step 3 of the protocol, as a runtime does it: one message, the name as data
// and the fds in SCM_RIGHTS.
func sendConsole(t *testing.T, socket, name string, fds ...int) {
	t.Helper()
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := conn.WriteMsgUnix([]byte(name), oob, nil); err != nil {
		t.Fatal(err)
	}
}

package libnebulon

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTerminalSocketRules(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		terminal, foreground bool
		path, wantErr        string
		wantKeep             bool
	}{
		{name: "no terminal, detached", terminal: false},
		{name: "no terminal, foreground", terminal: false, foreground: true},
		{name: "terminal, foreground: relayed", terminal: true, foreground: true, wantKeep: true},
		{name: "terminal, detached, no socket", terminal: true, wantErr: "process.terminal: true, but the process is detached"},
		{name: "socket in the foreground", terminal: true, foreground: true, path: "/x.sock", wantErr: "--console-socket: only a detached process"},
		{name: "socket without terminal", path: "/x.sock", wantErr: "--console-socket /x.sock: the process has no terminal"},
		{name: "socket nobody listens on", terminal: true, path: "/nonexistent/x.sock", wantErr: "--console-socket: dial unix /nonexistent/x.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock, keep, err := terminalSocket(tc.terminal, tc.foreground, tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (keep != nil) != tc.wantKeep || (sock != nil) != tc.wantKeep {
				t.Fatalf("sock %v, keep %v; want both set: %v", sock, keep, tc.wantKeep)
			}
			if keep != nil {
				sock.Close()
				keep.Close()
			}
		})
	}
}

// A master sent as setupConsole sends it comes back, and a sender that closes without sending
// is an error at once, not a hang.
func TestRecvConsole(t *testing.T) {
	sock, keep, err := terminalSocket(true, true, "")
	if err != nil {
		t.Fatal(err)
	}
	defer keep.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const consoleName = "/dev/ptmx" // what the init sends, as runc does (initproc's setupConsole)
	if err := unix.Sendmsg(int(sock.Fd()), []byte(consoleName), unix.UnixRights(int(w.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sock.Close()
	got, err := RecvConsole(keep)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name() != consoleName {
		t.Errorf("name %q, want %q", got.Name(), consoleName)
	}
	got.WriteString("x") // the pipe's write end, received
	got.Close()
	buf := make([]byte, 2)
	if n, _ := r.Read(buf); string(buf[:n]) != "x" {
		t.Errorf("read %q through the received fd, want x", buf[:n])
	}
	if _, err := RecvConsole(keep); err == nil || !strings.Contains(err.Error(), "got no pty master") {
		t.Errorf("after the sender closed: err = %v, want no pty master", err)
	}
}

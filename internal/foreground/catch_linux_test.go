package foreground

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCatch sends this process one signal of each kind Catch handles: caught in C (SIGHUP, a
// real-time one: 37, glibc's SIGRTMIN+3; SIGCHLD), and through os/signal (SIGSEGV sent by kill, not a fault). Each must
// arrive on the channel, and the Go runtime must still turn a real fault into a panic.
func TestCatch(t *testing.T) {
	sigs, err := Catch()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []unix.Signal{unix.SIGHUP, unix.Signal(37), unix.SIGCHLD, unix.SIGSEGV} {
		if err := unix.Kill(os.Getpid(), s); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-sigs:
			if got != s {
				t.Errorf("sent %v (%d), got %v", s, int(s), got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v (%d) did not arrive within 5s", s, int(s))
		}
	}
	if !faultPanics() {
		t.Error("a nil dereference did not panic once Catch ran")
	}
}

func faultPanics() (panicked bool) {
	defer func() { panicked = recover() != nil }()
	var p *int
	return *p == 0
}

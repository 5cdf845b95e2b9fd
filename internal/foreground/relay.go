// Package foreground runs a container's process in the caller's foreground, for nebulon run and
// exec and for nb: it relays the process's terminal, forwards signals and waits for it.
package foreground

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// Relay is the runtime's side of a foreground process's terminal (run or exec without
// --console-socket): the caller's stdin goes to the pty master and the master to stdout, with the
// caller's terminal, when stdin is one, in raw mode and the pty kept at its size.
type Relay struct {
	master *os.File
	host   console.Console // nil when stdin is not a terminal
	done   chan struct{}   // closed once the master reads EOF or EIO: no slave is left open
	last   atomic.Int64    // when output last came, in UnixNano
}

// quietAfterExit is how long the relay waits for more output once the process has exited and
// some other process still holds the terminal (a daemon it left behind).
const quietAfterExit = 200 * time.Millisecond

// StartRelay starts relaying the pty master of a foreground process.
func StartRelay(master *os.File) (*Relay, error) {
	r := &Relay{master: master, done: make(chan struct{})}
	if host, err := console.ConsoleFromFile(os.Stdin); err == nil {
		if err := host.SetRaw(); err != nil {
			return nil, fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		r.host = host
		r.Resize()
	}
	r.last.Store(time.Now().UnixNano())
	go io.Copy(master, os.Stdin) // ends with the runtime: a pty has no half-close
	go func() {
		defer close(r.done)
		buf := make([]byte, 32<<10)
		for {
			n, err := master.Read(buf)
			if n > 0 {
				r.last.Store(time.Now().UnixNano())
				if _, err := os.Stdout.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil { // EIO once the last slave fd is closed (pty(7))
				return
			}
		}
	}()
	return r, nil
}

// Resize gives the pty the caller's terminal size (on start and on SIGWINCH).
func (r *Relay) Resize() {
	if r == nil || r.host == nil {
		return
	}
	ws, err := r.host.Size()
	if err != nil || ws.Height == 0 || ws.Width == 0 {
		return // a terminal of no size (a pty nobody sized) would undo process.consoleSize
	}
	unix.IoctlSetWinsize(int(r.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Height, Col: ws.Width})
}

// Finish, once the process has exited, copies the rest of its output and restores the caller's
// terminal. Output ends when every slave is closed, or when nothing came for quietAfterExit
// while something the process left behind keeps the terminal open.
func (r *Relay) Finish() {
	if r == nil {
		return
	}
	// The exit counts as output: what the process wrote last may not have been read yet.
	r.last.Store(time.Now().UnixNano())
	for {
		idle := time.Since(time.Unix(0, r.last.Load()))
		if idle >= quietAfterExit {
			break
		}
		select {
		case <-r.done:
			r.Restore()
			return
		case <-time.After(quietAfterExit - idle):
		}
	}
	r.Restore()
}

// Restore gives the caller's terminal back its mode.
func (r *Relay) Restore() {
	if r != nil && r.host != nil {
		r.host.Reset()
	}
}

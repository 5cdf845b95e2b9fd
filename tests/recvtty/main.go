// Command recvtty is the receiving end of a runtime's --console-socket, for the integration
// tests: it listens on SOCKET, takes the pty master the runtime sends, and relays the pty's
// output to its stdout and its stdin to the pty until the container's side closes.
//
//	recvtty [--name-file FILE] [--winsize ROWSxCOLS] [--ready-file FILE] [--no-stdin]
//	        [--timeout D] SOCKET
//
// It prints nothing before a connection arrives, so a test may compare its stdout with what the
// container wrote. It exits 0 once the master reads EOF or EIO, 1 on any error (including no
// console within --timeout), 2 on bad usage.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	var (
		opts    options
		winsize string
	)
	fs := flag.NewFlagSet("recvtty", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: recvtty [flags] SOCKET")
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.nameFile, "name-file", "", "write the pty name the runtime sent to `FILE`")
	fs.StringVar(&winsize, "winsize", "", "set the pty's window size to `ROWSxCOLS` once received")
	fs.StringVar(&opts.readyFile, "ready-file", "", "create `FILE` once the socket is listening")
	fs.BoolVar(&opts.noStdin, "no-stdin", false, "do not relay stdin to the pty")
	fs.DurationVar(&opts.timeout, "timeout", 30*time.Second, "fail if no console arrives within `D` (0: wait forever)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		os.Exit(2)
	}
	opts.socket = fs.Arg(0)
	if winsize != "" {
		rows, cols, err := parseWinsize(winsize)
		if err != nil {
			fmt.Fprintf(os.Stderr, "recvtty: %v\n", err)
			os.Exit(2)
		}
		opts.rows, opts.cols = rows, cols
	}

	// A signal closes the listener or the master, so the socket file is still removed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stdin := os.Stdin
	if opts.noStdin {
		stdin = nil
	}
	if err := run(ctx, opts, stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "recvtty: %v\n", err)
		os.Exit(1)
	}
}

// options are recvtty's flags and its SOCKET argument.
type options struct {
	socket     string
	nameFile   string
	readyFile  string
	noStdin    bool
	timeout    time.Duration
	rows, cols uint16 // 0, 0: leave the window size alone
}

// parseWinsize parses "ROWSxCOLS", e.g. "40x120"; both must be positive.
func parseWinsize(s string) (rows, cols uint16, err error) {
	r, c, ok := strings.Cut(s, "x")
	if !ok {
		return 0, 0, fmt.Errorf("window size %q: want ROWSxCOLS", s)
	}
	rs, errR := strconv.ParseUint(r, 10, 16)
	cs, errC := strconv.ParseUint(c, 10, 16)
	if errR != nil || errC != nil || rs == 0 || cs == 0 {
		return 0, 0, fmt.Errorf("window size %q: want ROWSxCOLS, both from 1 to 65535", s)
	}
	return uint16(rs), uint16(cs), nil
}

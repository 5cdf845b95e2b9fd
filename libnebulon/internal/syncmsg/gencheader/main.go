// Command gencheader writes the C stage's copy of the sync protocol's numbers (syncmsg.CHeader)
// to the file it is given; `go generate ./libnebulon/internal/syncmsg` runs it.
package main

import (
	"fmt"
	"os"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gencheader FILE")
		os.Exit(2)
	}
	if err := os.WriteFile(os.Args[1], syncmsg.CHeader(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gencheader:", err)
		os.Exit(1)
	}
}

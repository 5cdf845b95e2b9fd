// Command monoclock answers each line it reads on stdin with the nanoseconds elapsed on the
// monotonic clock since it started. tests/bench/bench.sh keeps it as a coprocess: reading the
// clock then costs a pipe round trip instead of a fork inside the timed interval, and a step of
// the wall clock cannot skew a sample.
package main

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

func main() {
	start := time.Now()
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for in.Scan() {
		fmt.Fprintln(out, time.Since(start).Nanoseconds())
		if err := out.Flush(); err != nil {
			fmt.Fprintf(os.Stderr, "monoclock: %v\n", err)
			os.Exit(1)
		}
	}
}

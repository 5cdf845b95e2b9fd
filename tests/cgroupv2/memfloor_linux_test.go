package cgroupv2

import (
	"strconv"
	"strings"
	"testing"
)

// The smallest memory.limit under which `nebulon run` of /bin/true succeeds: the runtime's init
// runs in the container's cgroup until it execs, so its memory counts against the limit. Logged
// for the record (the target is 512 KiB); the test fails only if even 64 MiB is not enough.
func TestSmallestMemoryLimitForRun(t *testing.T) {
	e := newEnv(t)
	var failures []string
	for size := int64(256 << 10); size <= 64<<20; size *= 2 {
		c := e.newContainer("true")
		c.set("linux.resources.memory.limit", size)
		r := c.run()
		if r.ok() {
			t.Logf("smallest memory.limit for `nebulon run` of true: %d KiB (target 512 KiB)", size>>10)
			for _, f := range failures {
				t.Logf("  %s", f)
			}
			return
		}
		msg := strings.TrimSpace(r.stderr)
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		failures = append(failures, strings.TrimSpace(strings.Join([]string{
			formatKiB(size), "failed: exit status", strconv.Itoa(r.code) + ":", msg}, " ")))
	}
	for _, f := range failures {
		t.Log(f)
	}
	t.Errorf("`nebulon run` of true failed under every memory.limit up to 64 MiB")
}

func formatKiB(n int64) string { return strconv.FormatInt(n>>10, 10) + " KiB" }

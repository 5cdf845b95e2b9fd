package cgroupv2

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The smallest memory.limit under which `nebulon run` of true succeeds. On cgroup v2 the kernel
// memory of the container's setup (its namespaces, mounts, page tables) counts in memory.max
// with the runtime's init, until the limit is written. Logged for the record (the target is
// 512 KiB), with the container's memory.peak when it has no limit; the test fails only if even
// 64 MiB is not enough.
func TestSmallestMemoryLimitForRun(t *testing.T) {
	e := newEnv(t)
	size, failures := smallestMemoryLimit(e, func(*container) {})
	for _, f := range failures {
		t.Log(f)
	}
	if size == 0 {
		t.Fatalf("`nebulon run` of true failed under every memory.limit up to 64 MiB")
	}
	t.Logf("smallest memory.limit for `nebulon run` of true: %d KiB (target 512 KiB)", size>>10)

	// Where the memory goes: memory.peak (Linux 5.19) of an unlimited container, once created
	// (the init waiting for start) and once true has run.
	c := e.newContainer("true")
	c.mustCreate()
	dir := c.cgroupDir()
	if !exists(filepath.Join(dir, "memory.peak")) {
		return
	}
	created := readCgroupFile(t, dir, "memory.peak")
	e.must("start", c.id)
	c.waitStatus("stopped", 30*time.Second)
	t.Logf("memory.peak without a limit: %s KiB when created, %s KiB after true ran",
		kib(created), kib(readCgroupFile(t, dir, "memory.peak")))
}

// smallestMemoryLimit tries 256 KiB, 512 KiB, ... 64 MiB and returns the first limit that
// works (0 if none) and a line for each that did not.
func smallestMemoryLimit(e *env, edit func(*container)) (int64, []string) {
	var failures []string
	for size := int64(256 << 10); size <= 64<<20; size *= 2 {
		c := e.newContainer("true")
		edit(c)
		c.set("linux.resources.memory.limit", size)
		r := c.run()
		if r.ok() {
			return size, failures
		}
		msg, _, _ := strings.Cut(strings.TrimSpace(r.stderr), "\n")
		failures = append(failures, strconv.FormatInt(size>>10, 10)+" KiB failed: exit status "+
			strconv.Itoa(r.code)+": "+msg)
	}
	return 0, failures
}

func kib(bytes string) string {
	n, err := strconv.ParseInt(bytes, 10, 64)
	if err != nil {
		return bytes
	}
	return strconv.FormatInt(n>>10, 10)
}

package cgroupv2

import (
	"strings"
	"testing"
	"time"
)

// A process that outgrows memory.max is killed by the cgroup's OOM killer with SIGKILL, and
// memory.events counts it (Documentation/admin-guide/cgroup-v2.rst, memory.events oom_kill).
// dd fills a 64 MiB buffer under a 16 MiB limit; the shell around it is small, so dd is the
// victim and the shell reports how it died.
func TestOOMKillAtMemoryMax(t *testing.T) {
	e := newEnv(t)
	// The shell stays: systemd removes a scope's cgroup, events and all, with its last process.
	c := e.newContainer("sh", "-c", `dd if=/dev/zero of=/dev/null bs=64M count=1; echo "dd exit status $?"; sleep 600`)
	c.set("linux.resources.memory.limit", 16<<20)
	c.mustCreate()
	dir := c.cgroupDir()
	c.e.must("start", c.id)
	if out := c.waitOutput("dd exit status", 30*time.Second); !strings.Contains(out, "dd exit status 137") {
		t.Errorf("dd was not killed by SIGKILL (128+9); container output:\n%s", out)
	}
	if ev := cgroupKeyed(t, dir, "memory.events"); ev["oom_kill"] < 1 {
		t.Errorf("memory.events: oom_kill %d, want >= 1 (%v)", ev["oom_kill"], ev)
	}
}

// At pids.max, fork fails with EAGAIN inside the container and pids.events counts it.
func TestForkRefusedAtPidsMax(t *testing.T) {
	e := newEnv(t)
	// A subshell forks until it dies of the failed fork; the shell then stays, without a fork
	// (exec), because systemd removes a scope's cgroup, events and all, with its last process.
	c := e.newContainer("sh", "-c", `(i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done; echo "forked $i"); echo "loop ended"; exec sleep 600`)
	c.set("linux.resources.pids.limit", 10)
	c.mustCreate()
	dir := c.cgroupDir()
	c.e.must("start", c.id)
	if out := c.waitOutput("loop ended", 30*time.Second); !strings.Contains(out, "Resource temporarily unavailable") {
		t.Errorf("no fork failed with EAGAIN under pids.max 10; container output:\n%s", out)
	}
	if ev := cgroupKeyed(t, dir, "pids.events"); ev["max"] < 1 {
		t.Errorf("pids.events: max %d, want >= 1", ev["max"])
	}
}

// A busy loop under a 10% quota is throttled: cpu.stat nr_throttled grows.
func TestCPUQuotaThrottlesBusyLoop(t *testing.T) {
	e := newEnv(t)
	c := e.newContainer("sh", "-c", "while :; do :; done")
	c.set("linux.resources.cpu.quota", 10000)
	c.set("linux.resources.cpu.period", 100000)
	c.mustStart()
	dir := c.cgroupDir()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := cgroupKeyed(t, dir, "cpu.stat")
		if st["nr_throttled"] > 0 {
			t.Logf("cpu.stat after the busy loop: nr_periods %d, nr_throttled %d, throttled_usec %d",
				st["nr_periods"], st["nr_throttled"], st["throttled_usec"])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpu.stat: nr_throttled 0 after 15s of a busy loop under cpu.max %q (%v)",
				readCgroupFile(t, dir, "cpu.max"), st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.must("delete", "--force", c.id)
	c.assertGone(dir)
}

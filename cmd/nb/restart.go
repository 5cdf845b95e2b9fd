package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nebulon-dev/nebulon/internal/foreground"
	"github.com/nebulon-dev/nebulon/internal/store"
)

// restartPolicy is --restart, as docker's: the monitor of a detached container (nb run -d)
// restarts it when it exits, unless nb stop stopped it. nb has no daemon, so nothing restarts
// containers after a reboot or a killed monitor: unless-stopped, which differs from always only
// in what docker's daemon does when it starts, is always here.
type restartPolicy struct {
	name string // no, on-failure, always, unless-stopped
	max  int    // on-failure's N; 0 is no limit
}

// parseRestart reads no | on-failure[:N] | always | unless-stopped.
func parseRestart(s string) (restartPolicy, error) {
	name, n, hasN := strings.Cut(s, ":")
	switch name {
	case "no", "always", "unless-stopped":
		if !hasN {
			return restartPolicy{name: name}, nil
		}
		return restartPolicy{}, fmt.Errorf("--restart %q: only on-failure takes a count", s)
	case "on-failure":
		p := restartPolicy{name: name}
		if hasN {
			max, err := strconv.Atoi(n)
			if err != nil || max < 0 {
				return restartPolicy{}, fmt.Errorf("--restart %q: the count must be a whole number", s)
			}
			p.max = max
		}
		return p, nil
	}
	return restartPolicy{}, fmt.Errorf("--restart %q: want no, on-failure[:N], always or unless-stopped", s)
}

// restarts reports whether a container that exited with code, after count restarts, is
// restarted.
func (p restartPolicy) restarts(code, count int) bool {
	switch p.name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return code != 0 && (p.max == 0 || count < p.max)
	}
	return false
}

// Docker's backoff between restarts: 100 ms, doubled at each restart up to a minute, and back
// to 100 ms after a run of 10 seconds or more.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = time.Minute
	goodRun      = 10 * time.Second
)

// supervise waits for the detached container's process, restarts it as its policy says, and
// records its last exit, releasing its network; its network namespace and address stay across
// restarts. nb stop ends it for good: it sets ManuallyStopped before it signals, and the backoff
// watches for it.
func supervise(s *store.Store, id string, pid int, drained chan struct{}) error {
	policy := containerRestartPolicy(s, id)
	backoff := firstBackoff
	for {
		started := time.Now()
		code := foreground.Wait(pid)
		// A terminal's last output may still be in the pty: the log gets it before the exit is
		// recorded, which is when nb logs -f stops. A leftover holder of the pty (none with a
		// pid namespace) cannot keep the exit from being recorded.
		select {
		case <-drained:
		case <-time.After(2 * time.Second):
		}
		if time.Since(started) >= goodRun {
			backoff = firstBackoff
		}
		restart := false
		err := setStatus(s, id, func(c *store.Container) {
			restart = !c.ManuallyStopped && policy.restarts(code, c.RestartCount)
			if restart {
				c.Status, c.ExitCode, c.Finished, c.Pid = store.Exited, code, time.Now().UTC(), 0
				c.RestartCount++
			}
		})
		if err != nil || !restart {
			return finish(s, id, code)
		}
		if err := deleteRuntime(s, id); err != nil {
			slog.Warn("restart: remove the exited container", "id", id, "err", err)
			return finish(s, id, code)
		}
		if !sleepUnlessStopped(s, id, backoff) {
			return finish(s, id, code)
		}
		backoff = min(2*backoff, maxBackoff)
		if pid, drained, err = startOnce(s, id); err != nil {
			slog.Warn("restart failed", "id", id, "err", err)
			deleteRuntime(s, id)
			return finish(s, id, code)
		}
	}
}

// sleepUnlessStopped waits d, or less if nb stop marks container id stopped; it reports
// whether the container is still to be restarted.
func sleepUnlessStopped(s *store.Store, id string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		c, err := s.LoadContainer(id)
		if err != nil || c.ManuallyStopped {
			return false
		}
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		time.Sleep(min(left, 50*time.Millisecond))
	}
}

// containerRestartPolicy is container id's --restart; no when it cannot be read.
func containerRestartPolicy(s *store.Store, id string) restartPolicy {
	c, err := s.LoadContainer(id)
	if err != nil {
		return restartPolicy{name: "no"}
	}
	var cfg createConfig
	json.Unmarshal(c.Config, &cfg)
	p, err := parseRestart(cfg.Restart)
	if err != nil {
		return restartPolicy{name: "no"}
	}
	return p
}

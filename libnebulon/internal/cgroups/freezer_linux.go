package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/proc"
)

// freezeTimeout bounds how long Freeze waits for every task to stop. A task in an uninterruptible
// sleep (a hung NFS read, say) can keep a v1 freezer in FREEZING for ever.
const freezeTimeout = 5 * time.Second

// Freeze stops every process of the v1 freezer cgroup (freezer.state FROZEN), or thaws them.
// The kernel freezes asynchronously: the write returns at FREEZING, so the state is polled. A
// freeze that does not complete is undone, leaving the container running, and is an error.
func (m *v1Manager) Freeze(freeze bool) error {
	dir, err := m.dirOf("freezer")
	if err != nil {
		return err
	}
	want := "THAWED"
	if freeze {
		want = "FROZEN"
	}
	path := filepath.Join(dir, "freezer.state")
	deadline := time.Now().Add(freezeTimeout)
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		// Written again on each round: a task forked while freezing can leave the cgroup FREEZING
		// until the next write.
		if err := os.WriteFile(path, []byte(want), 0); err != nil {
			return fmt.Errorf("write %s to %s: %w", want, path, err)
		}
		state, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(state)) == want {
			return nil
		}
		if time.Now().After(deadline) {
			if freeze {
				os.WriteFile(path, []byte("THAWED"), 0)
			}
			return fmt.Errorf("%s stayed %s for %v: a task would not stop", path, strings.TrimSpace(string(state)), freezeTimeout)
		}
		time.Sleep(delay)
	}
}

func (m *v1Manager) Frozen() (bool, error) {
	dir, err := m.dirOf("freezer")
	if err != nil {
		return false, nil // no freezer: nothing can be frozen
	}
	state, err := proc.ReadFile(filepath.Join(dir, "freezer.state"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// FREEZING counts: a freeze is under way or stuck, and the container's tasks do not run.
	return !bytes.HasPrefix(state, []byte("THAWED")), nil
}

// Freeze writes cgroup.freeze and waits until cgroup.events says the cgroup reached that state
// (cgroup-v2.rst, "Core Interface Files").
func (m *v2Manager) Freeze(freeze bool) error {
	val := "0"
	if freeze {
		val = "1"
	}
	path := filepath.Join(m.path, "cgroup.freeze")
	if err := os.WriteFile(path, []byte(val), 0); err != nil {
		return fmt.Errorf("write %s to %s: %w", val, path, err)
	}
	deadline := time.Now().Add(freezeTimeout)
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 10*time.Millisecond) {
		frozen, err := eventsFrozen(m.path)
		if err != nil {
			return err
		}
		if frozen == freeze {
			return nil
		}
		if time.Now().After(deadline) {
			if freeze {
				os.WriteFile(path, []byte("0"), 0)
			}
			return fmt.Errorf("%s did not reach frozen %s in %v", m.path, val, freezeTimeout)
		}
		time.Sleep(delay)
	}
}

func (m *v2Manager) Frozen() (bool, error) {
	data, err := proc.ReadFile(filepath.Join(m.path, "cgroup.freeze"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(string(data)) == "1", nil
}

func eventsFrozen(dir string) (bool, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "frozen "); ok {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("%s/cgroup.events has no frozen key", dir)
}

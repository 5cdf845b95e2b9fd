package cgroupv2

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// On cgroup v2 the device rules of linux.resources.devices are an eBPF program attached to the
// container's cgroup (BPF_CGROUP_DEVICE); the kernel asks it on open and mknod, before the
// driver (devcgroup_check_permission). The spec's rules deny everything, then the runtime's
// default devices (runtime-spec config-linux.md#default-devices) are allowed after them.
//
// /dev/ram0 is the RAM disk init.sh loads (brd): root may read it wherever the filter lets it,
// so "Operation not permitted" can only come from the filter.
func TestDeviceFilter(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	data, err := os.ReadFile("/sys/block/ram0/dev")
	if err != nil {
		t.Skip("no /dev/ram0 (brd) in this guest")
	}
	var major, minor int64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor); err != nil {
		t.Fatal(err)
	}
	ram0 := map[string]any{"path": "/dev/ram0", "type": "b", "major": major, "minor": minor, "fileMode": 0o660, "uid": 0, "gid": 0}

	// deviceContainer runs script with /dev/ram0 in linux.devices and the spec's device rules
	// followed by extra rules.
	deviceContainer := func(t *testing.T, script string, extra ...map[string]any) result {
		e := newEnv(t)
		c := e.newContainer("sh", "-c", script)
		c.set("linux.devices", []any{ram0})
		rules, _ := c.specDevices.([]any)
		for _, r := range extra {
			rules = append(rules, r)
		}
		c.set("linux.resources.devices", rules)
		return c.run()
	}

	t.Run("default device allowed", func(t *testing.T) {
		r := deviceContainer(t, `echo hello >/dev/null && head -c 1 /dev/zero >/dev/null && echo "default devices work"`)
		if !r.ok() || !strings.Contains(r.stderr, "default devices work") {
			t.Errorf("/dev/null and /dev/zero should work under the default rules:\n%s", r)
		}
	})
	t.Run("device without a rule denied", func(t *testing.T) {
		r := deviceContainer(t, `head -c 1 /dev/ram0 >/dev/null`)
		if r.ok() || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("reading /dev/ram0 with no rule allowing b %d:%d should fail with EPERM:\n%s", major, minor, r)
		}
	})
	t.Run("device with a read rule", func(t *testing.T) {
		allowRead := map[string]any{"allow": true, "type": "b", "major": major, "minor": minor, "access": "r"}
		r := deviceContainer(t, `head -c 1 /dev/ram0 >/dev/null && echo "read ok"; echo x >/dev/ram0`, allowRead)
		if !strings.Contains(r.stderr, "read ok") {
			t.Errorf("reading /dev/ram0 under an allow rule for r failed:\n%s", r)
		}
		if r.ok() || !strings.Contains(r.stderr, "Operation not permitted") {
			t.Errorf("writing /dev/ram0 under an allow rule for r only should fail with EPERM:\n%s", r)
		}
	})
}

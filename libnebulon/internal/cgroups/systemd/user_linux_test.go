package systemd

import "testing"

func TestCheckUserRoot(t *testing.T) {
	if err := checkUserRoot("/user.slice/user-1000.slice/user@1000.service"); err != nil {
		t.Errorf("user@1000.service's cgroup: %v", err)
	}
	for _, bad := range []string{"", "/", "user.slice/user-1000.slice/user@1000.service", "//"} {
		if err := checkUserRoot(bad); err == nil {
			t.Errorf("ControlGroup %q was taken", bad)
		}
	}
}

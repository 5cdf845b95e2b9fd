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

func TestMapUID(t *testing.T) {
	const podman = "         0       1000          1\n         1     100000      65536\n"
	for _, tc := range []struct {
		uidMap    string
		uid, want int
	}{
		{podman, 0, 1000},                // rootless podman's root: the user
		{podman, 1, 100000},              // a subordinate id, second line
		{podman, 65536, 165535},          // the range's last id
		{podman, 65537, 65537},           // unmapped: itself
		{"0 0 4294967295\n", 1000, 1000}, // the initial namespace
		{"0 100000 65536\n", 0, 100000},  // LXD's root
		{"", 0, 0},                       // no map
		{"garbage\n5 500 10\n", 7, 502},  // a line it cannot read is skipped
	} {
		if got := mapUID(tc.uidMap, tc.uid); got != tc.want {
			t.Errorf("mapUID(%q, %d) = %d, want %d", tc.uidMap, tc.uid, got, tc.want)
		}
	}
}

package main

import (
	"errors"
	"testing"
)

func TestDecideSystemdUser(t *testing.T) {
	yes, no := true, false
	noBus := func() (int, error) {
		return 0, errors.New("neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set")
	}
	owner := func(uid int) func() (int, error) { return func() (int, error) { return uid, nil } }
	for _, tc := range []struct {
		name     string
		flag     *bool
		euid     int
		inUserNS bool
		bus      func() (int, error)
		want     bool
	}{
		{"a user", nil, 1000, false, noBus, true},
		{"a user in a namespace", nil, 1000, true, noBus, true},
		{"the host's root", nil, 0, false, owner(1000), false},
		{"root of LXD/kind/sysbox: no user bus", nil, 0, true, noBus, false},
		{"root of a namespace whose user bus is root's", nil, 0, true, owner(0), false},
		{"rootless podman's runtime", nil, 0, true, owner(1000), true},
		{"--rootless=true", &yes, 0, false, noBus, true},
		{"--rootless=false for a user", &no, 1000, true, owner(1000), false},
	} {
		asked := false
		bus := func() (int, error) { asked = true; return tc.bus() }
		if got := decideSystemdUser(tc.flag, tc.euid, tc.inUserNS, bus); got != tc.want {
			t.Errorf("%s: the user's systemd = %v, want %v", tc.name, got, tc.want)
		}
		if asked != (tc.flag == nil && tc.euid == 0 && tc.inUserNS) {
			t.Errorf("%s: the user's bus asked = %v", tc.name, asked)
		}
	}
}

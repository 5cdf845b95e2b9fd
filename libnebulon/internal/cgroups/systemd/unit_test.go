package systemd

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	godbus "github.com/godbus/dbus/v5"
)

func TestParsePathIsRuncs(t *testing.T) {
	for _, tc := range []struct {
		path     string
		rootless bool
		want     Unit
		dir      string
	}{
		{"system.slice:docker:abc", false, Unit{Slice: "system.slice", Name: "docker-abc.scope"}, "/system.slice/docker-abc.scope"},
		{"kubepods-besteffort-pod12.slice:cri-containerd:c1", false,
			Unit{Slice: "kubepods-besteffort-pod12.slice", Name: "cri-containerd-c1.scope"},
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/cri-containerd-c1.scope"},
		{"", false, Unit{Slice: "system.slice", Name: "nebulon-ID.scope"}, "/system.slice/nebulon-ID.scope"},
		{"", true, Unit{Slice: "user.slice", Name: "nebulon-ID.scope"}, "/user.slice/nebulon-ID.scope"},
		{":libpod:c2", false, Unit{Slice: "system.slice", Name: "libpod-c2.scope"}, "/system.slice/libpod-c2.scope"},
		{"machine.slice::c3", false, Unit{Slice: "machine.slice", Name: "-c3.scope"}, "/machine.slice/-c3.scope"},
		{"system.slice:x:my-pod.slice", false, Unit{Slice: "system.slice", Name: "my-pod.slice"}, "/my.slice/my-pod.slice"},
		{"-.slice:p:n", false, Unit{Slice: "-.slice", Name: "p-n.scope"}, "/p-n.scope"},
	} {
		got, err := ParsePath(tc.path, "ID", tc.rootless)
		if err != nil || got != tc.want {
			t.Errorf("ParsePath(%q) = %+v, %v; want %+v", tc.path, got, err, tc.want)
			continue
		}
		if dir, err := got.CgroupDir(); err != nil || dir != tc.dir {
			t.Errorf("%q: CgroupDir = %q, %v; want %q", tc.path, dir, err, tc.dir)
		}
	}
	// A user's systemd has its slices below its own cgroup.
	u := Unit{Slice: "user.slice", Name: "nebulon-ID.scope", Root: "/user.slice/user-1000.slice/user@1000.service"}
	if dir, err := u.CgroupDir(); err != nil || dir != "/user.slice/user-1000.slice/user@1000.service/user.slice/nebulon-ID.scope" {
		t.Errorf("the user's unit: CgroupDir = %q, %v", dir, err)
	}
}

func TestParsePathRefusesWhatSystemdWould(t *testing.T) {
	for path, want := range map[string]string{
		"/mygroup":                     `"slice:prefix:name"`,
		"a:b":                          `"slice:prefix:name"`,
		"a:b:c:d":                      `"slice:prefix:name"`,
		"system:docker:abc":            "invalid slice name",
		"a--b.slice:p:n":               "empty part between dashes",
		"-a.slice:p:n":                 "empty part between dashes",
		"system.slice:p:":              "must be non-empty",
		"system.slice:p:a/b":           "hold no /",
		"system.slice:p:bad--x.slice":  "empty part between dashes",
		"sys/tem.slice:p:n":            "hold no /",
		".slice:p:n":                   "invalid slice name",
		"system.slice:docker:c/../../": "hold no /",
		"system.slice:p:bad name":      "systemd refuses",
		"system.slice:p:é":             "systemd refuses",
		"system.slice:p:" + strings.Repeat("x", 250): "longer than systemd's 255 bytes",
	} {
		_, err := ParsePath(path, "ID", false)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
			t.Errorf("ParsePath(%q) = %v; want an error naming it with %q", path, err, want)
		}
	}
}

func TestExpandSlice(t *testing.T) {
	for in, want := range map[string]string{
		"-.slice":         "/",
		"system.slice":    "/system.slice",
		"test-a-b.slice":  "/test.slice/test-a.slice/test-a-b.slice",
		"user-1000.slice": "/user.slice/user-1000.slice",
	} {
		if got, err := ExpandSlice(in); err != nil || got != want {
			t.Errorf("ExpandSlice(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".slice", "system", "a-.slice", "a/b.slice", "--.slice"} {
		if got, err := ExpandSlice(in); err == nil {
			t.Errorf("ExpandSlice(%q) = %q; want an error", in, got)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{`"252.22-1~deb12u1"`: 252, `"v256"`: 256, `"245"`: 245, "257.4": 257} {
		if got, err := parseVersion(in); err != nil || got != want {
			t.Errorf("parseVersion(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseVersion(`"unknown"`); err == nil {
		t.Error("parseVersion of no number: no error")
	}
}

func TestErrorName(t *testing.T) {
	name := "org.freedesktop.systemd1.NoSuchUnit"
	for _, err := range []error{
		godbus.Error{Name: name}, &godbus.Error{Name: name}, fmt.Errorf("wrapped: %w", godbus.Error{Name: name}),
	} {
		if got := errorName(err); got != name {
			t.Errorf("errorName(%#v) = %q, want %q", err, got, name)
		}
	}
	if got := errorName(errors.New("plain")); got != "" {
		t.Errorf("errorName(plain) = %q", got)
	}
}

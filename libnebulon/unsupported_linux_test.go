package libnebulon

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestCheckIDMappedNamesTheField(t *testing.T) {
	maps := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	for _, tc := range []struct {
		name   string
		m      specs.Mount
		userns bool
		want   string // "" for no error
	}{
		{"plain bind", specs.Mount{Destination: "/d", Options: []string{"bind"}}, false, ""},
		{"maps on a bind", specs.Mount{Destination: "/d", Options: []string{"bind", "idmap"}, UIDMappings: maps, GIDMappings: maps}, false, ""},
		{"idmap in a user namespace", specs.Mount{Destination: "/d", Options: []string{"rbind", "ridmap"}}, true, ""},
		{"uid maps alone", specs.Mount{Destination: "/d", Options: []string{"bind"}, UIDMappings: maps}, false, "mounts[0].gidMappings"},
		{"gid maps alone", specs.Mount{Destination: "/d", Options: []string{"bind"}, GIDMappings: maps}, true, "mounts[0].uidMappings"},
		{"not a bind", specs.Mount{Destination: "/d", Type: "tmpfs", Options: []string{"idmap"}}, true, "mounts[0].options"},
		{"idmap with nothing to map with", specs.Mount{Destination: "/d", Options: []string{"bind", "idmap"}}, false, "user namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkIDMapped(0, tc.m, tc.userns)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("checkIDMapped = %v, want %q", err, tc.want)
			}
		})
	}
}

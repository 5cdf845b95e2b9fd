package specconv

import (
	"slices"
	"testing"
)

func TestNormalizeCapability(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"NET_ADMIN", "CAP_NET_ADMIN", true},
		{"net_admin", "CAP_NET_ADMIN", true},
		{"CAP_NET_ADMIN", "CAP_NET_ADMIN", true},
		{"cap_sys_ptrace", "CAP_SYS_PTRACE", true},
		{"all", "ALL", true},
		{"ALL", "ALL", true},
		{"CAP_ALL", "CAP_ALL", false},
		{"FLY", "CAP_FLY", false},
		{"", "CAP_", false},
	} {
		got, ok := NormalizeCapability(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeCapability(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAllCapabilitiesIsSortedAndHoldsDockers(t *testing.T) {
	all := AllCapabilities()
	if !slices.IsSorted(all) || len(all) < 41 {
		t.Fatalf("AllCapabilities() = %q: want every capability, sorted", all)
	}
	for _, c := range DockerCapabilities {
		if !slices.Contains(all, c) {
			t.Errorf("docker's %s is not a known capability", c)
		}
	}
	if !slices.IsSorted(DockerCapabilities) {
		t.Errorf("DockerCapabilities is not sorted")
	}
}

func TestParseCapabilities(t *testing.T) {
	allBut := func(drop ...string) []string { return without(AllCapabilities(), drop) }
	for _, tc := range []struct {
		name      string
		add, drop []string
		want      []string
		err       string
	}{
		{name: "docker's defaults", want: DockerCapabilities},
		{name: "add one, any spelling", add: []string{"net_admin", "CAP_SYS_PTRACE"},
			want: slices.Sorted(slices.Values(append(slices.Clone(DockerCapabilities), "CAP_NET_ADMIN", "CAP_SYS_PTRACE")))},
		{name: "add one already there", add: []string{"CHOWN"}, want: DockerCapabilities},
		{name: "drop some", drop: []string{"NET_RAW", "cap_mknod", "SYS_ADMIN"},
			want: without(DockerCapabilities, []string{"CAP_NET_RAW", "CAP_MKNOD"})},
		{name: "drop ALL leaves the added", add: []string{"NET_BIND_SERVICE", "chown"}, drop: []string{"ALL"},
			want: []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}},
		{name: "drop ALL and one added keeps the added", add: []string{"KILL"}, drop: []string{"all", "KILL"},
			want: []string{"CAP_KILL"}},
		{name: "drop ALL alone leaves none", drop: []string{"ALL"}, want: nil},
		{name: "add ALL gives every one", add: []string{"ALL"}, want: AllCapabilities()},
		{name: "add ALL but drop some", add: []string{"all", "NET_ADMIN"}, drop: []string{"SYS_ADMIN", "sys_module"},
			want: allBut("CAP_SYS_ADMIN", "CAP_SYS_MODULE")},
		{name: "add ALL and drop ALL", add: []string{"ALL"}, drop: []string{"all"},
			err: "--cap-add ALL and --cap-drop ALL: give one or the other"},
		{name: "added and dropped", add: []string{"net_admin"}, drop: []string{"CAP_NET_ADMIN"},
			err: "--cap-add CAP_NET_ADMIN and --cap-drop CAP_NET_ADMIN: a capability is either added or dropped"},
		{name: "unknown added", add: []string{"FLY"}, err: `--cap-add "FLY": unknown capability`},
		{name: "unknown dropped", drop: []string{"CAP_ALL"}, err: `--cap-drop "CAP_ALL": unknown capability`},
	} {
		got, err := ParseCapabilities(tc.add, tc.drop)
		if errString(err) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("%s: ParseCapabilities(%q, %q) = %q, %q; want %q, %q", tc.name, tc.add, tc.drop, got, errString(err), tc.want, tc.err)
		}
	}
}

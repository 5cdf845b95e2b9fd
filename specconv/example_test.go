package specconv

// The golden files testdata/runc15-spec.json and testdata/runc15-spec-rootless.json are what
// runc v1.5.3 writes: the output of json.MarshalIndent of runc's Example(), and of Example() after
// ToRootless(), from runc's own libcontainer/specconv/example.go at the tag v1.5.3 (the same file
// as in v1.5.0 and v1.6.0-rc.1), run on a host whose /sys/fs/cgroup is not cgroup v2 and, for the
// rootless file, as uid 1000 and gid 1000 (a program of a few lines importing
// github.com/opencontainers/runc/libcontainer/specconv@v1.5.3, run under
// `setpriv --reuid 1000 --regid 1000 --clear-groups` for --rootless). Only "hostname" is
// changed, from runc's "runc" to nebulon's "nebulon".

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// golden reads a golden file as generic JSON. Its "ociVersion" is runc 1.5's, that of the
// runtime-spec v1.3.0 runc builds with, which nebulon builds with too.
func golden(t *testing.T, name string) map[string]any {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// asJSON is s as generic JSON, so that field order does not count and a nil slice and an
// omitted field compare alike, as they do in config.json.
func asJSON(t *testing.T, s *specs.Spec) map[string]any {
	t.Helper()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func wantSameJSON(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	t.Errorf("%s differs from runc 1.5's:\n%s\nwant:\n%s", what, g, w)
}

// withCgroupNamespace is v with a cgroup namespace after the others, where runc's Example
// appends it on a cgroup v2 host (ToRootless keeps the order and adds the user namespace last).
func withCgroupNamespace(v map[string]any) map[string]any {
	linux := v["linux"].(map[string]any)
	ns := linux["namespaces"].([]any)
	at := len(ns)
	if at > 0 && ns[at-1].(map[string]any)["type"] == "user" {
		at--
	}
	ns = append(ns[:at:at], append([]any{map[string]any{"type": "cgroup"}}, ns[at:]...)...)
	linux["namespaces"] = ns
	return v
}

func TestExampleIsRuncSpecButForTheHostname(t *testing.T) {
	wantSameJSON(t, "ExampleFor(false)", asJSON(t, ExampleFor(false)), golden(t, "runc15-spec.json"))
}

func TestExampleOnCgroupV2AddsACgroupNamespaceAsRuncDoes(t *testing.T) {
	want := withCgroupNamespace(golden(t, "runc15-spec.json"))
	wantSameJSON(t, "ExampleFor(true)", asJSON(t, ExampleFor(true)), want)
	wantSameJSON(t, "Example()", asJSON(t, Example()), want)
}

func TestRootlessExampleIsRuncSpecRootlessButForTheHostname(t *testing.T) {
	s := ExampleFor(false)
	ToRootless(s, 1000, 1000)
	wantSameJSON(t, "rootless ExampleFor(false)", asJSON(t, s), golden(t, "runc15-spec-rootless.json"))
}

func TestRootlessExampleOnCgroupV2KeepsTheCgroupNamespace(t *testing.T) {
	s := Example()
	ToRootless(s, 1000, 1000)
	want := withCgroupNamespace(golden(t, "runc15-spec-rootless.json"))
	wantSameJSON(t, "rootless Example()", asJSON(t, s), want)
}

// Each Example call returns its own slices: a caller editing one (ToRootless does) must not
// change the next.
func TestExampleReturnsFreshSlices(t *testing.T) {
	a := Example()
	a.Mounts[0].Destination = "/changed"
	a.Linux.MaskedPaths[0] = "/changed"
	a.Linux.Namespaces[0].Type = "changed"
	a.Process.Capabilities.Bounding[0] = "CAP_CHANGED"
	ToRootless(a, 1000, 1000)
	b := Example()
	if b.Mounts[0].Destination != "/proc" || b.Linux.MaskedPaths[0] != "/proc/acpi" || b.Linux.Namespaces[0].Type != "pid" ||
		b.Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" || b.Process.Capabilities.Effective[0] != "CAP_AUDIT_WRITE" {
		t.Errorf("a change to one Example leaked into the next: %v %v %v %v", b.Mounts[0], b.Linux.MaskedPaths[0], b.Linux.Namespaces[0], b.Process.Capabilities)
	}
	if b.Linux.Resources == nil || len(b.Mounts[2].Options) != 6 {
		t.Errorf("ToRootless of one Example changed the next: resources %v, devpts options %v", b.Linux.Resources, b.Mounts[2].Options)
	}
}

package specconv

import (
	"encoding/json"
	"os"
	"testing"
)

// `nebulon spec` writes Example: sharing its defaults with Spec must not change a byte of it.
func TestExampleIsUnchanged(t *testing.T) {
	want, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(Example(), "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if string(got)+"\n" != string(want) {
		t.Errorf("Example() changed:\n%s\nwant:\n%s", got, want)
	}
}

// Each Example call returns its own slices: a caller editing one (ToRootless does) must not
// change the next.
func TestExampleReturnsFreshSlices(t *testing.T) {
	a := Example()
	a.Mounts[0].Destination = "/changed"
	a.Linux.MaskedPaths[0] = "/changed"
	a.Linux.Namespaces[0].Type = "changed"
	b := Example()
	if b.Mounts[0].Destination != "/proc" || b.Linux.MaskedPaths[0] != "/proc/acpi" || b.Linux.Namespaces[0].Type != "pid" {
		t.Errorf("a change to one Example leaked into the next: %v %v %v", b.Mounts[0], b.Linux.MaskedPaths[0], b.Linux.Namespaces[0])
	}
}

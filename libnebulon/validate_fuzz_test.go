package libnebulon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/specconv"
)

// FuzzValidateConfig feeds config.json as LoadBundle reads it (json.Unmarshal, then Validate)
// arbitrary bytes: Validate must never panic, and a config it accepts must marshal again and
// come back as a config that it accepts too. The seeds are the configs `nebulon spec` writes and
// specconv's test configs; testdata/fuzz/FuzzValidateConfig holds more, with every crasher found.
func FuzzValidateConfig(f *testing.F) {
	for _, s := range []*specs.Spec{specconv.ExampleFor(true), specconv.ExampleFor(false)} {
		b, err := json.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	files, err := filepath.Glob("../specconv/testdata/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s specs.Spec
		if err := json.Unmarshal(data, &s); err != nil {
			return
		}
		if err := Validate(&s); err != nil {
			return
		}
		again, err := json.Marshal(&s)
		if err != nil {
			t.Fatalf("a config that validates does not marshal: %v", err)
		}
		var s2 specs.Spec
		if err := json.Unmarshal(again, &s2); err != nil {
			t.Fatalf("a config that validates marshals to JSON that does not unmarshal: %v\n%s", err, again)
		}
		if err := Validate(&s2); err != nil {
			t.Fatalf("a config that validates no longer does once marshalled again: %v\n%s", err, again)
		}
	})
}

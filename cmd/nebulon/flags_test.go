package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckRDT(t *testing.T) {
	full := t.TempDir()
	os.MkdirAll(filepath.Join(full, "info", "L3"), 0o755)
	os.MkdirAll(filepath.Join(full, "info", "MB"), 0o755)
	onlyL3 := t.TempDir()
	os.MkdirAll(filepath.Join(onlyL3, "info", "L3"), 0o755)
	const cat, mba = "Intel RDT/CAT: l3 cache schema is not enabled", "Intel RDT/MBA: memory bandwidth schema is not enabled"
	for _, tc := range []struct {
		l3, mb, resctrl, want string
	}{
		{"", "", "", ""},
		{"L3:0=f", "", "", cat},
		{"", "MB:0=50", "", mba},
		{"L3:0=f", "MB:0=50", "", cat},
		{"", "MB:0=50", onlyL3, mba},
		{"L3:0=f", "", full, ""},
		{"L3:0=f", "MB:0=50", full, ""},
		{"L3:0=f", "MB:0=50", onlyL3, mba},
	} {
		got := ""
		if err := checkRDT(tc.l3, tc.mb, tc.resctrl); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("checkRDT(%q, %q, %q) = %q, want %q", tc.l3, tc.mb, tc.resctrl, got, tc.want)
		}
	}
}

func TestParseBoolOrAuto(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		in   string
		want *bool
		err  bool
	}{
		{"", nil, false}, {"auto", nil, false}, {"AUTO", nil, false},
		{"true", &yes, false}, {"1", &yes, false}, {"false", &no, false},
		{"maybe", nil, true},
	} {
		got, err := parseBoolOrAuto(tc.in)
		if (err != nil) != tc.err || (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
			t.Errorf("parseBoolOrAuto(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestCheckParentPath(t *testing.T) {
	image := t.TempDir()
	os.Mkdir(filepath.Join(image, "..", filepath.Base(image)+"-pre"), 0o700)
	defer os.Remove(filepath.Join(image, "..", filepath.Base(image)+"-pre"))
	os.WriteFile(filepath.Join(image, "file"), nil, 0o600)
	if err := checkParentPath(image, "../"+filepath.Base(image)+"-pre"); err != nil {
		t.Errorf("a pre-dump beside the images: %v", err)
	}
	for _, bad := range []string{"/abs", "missing", "file"} {
		if err := checkParentPath(image, bad); err == nil {
			t.Errorf("--parent-path %s was taken", bad)
		}
	}
}

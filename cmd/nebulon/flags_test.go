package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"

	"github.com/nebulon-dev/nebulon/libnebulon"
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

// criuFlagsOf parses a command line of checkpoint (dump) or restore and returns its CriuOpts.
func criuFlagsOf(t *testing.T, cmd *cli.Command, dump bool, args ...string) (*libnebulon.CriuOpts, error) {
	t.Helper()
	var got *libnebulon.CriuOpts
	var gotErr error
	c := *cmd
	c.Action = func(ctx *cli.Context) error {
		got, gotErr = criuOptions(ctx, dump)
		return nil
	}
	app := &cli.App{Commands: []*cli.Command{&c}}
	if err := app.Run(append([]string{"nebulon", c.Name}, append(args, "ctr")...)); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return got, gotErr
}

func TestCheckpointFlagsToCriuOpts(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "pre"), 0o700)
	o, err := criuFlagsOf(t, checkpointCommand, true,
		"--image-path", filepath.Join(dir, "img"), "--work-path", "/w", "--parent-path", "../pre",
		"--leave-running", "--tcp-established", "--tcp-skip-in-flight", "--link-remap", "--ext-unix-sk",
		"--shell-job", "--file-locks", "--pre-dump", "--manage-cgroups-mode", "full", "--empty-ns", "network",
		"--auto-dedup", "--lazy-pages", "--status-fd", "5", "--page-server", "127.0.0.1:27")
	if err != nil {
		t.Fatal(err)
	}
	want := libnebulon.CriuOpts{
		ImagesDirectory: filepath.Join(dir, "img"), WorkDirectory: "/w", ParentImage: "../pre",
		LeaveRunning: true, TCPEstablished: true, TCPSkipInFlight: true, LinkRemap: true, ExtUnixSk: true,
		ShellJob: true, FileLocks: true, PreDump: true, AutoDedup: true, LazyPages: true, StatusFd: 5,
		PageServer: "127.0.0.1:27", ManageCgroupsMode: "full", EmptyNs: []specs.LinuxNamespaceType{"network"},
	}
	if !reflect.DeepEqual(*o, want) {
		t.Errorf("checkpoint flags:\n got %+v\nwant %+v", *o, want)
	}
	// Restore has no dump-only flags; without --image-path it is ./checkpoint, as in runc.
	o, err = criuFlagsOf(t, restoreCommand, false, "--tcp-established", "--lazy-pages",
		"--lsm-profile", "apparmor:p", "--lsm-mount-context", "system_u:object_r:container_file_t:s0")
	if err != nil {
		t.Fatal(err)
	}
	cwd, _ := os.Getwd()
	if o.ImagesDirectory != filepath.Join(cwd, "checkpoint") || !o.TCPEstablished || !o.LazyPages || o.StatusFd != -1 || o.LeaveRunning ||
		o.LsmProfile != "apparmor:p" || o.LsmMountContext != "system_u:object_r:container_file_t:s0" {
		t.Errorf("restore flags: %+v", *o)
	}
	if _, err := criuFlagsOf(t, checkpointCommand, true, "--image-path", dir, "--parent-path", "/abs"); err == nil {
		t.Error("an absolute --parent-path was taken")
	}
}

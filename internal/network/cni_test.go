package network

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A plugin that hangs is killed after pluginTimeout, and the error says the plugins ran out of
// time rather than only "signal: killed". The plugin is a stand-in that never answers: a real
// one hangs only on a lock held elsewhere, which a test cannot arrange without root.
func TestAttachPluginHangs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bridge"), []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	oldDirs, oldTimeout := PluginDirs, pluginTimeout
	PluginDirs, pluginTimeout = []string{dir}, 300*time.Millisecond
	defer func() { PluginDirs, pluginTimeout = oldDirs, oldTimeout }()

	n := Network{Name: "t", Bridge: "nb-test", Subnet: "10.99.0.0/24", Gateway: "10.99.0.1"}
	start := time.Now()
	_, err := Open(t.TempDir()).Attach(&n, "c1", "", nil)
	if err == nil || !strings.Contains(err.Error(), "attach to network t: the CNI plugins did not finish in 300ms") {
		t.Fatalf("Attach with a hanging plugin: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Attach returned after %s, not after its 300ms bound", d)
	}
}

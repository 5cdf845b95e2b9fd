package mountopt

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParse parses a mount's options (the fuzzer's string split at commas, as mount(8) writes
// them): Parse must never panic, and what it returns must hold together: a bind mount is what
// IsBind says, has no filesystem data and keeps MS_BIND and MS_REC out of Flags (Bind and
// Recursive say it), and no option Parse knows is passed on to mount(2) as data.
// testdata/fuzz/FuzzParse holds the seeds and every crasher found.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"rbind,ro,nosuid,rprivate",
		"bind,noexce",
		"bind,mode=755,rro,rnosymfollow",
		"nosuid,nodev,mode=1777,size=65536k,tmpcopyup",
		"newinstance,ptmxmode=0666,mode=0620,gid=5",
		"ridmap,bind,idmap,notmpcopyup",
		"defaults,remount,strictatime,norelatime,rnoatime,ratime",
		",,bind,",
	} {
		f.Add(seed)
	}
	known := Names()
	f.Fuzz(func(t *testing.T, s string) {
		opts := strings.Split(s, ",")
		m, err := Parse(opts)
		if err != nil {
			if !IsBind(opts) {
				t.Fatalf("Parse(%q) failed for a mount that is not a bind mount: %v", opts, err)
			}
			return
		}
		if m.Bind != IsBind(opts) {
			t.Fatalf("Parse(%q).Bind = %v, IsBind = %v", opts, m.Bind, !m.Bind)
		}
		if m.Flags&(unix.MS_BIND|unix.MS_REC) != 0 {
			t.Fatalf("Parse(%q).Flags = %#x holds MS_BIND or MS_REC", opts, m.Flags)
		}
		if m.Flags&m.ClearFlags != 0 {
			t.Fatalf("Parse(%q) both sets and clears %#x", opts, m.Flags&m.ClearFlags)
		}
		if m.Recursive && !m.Bind {
			t.Fatalf("Parse(%q) is recursive but not a bind mount", opts)
		}
		if m.Bind && m.Data != "" {
			t.Fatalf("Parse(%q): a bind mount with data %q", opts, m.Data)
		}
		if m.Data == "" {
			return
		}
		for _, d := range strings.Split(m.Data, ",") {
			if slices.Contains(known, d) {
				t.Fatalf("Parse(%q): option %q, which Parse knows, passed on as data %q", opts, d, m.Data)
			}
		}
	})
}

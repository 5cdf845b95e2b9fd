package specconv

import (
	"path"
	"slices"
	"strings"
	"testing"
)

// One fuzz target per parser of what a person types to nb (--memory, --cpus, --pids-limit,
// --network, --uid/--gid, -v, --tmpfs, --user, --cap-add/--cap-drop): none may panic, an error
// names the flag, and what a parser accepts holds the parser's promise. testdata/fuzz holds the
// seeds of each and every crasher found.

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"64m", "1g", "1.5G", "512k", "6291456", "0", ".5g", "7.9999999999t", "8388608t", "1e9", "-1m", "1.", "kb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMemory(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--memory") {
				t.Fatalf("ParseMemory(%q): error %q does not name --memory", s, err)
			}
			return
		}
		if n < 0 || (n != 0 && n < MinMemory) {
			t.Fatalf("ParseMemory(%q) = %d, want 0 or at least %d", s, n, MinMemory)
		}
	})
}

func FuzzParseCPUs(f *testing.F) {
	for _, s := range []string{"0.5", "2", "0", "0.01", "0.009", ".25", "92233720368547.75807", "1/2", "-1", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, p, err := ParseCPUs(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--cpus") {
				t.Fatalf("ParseCPUs(%q): error %q does not name --cpus", s, err)
			}
			return
		}
		if !(q == 0 && p == 0) && !(q >= minCPUQuota && p == CPUPeriod) {
			t.Fatalf("ParseCPUs(%q) = %d, %d: want no limit (0, 0) or a quota of at least %d of %d", s, q, p, minCPUQuota, CPUPeriod)
		}
	})
}

func FuzzParsePidsLimit(f *testing.F) {
	for _, s := range []string{"-1", "0", "100", "-2", "+5", "9223372036854775808", "1k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParsePidsLimit(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--pids-limit") {
				t.Fatalf("ParsePidsLimit(%q): error %q does not name --pids-limit", s, err)
			}
			return
		}
		if n < -1 {
			t.Fatalf("ParsePidsLimit(%q) = %d, below -1", s, n)
		}
	})
}

func FuzzParseNetwork(f *testing.F) {
	for _, s := range []string{"none", "host", "bridge", "", "HOST"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNetwork(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--network") {
				t.Fatalf("ParseNetwork(%q): error %q does not name --network", s, err)
			}
			return
		}
		if string(n) != s {
			t.Fatalf("ParseNetwork(%q) = %q", s, n)
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"0", "1000", "2147483647", "2147483648", "4294967295", "-1", "+1", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseID("--uid", s)
		if err != nil {
			if !strings.Contains(err.Error(), "--uid") {
				t.Fatalf("ParseID(--uid, %q): error %q does not name --uid", s, err)
			}
			return
		}
		if n > maxID {
			t.Fatalf("ParseID(--uid, %q) = %d, above %d", s, n, maxID)
		}
	})
}

func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"data:/data", "/srv/www:/usr/share/html:ro", "/a/../b/:/c/./d/:rw", "vol:/", "vol:rel", "-x:/y", "/a:/b:z", "a:b:c:d", ":/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVolume(s)
		if err != nil {
			if !strings.Contains(err.Error(), "-v ") {
				t.Fatalf("ParseVolume(%q): error %q does not name -v", s, err)
			}
			return
		}
		if !path.IsAbs(v.Destination) || path.Clean(v.Destination) != v.Destination || v.Destination == "/" {
			t.Fatalf("ParseVolume(%q): destination %q is not a clean absolute path below /", s, v.Destination)
		}
		if v.Named {
			if !volumeName().MatchString(v.Source) {
				t.Fatalf("ParseVolume(%q): volume name %q", s, v.Source)
			}
		} else if !path.IsAbs(v.Source) || path.Clean(v.Source) != v.Source {
			t.Fatalf("ParseVolume(%q): host path %q is not clean and absolute", s, v.Source)
		}
	})
}

func FuzzParseTmpfs(f *testing.F) {
	for _, s := range []string{"/tmp", "/tmp:size=64m,mode=755", "/run:ro,noexec,nr_inodes=1k,uid=0,gid=0", "/x:size=50%", "tmp", "/:size=1", "/x:", "/x:mode=8", "/x:a=b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTmpfs(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--tmpfs") {
				t.Fatalf("ParseTmpfs(%q): error %q does not name --tmpfs", s, err)
			}
			return
		}
		if !path.IsAbs(tm.Destination) || path.Clean(tm.Destination) != tm.Destination || tm.Destination == "/" {
			t.Fatalf("ParseTmpfs(%q): destination %q is not a clean absolute path below /", s, tm.Destination)
		}
		opts, err := tmpfsOptions(tm.Options)
		if err != nil {
			t.Fatalf("ParseTmpfs(%q) accepted options %q that tmpfsOptions refuses: %v", s, tm.Options, err)
		}
		kinds := map[string]bool{}
		for _, o := range opts {
			if k := tmpfsOptionKind(o); kinds[k] {
				t.Fatalf("ParseTmpfs(%q): options %q give %s twice", s, opts, k)
			} else {
				kinds[k] = true
			}
		}
	})
}

func FuzzParseUser(f *testing.F) {
	for _, s := range []string{"1000", "1000:1000", "nobody", "www-data:adm", "0:0", "-rf", "a b", "2147483648", ":", "u:", "007:g"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUser(s)
		if err != nil {
			if !strings.Contains(err.Error(), "--user") {
				t.Fatalf("ParseUser(%q): error %q does not name --user", s, err)
			}
			return
		}
		if u.UID != nil && u.User != "" || u.GID != nil && u.Group != "" {
			t.Fatalf("ParseUser(%q) = %+v: both a name and a number", s, u)
		}
		again, err := ParseUser(u.String())
		if err != nil {
			t.Fatalf("ParseUser(%q) = %q, which does not parse again: %v", s, u, err)
		}
		if again.String() != u.String() {
			t.Fatalf("ParseUser(%q) = %q, which parses again as %q", s, u, again)
		}
	})
}

func FuzzParseCapabilities(f *testing.F) {
	for _, s := range [][2]string{{"NET_ADMIN", ""}, {"", "ALL"}, {"all", "chown,cap_kill"}, {"sys_admin", "SYS_ADMIN"}, {"nope", ""}, {"ALL", "all"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, add, drop string) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		caps, err := ParseCapabilities(split(add), split(drop))
		if err != nil {
			if !strings.Contains(err.Error(), "--cap-add") && !strings.Contains(err.Error(), "--cap-drop") {
				t.Fatalf("ParseCapabilities(%q, %q): error %q names neither --cap-add nor --cap-drop", add, drop, err)
			}
			return
		}
		if !slices.IsSorted(caps) {
			t.Fatalf("ParseCapabilities(%q, %q) = %q, not sorted", add, drop, caps)
		}
		for _, c := range caps {
			if _, ok := slices.BinarySearch(knownCapabilities(), c); !ok {
				t.Fatalf("ParseCapabilities(%q, %q) gives %q, which nb does not know", add, drop, c)
			}
			if n, ok := NormalizeCapability(c); !ok || n != c {
				t.Fatalf("NormalizeCapability(%q) = %q, %v", c, n, ok)
			}
		}
	})
}

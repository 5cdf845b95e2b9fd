package specconv

import (
	"slices"
	"testing"
)

// errString is err's message, or "" for no error: tables compare messages exactly.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseMemory(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "64m", want: 64 << 20},
		{in: "64M", want: 64 << 20},
		{in: "64mb", want: 64 << 20},
		{in: "64MiB", want: 64 << 20},
		{in: "1g", want: 1 << 30},
		{in: "1.5g", want: 3 << 29},
		{in: "6.5m", want: 6<<20 + 512<<10},
		{in: "8192k", want: 8 << 20},
		{in: "6291456", want: MinMemory},
		{in: "6291456b", want: MinMemory},
		{in: "1t", want: 1 << 40},
		{in: "5.", want: 0, err: `--memory "5.": below the minimum of 6m`},
		{in: "0", want: 0},
		{in: "0.0g", want: 0},
		{in: "8589934591g", want: 8589934591 << 30},
		{in: "512k", err: `--memory "512k": below the minimum of 6m`},
		{in: "1048576", err: `--memory "1048576": below the minimum of 6m`},
		{in: "6291455", err: `--memory "6291455": below the minimum of 6m`},
		{in: "8589934592g", err: `--memory "8589934592g": too large`},
		{in: "", err: `--memory "": want a number of bytes with an optional k, m, g or t suffix`},
		{in: "64x", err: `--memory "64x": want a number of bytes with an optional k, m, g or t suffix`},
		{in: "-1", err: `--memory "-1": want a number of bytes with an optional k, m, g or t suffix`},
		{in: "1e9", err: `--memory "1e9": want a number of bytes with an optional k, m, g or t suffix`},
		{in: "64 m", err: `--memory "64 m": want a number of bytes with an optional k, m, g or t suffix`},
		{in: "m", err: `--memory "m": want a number of bytes with an optional k, m, g or t suffix`},
		{in: "1.2.3m", err: `--memory "1.2.3m": want a number of bytes with an optional k, m, g or t suffix`},
		{in: "64ib", err: `--memory "64ib": want a number of bytes with an optional k, m, g or t suffix`},
	} {
		got, err := ParseMemory(tc.in)
		if errString(err) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("ParseMemory(%q) = %d, %q; want %d, %q", tc.in, got, errString(err), tc.want, tc.err)
		}
	}
}

func TestParseCPUs(t *testing.T) {
	for _, tc := range []struct {
		in     string
		quota  int64
		period uint64
		err    string
	}{
		{in: "0.5", quota: 50000, period: 100000},
		{in: ".5", quota: 50000, period: 100000},
		{in: "2", quota: 200000, period: 100000},
		{in: "1.25", quota: 125000, period: 100000},
		{in: "0.01", quota: 1000, period: 100000},
		{in: "0.123456", quota: 12345, period: 100000},
		{in: "0", quota: 0, period: 0},
		{in: "0.0", quota: 0, period: 0},
		{in: "0.009", err: `--cpus "0.009": below the minimum of 0.01 (the kernel's smallest quota is 1ms of each 100ms)`},
		{in: "0.00001", err: `--cpus "0.00001": below the minimum of 0.01 (the kernel's smallest quota is 1ms of each 100ms)`},
		{in: "100000000000000000", err: `--cpus "100000000000000000": too large`},
		{in: "-1", err: `--cpus "-1": want a number of CPUs such as 0.5 or 2`},
		{in: "1/2", err: `--cpus "1/2": want a number of CPUs such as 0.5 or 2`},
		{in: "1e3", err: `--cpus "1e3": want a number of CPUs such as 0.5 or 2`},
		{in: "half", err: `--cpus "half": want a number of CPUs such as 0.5 or 2`},
		{in: "", err: `--cpus "": want a number of CPUs such as 0.5 or 2`},
	} {
		q, p, err := ParseCPUs(tc.in)
		if errString(err) != tc.err || (err == nil && (q != tc.quota || p != tc.period)) {
			t.Errorf("ParseCPUs(%q) = %d, %d, %q; want %d, %d, %q", tc.in, q, p, errString(err), tc.quota, tc.period, tc.err)
		}
	}
}

func TestParsePidsLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "100", want: 100},
		{in: "0", want: 0},
		{in: "-1", want: -1},
		{in: "-2", err: `--pids-limit "-2": want a whole number of tasks (-1 or 0: no limit)`},
		{in: "1.5", err: `--pids-limit "1.5": want a whole number of tasks (-1 or 0: no limit)`},
		{in: "many", err: `--pids-limit "many": want a whole number of tasks (-1 or 0: no limit)`},
		{in: "", err: `--pids-limit "": want a whole number of tasks (-1 or 0: no limit)`},
	} {
		got, err := ParsePidsLimit(tc.in)
		if errString(err) != tc.err || got != tc.want {
			t.Errorf("ParsePidsLimit(%q) = %d, %q; want %d, %q", tc.in, got, errString(err), tc.want, tc.err)
		}
	}
}

func TestParseNetwork(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Network
		err  string
	}{
		{in: "none", want: NetworkNone},
		{in: "host", want: NetworkHost},
		{in: "bridge", want: NetworkBridge},
		{in: "my-net.1", want: "my-net.1"},
		{in: "container:web", want: "container:web"},
		{in: "container:", err: `--network "container:": want container:ID or container:NAME`},
		{in: "container:a/b", err: `--network "container:a/b": want container:ID or container:NAME`},
		{in: "-x", err: `--network "-x": want none, host, bridge, container:ID|NAME or a network's name`},
		{in: "", err: `--network "": want none, host, bridge, container:ID|NAME or a network's name`},
	} {
		got, err := ParseNetwork(tc.in)
		if errString(err) != tc.err || got != tc.want {
			t.Errorf("ParseNetwork(%q) = %q, %q; want %q, %q", tc.in, got, errString(err), tc.want, tc.err)
		}
	}
}

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		flag, in string
		want     uint32
		err      string
	}{
		{flag: "--uid", in: "0", want: 0},
		{flag: "--uid", in: "1000", want: 1000},
		{flag: "--gid", in: "2147483647", want: 2147483647},
		{flag: "--gid", in: "2147483648", err: `--gid "2147483648": want a number from 0 to 2147483647`},
		{flag: "--uid", in: "4294967295", err: `--uid "4294967295": want a number from 0 to 2147483647`},
		{flag: "--uid", in: "-1", err: `--uid "-1": want a number from 0 to 2147483647`},
		{flag: "--uid", in: "root", err: `--uid "root": want a number from 0 to 2147483647`},
		{flag: "--uid", in: "", err: `--uid "": want a number from 0 to 2147483647`},
	} {
		got, err := ParseID(tc.flag, tc.in)
		if errString(err) != tc.err || got != tc.want {
			t.Errorf("ParseID(%q, %q) = %d, %q; want %d, %q", tc.flag, tc.in, got, errString(err), tc.want, tc.err)
		}
	}
}

func TestParseVolume(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Volume
		err  string
	}{
		{in: "data:/data", want: Volume{Source: "data", Destination: "/data", Named: true}},
		{in: "data:/data:ro", want: Volume{Source: "data", Destination: "/data", ReadOnly: true, Named: true}},
		{in: "data:/data:rw", want: Volume{Source: "data", Destination: "/data", Named: true}},
		{in: "v.1_-a:/x", want: Volume{Source: "v.1_-a", Destination: "/x", Named: true}},
		{in: "9:/x", want: Volume{Source: "9", Destination: "/x", Named: true}},
		{in: "/srv/www:/usr/share/www:ro", want: Volume{Source: "/srv/www", Destination: "/usr/share/www", ReadOnly: true}},
		{in: "/srv//a/../www/:/x/y/", want: Volume{Source: "/srv/www", Destination: "/x/y"}},
		{in: "/:/host", want: Volume{Source: "/", Destination: "/host"}},
		{in: "/data", err: `-v "/data": want NAME:/path[:ro] or /host/dir:/path[:ro]`},
		{in: "a:/b:ro:x", err: `-v "a:/b:ro:x": want NAME:/path[:ro] or /host/dir:/path[:ro]`},
		{in: "data:/x:z", err: `-v "data:/x:z": unknown mode "z" (ro or rw)`},
		{in: "data:/x:ro,z", err: `-v "data:/x:ro,z": unknown mode "ro,z" (ro or rw)`},
		{in: "data:/x:", err: `-v "data:/x:": unknown mode "" (ro or rw)`},
		{in: "data:relative", err: `-v "data:relative": destination "relative" is not an absolute path`},
		{in: "data:", err: `-v "data:": destination "" is not an absolute path`},
		{in: "data:/", err: `-v "data:/": destination "/" is the container's root`},
		{in: "data:/x/..", err: `-v "data:/x/..": destination "/" is the container's root`},
		{in: "./dir:/x", err: `-v "./dir:/x": "./dir" is neither a volume name (letters, digits and _.-) nor an absolute host path`},
		{in: "-v:/x", err: `-v "-v:/x": "-v" is neither a volume name (letters, digits and _.-) nor an absolute host path`},
		{in: ":/x", err: `-v ":/x": "" is neither a volume name (letters, digits and _.-) nor an absolute host path`},
	} {
		got, err := ParseVolume(tc.in)
		if errString(err) != tc.err || got != tc.want {
			t.Errorf("ParseVolume(%q) = %+v, %q; want %+v, %q", tc.in, got, errString(err), tc.want, tc.err)
		}
	}
}

func TestParseTmpfs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Tmpfs
		err  string
	}{
		{in: "/tmp", want: Tmpfs{Destination: "/tmp"}},
		{in: "/run/", want: Tmpfs{Destination: "/run"}},
		{in: "/run:size=64m,mode=755", want: Tmpfs{Destination: "/run", Options: []string{"size=64m", "mode=755"}}},
		{in: "/x:ro,noexec,nr_inodes=1k,uid=1000,gid=1000,size=50%", want: Tmpfs{Destination: "/x", Options: []string{"ro", "noexec", "nr_inodes=1k", "uid=1000", "gid=1000", "size=50%"}}},
		{in: "tmp", err: `--tmpfs "tmp": "tmp" is not an absolute path`},
		{in: "/", err: `--tmpfs "/": "/" is the container's root`},
		{in: "/tmp:suid", err: `--tmpfs "/tmp:suid": unknown option "suid" (ro, rw, exec, noexec, size=, nr_inodes=, mode=, uid=, gid=)`},
		{in: "/tmp:", err: `--tmpfs "/tmp:": unknown option "" (ro, rw, exec, noexec, size=, nr_inodes=, mode=, uid=, gid=)`},
		{in: "/tmp:size=big", err: `--tmpfs "/tmp:size=big": option "size": bad value "big"`},
		{in: "/tmp:mode=999", err: `--tmpfs "/tmp:mode=999": option "mode": bad value "999"`},
		{in: "/tmp:uid=-1", err: `--tmpfs "/tmp:uid=-1": option "uid": bad value "-1"`},
	} {
		got, err := ParseTmpfs(tc.in)
		if errString(err) != tc.err || got.Destination != tc.want.Destination || !slices.Equal(got.Options, tc.want.Options) {
			t.Errorf("ParseTmpfs(%q) = %+v, %q; want %+v, %q", tc.in, got, errString(err), tc.want, tc.err)
		}
	}
}

// Options after the path win over the defaults and over earlier ones of their kind, in place.
func TestTmpfsOptionsLaterWins(t *testing.T) {
	for _, tc := range []struct {
		extra, want []string
	}{
		{extra: nil, want: []string{"nosuid", "nodev", "mode=1777"}},
		{extra: []string{"mode=755"}, want: []string{"nosuid", "nodev", "mode=755"}},
		{extra: []string{"size=64m", "mode=755", "ro", "noexec", "rw", "size=1g"}, want: []string{"nosuid", "nodev", "mode=755", "size=1g", "rw", "noexec"}},
		{extra: []string{"noexec", "exec"}, want: []string{"nosuid", "nodev", "mode=1777", "exec"}},
	} {
		got, err := tmpfsOptions(tc.extra)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("tmpfsOptions(%q) = %q, %v; want %q", tc.extra, got, err, tc.want)
		}
	}
}

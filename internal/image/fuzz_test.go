package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// FuzzParseReference: ParseName never panics, and what it accepts is a fixed point: the
// String form of a parsed name parses again to the same name, and is valid by the grammar.
func FuzzParseReference(f *testing.F) {
	for _, s := range []string{
		"alpine", "alpine:3.19", "library/alpine", "docker.io/library/alpine:3", "index.docker.io/foo/bar",
		"localhost:5000/team/app", "localhost/app:dev", "registry.example.com/a/b/c:1.0_rc", "team/my-app.v2__x",
		"", ":tag", "alpine:", "Alpine", "a//b", "-a", "a-", "a:b:c", "alpine@sha256:abc", "../etc", "a/../b",
		"docker.io/alpine", "docker.io/library/library/x", "library/library", "docker.io/docker.io/x",
		"localhost:5000", "a.b:1/c:d", strings.Repeat("a", 256), "a:" + strings.Repeat("t", 128),
	} {
		f.Add(s)
	}
	repoRE := regexp.MustCompile(`^[a-zA-Z0-9.:_/-]+$`)
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseName(s)
		if err != nil {
			if n != (Name{}) {
				t.Fatalf("ParseName(%q) failed (%v) but gave %#v", s, err, n)
			}
			return
		}
		if n.Repository == "" || n.Tag == "" || len(n.Repository) > maxRepositoryLen || !tagRE.MatchString(n.Tag) {
			t.Fatalf("ParseName(%q) = %#v: not a valid name", s, n)
		}
		if !repoRE.MatchString(n.Repository) || !utf8.ValidString(n.String()) || strings.Contains(n.String(), "@") {
			t.Fatalf("ParseName(%q) = %#v: repository outside the grammar", s, n)
		}
		again, err := ParseName(n.String())
		if err != nil || again != n {
			t.Fatalf("ParseName(%q) = %#v, but its String %q parses to %#v, %v", s, n, n.String(), again, err)
		}
		if byParts, err := nameFrom(n.Repository, n.Tag); err != nil || byParts != n {
			t.Fatalf("nameFrom(%q, %q) = %#v, %v; want %#v", n.Repository, n.Tag, byParts, err, n)
		}
	})
}

// fuzzLimit bounds what one fuzz input may unpack to, so a tar that claims a huge (sparse) file
// is skipped rather than written.
const fuzzLimit = 4 << 20

// FuzzExtractLayer unpacks fuzz input into a fresh root and checks that nothing was written
// outside it: no file, no directory, no hard link to a file outside, no write through a
// symlink. The input is a tar stream (plain or compressed) as it is, or, structured, a list
// of entries one per line ("TYPE NAME[|TARGET]"), with "--" lines between layers, which
// reaches the path logic faster than mutating tar headers does.
func FuzzExtractLayer(f *testing.F) {
	if os.Geteuid() != 0 {
		f.Skip("needs root: unpacking sets owners, setuid bits and device nodes")
	}
	for _, tc := range hostileTars("/tmp/nb-fuzz-outside", "escaped") {
		data := makeTar(f, append([]entry{reg("harmless", "ok")}, tc.entries...)...)
		f.Add(data, false, false)
		f.Add(gzipped(f, data), false, true)
	}
	f.Add(makeTar(f, dir("etc/"), reg("etc/passwd", "root:x:0:0::/:/bin/sh\n"), symlink("bin/sh", "busybox"),
		hardlink("etc/p2", "etc/passwd"), reg(".wh.gone", ""), dir("./")), false, true)
	for _, s := range []string{
		"d a\nf a/b\nl a/c|../../outside\nf a/c/x",
		"l up|..\nf up/escaped\nh x|up/outside/canary",
		"l link|/\nd link/tmp/escaped",
		"h x|../outside/canary\nh y|/etc/passwd",
		"d a\nf a/f\n--\nf a/.wh.f\nf .wh..wh..opq\nl a|../outside",
		"l a|../outside\n--\nf a/.wh.canary\nf a/.wh..wh..opq",
		"f x\nl x|../outside/canary\n--\nf x",
		"l d|../outside\nh d/canary|d/canary",
		"f ./././a\nf a//b\nf .\nd ..\nf \x00",
	} {
		f.Add([]byte(s), true, true)
		f.Add([]byte(s), true, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, structured, whiteouts bool) {
		defer watchdog(20 * time.Second)()
		var layers [][]byte
		if structured {
			for _, l := range strings.Split(string(data), "\n--\n") {
				tarball, ok := entriesTar(l)
				if !ok {
					t.Skip()
				}
				layers = append(layers, tarball)
			}
		} else {
			layers = [][]byte{data}
		}
		for _, l := range layers {
			if !smallTar(l) {
				t.Skip("too big to unpack in a fuzz run")
			}
		}
		top := t.TempDir()
		root, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
		for _, d := range []string{root, filepath.Join(outside, "dir")} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		canary := filepath.Join(outside, "canary")
		if err := os.WriteFile(canary, []byte("canary"), 0o644); err != nil {
			t.Fatal(err)
		}
		a, err := newApplier(root, whiteouts, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			r, err := decompress(bytes.NewReader(l))
			if err != nil {
				break
			}
			err = a.applyLayer(r)
			r.Close()
			if err != nil {
				break
			}
		}
		a.finish()
		a.close()
		checkNothingOutside(t, top, root, outside, canary)
	})
}

// checkNothingOutside checks that top holds only root and outside, that outside is as the test
// made it, and that no file in root is a hard link to the canary.
func checkNothingOutside(t *testing.T, top, root, outside, canary string) {
	t.Helper()
	names := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	if got := strings.Join(names(top), ","); got != "outside,root" {
		t.Fatalf("the root's parent holds %s, want outside,root", got)
	}
	if fi, err := os.Lstat(root); err != nil || !fi.IsDir() {
		t.Fatalf("the root is no longer a directory: %v, %v", fi, err)
	}
	if got := strings.Join(names(outside), ","); got != "canary,dir" {
		t.Fatalf("outside holds %s, want canary,dir", got)
	}
	if got := names(filepath.Join(outside, "dir")); len(got) != 0 {
		t.Fatalf("outside/dir holds %v", got)
	}
	var st unix.Stat_t
	if err := unix.Lstat(canary, &st); err != nil || st.Nlink != 1 || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Fatalf("the canary outside the root was linked to or replaced: %+v, %v", st, err)
	}
	if data, err := os.ReadFile(canary); err != nil || string(data) != "canary" {
		t.Fatalf("the canary outside the root was written: %q, %v", data, err)
	}
}

// entriesTar builds a tar from lines "TYPE NAME[|TARGET]": d dir, f file, l symlink, h hard
// link, c char device, p fifo.
func entriesTar(spec string) ([]byte, bool) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, line := range strings.Split(spec, "\n") {
		if len(line) < 3 || line[1] != ' ' {
			continue
		}
		name, target, _ := strings.Cut(line[2:], "|")
		h := tar.Header{Name: name, Linkname: target, Mode: 0o755, ModTime: testTime, Format: tar.FormatPAX}
		body := ""
		switch line[0] {
		case 'd':
			h.Typeflag = tar.TypeDir
		case 'f':
			h.Typeflag, body = tar.TypeReg, "x"
		case 'l':
			h.Typeflag = tar.TypeSymlink
		case 'h':
			h.Typeflag = tar.TypeLink
		case 'c':
			h.Typeflag, h.Devmajor, h.Devminor = tar.TypeChar, 1, 3
		case 'p':
			h.Typeflag = tar.TypeFifo
		default:
			continue
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(&h); err != nil {
			return nil, false
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, false
		}
	}
	if err := tw.Close(); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// watchdog crashes the fuzz worker, which makes the input a finding, when one input runs
// longer than d: Go's fuzzer has no per-input timeout, and a hang would otherwise only stall
// the run until -fuzztime ends. It returns the function that disarms it.
func watchdog(d time.Duration) func() {
	start := time.Now()
	timer := time.AfterFunc(d, func() {
		panic(fmt.Sprintf("one input has run for %v (limit %v): a hang", time.Since(start).Round(time.Millisecond), d))
	})
	return func() { timer.Stop() }
}

// smallTar says whether the (maybe compressed) tar l unpacks to at most fuzzLimit bytes.
func smallTar(l []byte) bool {
	r, err := decompress(bytes.NewReader(l))
	if err != nil {
		return true // refused before anything is written
	}
	defer r.Close()
	lr := &io.LimitedReader{R: r, N: fuzzLimit}
	tr := tar.NewReader(lr)
	var total int64
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) || (err != nil && hdr == nil) {
			// A stream cut by the limit reads as a short archive here, but unpacks on
			// past it: only a stream that ended before the limit is small.
			return lr.N > 0
		}
		if n > 1000 {
			return false
		}
		if total += hdr.Size; hdr.Size > fuzzLimit || total > fuzzLimit {
			return false
		}
	}
}

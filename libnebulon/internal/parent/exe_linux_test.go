package parent

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A binary no id of the container maps may write passes; one whose owner the container maps (who
// may chmod it), or that its group (mapped) or everyone may write, is refused, naming who.
func TestCheckExeUnwritable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chowns the file to ids of the test's choosing")
	}
	maps := &specs.Linux{
		UIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GIDMappings: []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}},
	}
	for _, tc := range []struct {
		name     string
		uid, gid int
		mode     os.FileMode
		want     string // "" for no error
	}{
		{"owner not mapped", 4242, 4242, 0o755, ""},
		{"owner mapped, no write bit", 100007, 4242, 0o555, "its owner, uid 100007"},
		{"group mapped, no write bit", 4242, 100003, 0o755, ""},
		{"owner mapped", 100007, 4242, 0o755, "its owner, uid 100007"},
		{"group mapped", 4242, 100003, 0o775, "its group, gid 100003"},
		{"everyone", 4242, 4242, 0o757, "every user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bin")
			if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(path, tc.uid, tc.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, unix.O_PATH, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = checkExeUnwritable(f, maps)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// The cost of the rootless protection (open the binary, fstat, getxattr), beside a plain exec
// of a small static program and beside runc's alternative for a runtime that cannot mount, a
// sealed memfd copy of the binary. Run with: go test -run - -bench . ./libnebulon/internal/parent
func BenchmarkRootlessExeCheck(b *testing.B) {
	l := &specs.Linux{UIDMappings: []specs.LinuxIDMapping{{HostID: 100000, Size: 65536}}}
	for b.Loop() {
		f, err := os.OpenFile("/proc/self/exe", unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		checkExeUnwritable(f, l) // the test binary may be writable: the cost is the same
		f.Close()
	}
}

// The fallback for a binary the container could write: a read-only mount of it made by a child
// cloned into a user and mount namespace of its own.
func BenchmarkRootlessReadonlyExe(b *testing.B) {
	for b.Loop() {
		f, err := rootlessReadonlyExe()
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func BenchmarkPlainExec(b *testing.B) {
	bin := "/bin/true"
	if _, err := os.Stat("/bin/busybox"); err == nil {
		bin = "/bin/busybox" // static, as nebulon is
	}
	for b.Loop() {
		pid, err := syscall.ForkExec(bin, []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			b.Fatal(err)
		}
		var ws syscall.WaitStatus
		syscall.Wait4(pid, &ws, 0, nil)
	}
}

func BenchmarkMemfdCopy(b *testing.B) {
	for b.Loop() {
		src, err := os.Open("/proc/self/exe")
		if err != nil {
			b.Fatal(err)
		}
		fd, err := unix.MemfdCreate("runtime", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
		if err != nil {
			b.Fatal(err)
		}
		dst := os.NewFile(uintptr(fd), "memfd")
		if _, err := io.Copy(dst, src); err != nil {
			b.Fatal(err)
		}
		unix.FcntlInt(dst.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
		src.Close()
		dst.Close()
	}
}

// The maps of a user namespace joined by path are read from a process in it: through the pid
// the path names, or, for a namespace file elsewhere (a bind mount of one), a process found in it.
func TestUserNamespaceMaps(t *testing.T) {
	want, err := readIDMap("/proc/self/uid_map")
	if err != nil || len(want) == 0 {
		t.Fatalf("own uid_map: %v %v", want, err)
	}
	link := filepath.Join(t.TempDir(), "userns")
	if err := os.Symlink("/proc/self/ns/user", link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/proc/self/ns/user", link} {
		uids, gids, _, err := userNamespaceMaps(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(uids) == 0 || len(gids) == 0 || uids[0] != want[0] {
			t.Fatalf("%s: uids %v gids %v, want uids %v", path, uids, gids, want)
		}
	}
	if _, _, _, err := userNamespaceMaps(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("a missing namespace file gave maps")
	}
}

package mountfd

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// An id-mapped copy shows a file's owner through the user namespace's maps: containerID is the
// id on the filesystem, hostID the id seen through the mount. The source keeps its owner.
func TestCloneIDMappedShowsMappedOwners(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: id-mapping a mount needs CAP_SYS_ADMIN")
	}
	if !CanIDMap() {
		t.Skip("this kernel cannot id-map a tmpfs")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(file, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	userns, err := NewUserns([]syscall.SysProcIDMap{{ContainerID: 1000, HostID: 2000, Size: 1}},
		[]syscall.SysProcIDMap{{ContainerID: 1000, HostID: 3000, Size: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer userns.Close()
	src, err := os.OpenFile(dir, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tree, err := CloneIDMapped(src, false, false, userns)
	if err != nil {
		t.Skipf("the filesystem of %s cannot be id-mapped: %v", dir, err)
	}
	defer unix.Close(tree)
	var st unix.Stat_t
	if err := unix.Fstatat(tree, "file", &st, 0); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 2000 || st.Gid != 3000 {
		t.Errorf("through the id-mapped tree: %d:%d, want 2000:3000", st.Uid, st.Gid)
	}
	if err := unix.Stat(file, &st); err != nil || st.Uid != 1000 || st.Gid != 1000 {
		t.Errorf("the source: %d:%d (%v), want 1000:1000", st.Uid, st.Gid, err)
	}
}

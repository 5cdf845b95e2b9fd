package devicefilter

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestRefusedProgramErrorCarriesTheVerifierLog(t *testing.T) {
	requireRoot(t)
	// Returns r0 without setting it, which the verifier refuses.
	var a assembler
	a.exit()
	insns, err := a.finish()
	if err != nil {
		t.Fatal(err)
	}
	fd, log, err := loadDeviceProgram(insns, progName)
	if err == nil {
		unix.Close(fd)
		t.Fatal("the kernel loaded a program that returns an unset r0")
	}
	var sysErr *os.SyscallError
	if !errors.As(err, &sysErr) || !errors.Is(err, unix.EACCES) {
		t.Errorf("error = %#v, want the *os.SyscallError of EACCES", err)
	}
	if !strings.Contains(log, "R0 !read_ok") {
		t.Errorf("verifier log = %q, want it to say R0 !read_ok", log)
	}
}

// TestLoadedProgramIsTheDeviceProgramCiliumSees reads the loaded program back through cilium:
// its type, its name (as programName reads it too) and its instructions as the kernel keeps them.
func TestLoadedProgramIsTheDeviceProgramCiliumSees(t *testing.T) {
	requireRoot(t)
	insns, err := program([]specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "rwm"), allow("b", 3000000000, -1, "r")})
	if err != nil {
		t.Fatal(err)
	}
	fd, _, err := loadDeviceProgram(insns, progName)
	if err != nil {
		t.Fatal(err)
	}
	name, err := programName(fd)
	if err != nil || name != progName {
		t.Errorf("programName = %q, %v; want %q", name, err, progName)
	}
	prog, err := ebpf.NewProgramFromFD(fd) // takes fd over
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != ebpf.CGroupDevice || info.Name != progName {
		t.Errorf("loaded program is %v %q, want %v %q", info.Type, info.Name, ebpf.CGroupDevice, progName)
	}
	xlated, err := info.Instructions()
	if err != nil {
		t.Skipf("kernel does not return the instructions: %v", err)
	}
	var held bytes.Buffer
	if err := xlated.Marshal(&held, hostOrder()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(held.Bytes(), insnBytes(insns)) {
		t.Errorf("kernel holds:\n%v\nloaded:\n%v", xlated, decode(t, insns))
	}
}

func TestApplyLeavesNoFileDescriptorsOpen(t *testing.T) {
	requireRoot(t)
	_, dir := newCgroup(t, cgroup2Root(t))
	mustApply(t, dir, []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 3, "rwm")})
	before := openFDs(t)
	// This one opens the first program to detach it.
	mustApply(t, dir, []specs.LinuxDeviceCgroup{denyAll, allow("c", 1, 5, "r")})
	if after := openFDs(t); after != before {
		t.Errorf("%d fds open after Apply, %d before", after, before)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

package devicefilter

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The bpf(2) commands Apply makes, each with its part of union bpf_attr, laid out as in
// include/uapi/linux/bpf.h: only the leading fields a command needs, since the kernel zeroes what
// a caller's shorter attr leaves out (bpf_check_uarg_tail_zero, then memset). Every __aligned_u64
// falls on a multiple of 8 with the fields before it, so the Go layout is the C one on 32-bit
// hosts too. x/sys/unix has the command, type and flag constants but none of these structs.

// progLoadAttr is the BPF_PROG_LOAD part, up to prog_name (Linux 4.15).
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64 // const struct bpf_insn *
	license     uint64 // const char *
	logLevel    uint32
	logSize     uint32
	logBuf      uint64 // char *
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

// progAttachAttr is the BPF_PROG_ATTACH and BPF_PROG_DETACH part, up to attach_flags.
type progAttachAttr struct {
	targetFD    uint32
	attachBPFFD uint32
	attachType  uint32
	attachFlags uint32
}

// progQueryAttr is the BPF_PROG_QUERY part, up to prog_cnt and the padding after it.
type progQueryAttr struct {
	targetFD    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64 // __u32 *
	progCnt     uint32 // in: room in progIDs; out: how many are attached
	_           uint32
}

// getIDAttr is the BPF_*_GET_*_ID part; prog_id shares its place with start_id.
type getIDAttr struct {
	progID    uint32
	nextID    uint32
	openFlags uint32
}

// infoAttr is the BPF_OBJ_GET_INFO_BY_FD part.
type infoAttr struct {
	bpfFD   uint32
	infoLen uint32 // in: size of info; out: how much the kernel wrote
	info    uint64 // struct bpf_prog_info *
}

// progInfo is struct bpf_prog_info up to name (Linux 4.15). The kernel copies no instructions
// or map ids while their lengths are zero.
type progInfo struct {
	typ             uint32
	id              uint32
	tag             [8]byte
	jitedProgLen    uint32
	xlatedProgLen   uint32
	jitedProgInsns  uint64
	xlatedProgInsns uint64
	loadTime        uint64
	createdByUID    uint32
	nrMapIDs        uint32
	mapIDs          uint64
	name            [unix.BPF_OBJ_NAME_LEN]byte
}

const (
	// logLevelVerbose is BPF_LOG_LEVEL1 (include/linux/bpf_verifier.h): every instruction the
	// verifier walks, and why it stopped.
	logLevelVerbose = 1
	// logSize is the verifier log's buffer. Since Linux 6.4 the log keeps its end when it
	// overflows, where the reason is; before, it keeps the start. Our programs verify in a few
	// hundred lines, so a full buffer is a program much larger than those.
	logSize = 1 << 20
)

// bpf makes one bpf(2) call. The addresses inside attr are held in uint64 fields, where the
// garbage collector does not see them: the caller pins what they point to (runtime.Pinner),
// which also keeps it from moving with a goroutine stack.
func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	for {
		r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
		// From Linux 4.20 a pending signal (such as the Go scheduler's SIGURG preemption)
		// interrupts the verifier, which then fails with EAGAIN (bpf_check, signal_pending).
		if errno == unix.EAGAIN && cmd == unix.BPF_PROG_LOAD {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
}

// pinned returns the address of p for a uint64 field of a bpf_attr and pins what it points to.
func pinned[T any](pin *runtime.Pinner, p *T) uint64 {
	pin.Pin(p)
	return uint64(uintptr(unsafe.Pointer(p)))
}

// loadDeviceProgram loads insns as a BPF_PROG_TYPE_CGROUP_DEVICE program named name and returns
// its fd (close-on-exec, as bpf(2) makes every fd). When the kernel refuses it, the load is
// made again with a log buffer, and what the verifier logged comes back with the first error.
func loadDeviceProgram(insns []insn, name string) (fd int, verifierLog string, err error) {
	if fd, err = loadProgram(insns, name, nil); err == nil {
		return fd, "", nil
	}
	log := make([]byte, logSize)
	if fd, retryErr := loadProgram(insns, name, log); retryErr == nil {
		return fd, "", nil
	}
	return -1, strings.TrimRight(unix.ByteSliceToString(log), "\n"), err
}

func loadProgram(insns []insn, name string, log []byte) (int, error) {
	var pin runtime.Pinner
	defer pin.Unpin()
	// No helper is called, so none that is GPL-only: the license may be empty, but it must
	// be a string (the kernel copies it with strncpy_from_user).
	license := []byte{0}
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns)),
		insns:    pinned(&pin, &insns[0]),
		license:  pinned(&pin, &license[0]),
	}
	copy(attr.progName[:unix.BPF_OBJ_NAME_LEN-1], name)
	if log != nil {
		attr.logLevel = logLevelVerbose
		attr.logSize = uint32(len(log))
		attr.logBuf = pinned(&pin, &log[0])
	}
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return fd, os.NewSyscallError("bpf BPF_PROG_LOAD", err)
}

// attachDeviceProgram attaches the program prog to the cgroup open at cgroup, beside the device
// programs already attached there (BPF_F_ALLOW_MULTI).
func attachDeviceProgram(cgroup, prog int) error {
	attr := progAttachAttr{
		targetFD:    uint32(cgroup),
		attachBPFFD: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
		attachFlags: unix.BPF_F_ALLOW_MULTI,
	}
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return os.NewSyscallError("bpf BPF_PROG_ATTACH", err)
}

// detachDeviceProgram detaches the program prog from the cgroup open at cgroup.
func detachDeviceProgram(cgroup, prog int) error {
	attr := progAttachAttr{
		targetFD:    uint32(cgroup),
		attachBPFFD: uint32(prog),
		attachType:  unix.BPF_CGROUP_DEVICE,
	}
	_, err := bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return os.NewSyscallError("bpf BPF_PROG_DETACH", err)
}

// deviceProgramIDs returns the ids of the device programs attached to the cgroup open at cgroup
// itself (not those it inherits).
func deviceProgramIDs(cgroup int) ([]uint32, error) {
	// A cgroup holds at most 64 programs of one attach type (BPF_CGROUP_MAX_PROGS), so one
	// call is enough unless a kernel allows more; then ENOSPC says how many there are.
	ids := make([]uint32, 64)
	for {
		var pin runtime.Pinner
		attr := progQueryAttr{
			targetFD:   uint32(cgroup),
			attachType: unix.BPF_CGROUP_DEVICE,
			progIDs:    pinned(&pin, &ids[0]),
			progCnt:    uint32(len(ids)),
		}
		_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		pin.Unpin()
		if errors.Is(err, unix.ENOSPC) && int(attr.progCnt) > len(ids) {
			ids = make([]uint32, attr.progCnt)
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("bpf BPF_PROG_QUERY", err)
		}
		return ids[:attr.progCnt], nil
	}
}

// openProgram returns an fd of the program with the given id; ENOENT when there is none (any
// more).
func openProgram(id uint32) (int, error) {
	attr := getIDAttr{progID: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return fd, os.NewSyscallError("bpf BPF_PROG_GET_FD_BY_ID", err)
}

// programName returns the name the program open at fd was loaded with.
func programName(fd int) (string, error) {
	var pin runtime.Pinner
	defer pin.Unpin()
	var info progInfo
	attr := infoAttr{
		bpfFD:   uint32(fd),
		infoLen: uint32(unsafe.Sizeof(info)),
		info:    pinned(&pin, &info),
	}
	if _, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return "", os.NewSyscallError("bpf BPF_OBJ_GET_INFO_BY_FD", err)
	}
	return unix.ByteSliceToString(info.name[:]), nil
}

package devicefilter

import (
	"errors"
	"fmt"
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// progName tells this package's programs from others attached to the same cgroup. The kernel
// keeps 15 bytes of a program name (BPF_OBJ_NAME_LEN).
const progName = "nebulon_devices"

// Apply confines the cgroup open at dir (an O_DIRECTORY fd of a cgroup v2 directory) to rules,
// replacing any device program this package attached to it before.
//
// The new program is attached before the old ones are detached, so the cgroup is never
// unconfined; if Apply fails after attaching, both may stay attached, which only confines more.
// Two Apply calls on one cgroup at once leave both programs attached (each detaches only what
// it found before attaching), never none. Needs Linux 4.15 (BPF_PROG_TYPE_CGROUP_DEVICE) and,
// for the attached-before-detached order, BPF_F_ALLOW_MULTI, which came with it.
func Apply(dir *os.File, rules []specs.LinuxDeviceCgroup) error {
	insns, err := program(rules)
	if err != nil {
		return err
	}
	old, err := ownPrograms(dir)
	if err != nil {
		return err
	}
	defer closeAll(old)

	prog, verifierLog, err := loadDeviceProgram(insns, progName)
	if err != nil {
		if verifierLog != "" {
			return fmt.Errorf("load device program for %s: %w; verifier log: %s", dir.Name(), err, logTail(verifierLog))
		}
		return fmt.Errorf("load device program for %s: %w", dir.Name(), err)
	}
	// The attachment holds its own reference: the program lives as long as it stays attached.
	defer unix.Close(prog)

	if err := attachDeviceProgram(int(dir.Fd()), prog); err != nil {
		return fmt.Errorf("attach device program to %s: %w", dir.Name(), err)
	}

	var errs []error
	for _, o := range old {
		err := detachDeviceProgram(int(dir.Fd()), o.fd)
		// ENOENT: it was detached meanwhile, which is what was wanted.
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach old device program %d from %s: %w", o.id, dir.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// ownProgram is a program of this package attached to a cgroup, open at fd.
type ownProgram struct {
	id uint32
	fd int
}

// ownPrograms returns the device programs of this package attached to dir.
func ownPrograms(dir *os.File) (progs []ownProgram, retErr error) {
	ids, err := deviceProgramIDs(int(dir.Fd()))
	if err != nil {
		return nil, fmt.Errorf("list device programs of %s: %w", dir.Name(), err)
	}
	defer func() {
		if retErr != nil {
			closeAll(progs)
		}
	}()
	for _, id := range ids {
		fd, err := openProgram(id)
		if errors.Is(err, unix.ENOENT) {
			continue // detached and freed since the query
		}
		if err != nil {
			return progs, fmt.Errorf("open device program %d of %s: %w", id, dir.Name(), err)
		}
		name, err := programName(fd)
		if err != nil {
			unix.Close(fd)
			return progs, fmt.Errorf("read device program %d of %s: %w", id, dir.Name(), err)
		}
		if name != progName {
			unix.Close(fd)
			continue
		}
		progs = append(progs, ownProgram{id: id, fd: fd})
	}
	return progs, nil
}

func closeAll(progs []ownProgram) {
	for _, p := range progs {
		unix.Close(p.fd)
	}
}

// logTail keeps the end of a verifier log, where the verifier says why it refused the program.
func logTail(log string) string {
	const keep = 20
	lines := strings.Split(log, "\n")
	if len(lines) <= keep {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("(%d lines left out)\n%s", len(lines)-keep, strings.Join(lines[len(lines)-keep:], "\n"))
}

package devicefilter

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
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

	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         progName,
		Type:         ebpf.CGroupDevice,
		Instructions: insns,
		// No License: the program calls no helper, so none that is GPL-only.
	})
	if err != nil {
		return fmt.Errorf("load device program for %s: %w", dir.Name(), err)
	}
	// The attachment holds its own reference: the program lives as long as it stays attached.
	defer prog.Close()

	if err := link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  int(dir.Fd()),
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	}); err != nil {
		return fmt.Errorf("attach device program to %s: %w", dir.Name(), err)
	}

	var errs []error
	for _, o := range old {
		err := link.RawDetachProgram(link.RawDetachProgramOptions{
			Target:  int(dir.Fd()),
			Program: o,
			Attach:  ebpf.AttachCGroupDevice,
		})
		// ENOENT: it was detached meanwhile, which is what was wanted.
		if err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("detach old device program %v from %s: %w", o, dir.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// ownPrograms returns the device programs of this package attached to dir.
func ownPrograms(dir *os.File) (progs []*ebpf.Program, retErr error) {
	attached, err := link.QueryPrograms(link.QueryOptions{
		Target: int(dir.Fd()),
		Attach: ebpf.AttachCGroupDevice,
	})
	if err != nil {
		return nil, fmt.Errorf("list device programs of %s: %w", dir.Name(), err)
	}
	defer func() {
		if retErr != nil {
			closeAll(progs)
		}
	}()
	for _, a := range attached.Programs {
		prog, err := ebpf.NewProgramFromID(a.ID)
		if errors.Is(err, os.ErrNotExist) {
			continue // detached and freed since the query
		}
		if err != nil {
			return progs, fmt.Errorf("open device program %d of %s: %w", a.ID, dir.Name(), err)
		}
		info, err := prog.Info()
		if err != nil {
			prog.Close()
			return progs, fmt.Errorf("read device program %d of %s: %w", a.ID, dir.Name(), err)
		}
		if info.Name != progName {
			prog.Close()
			continue
		}
		progs = append(progs, prog)
	}
	return progs, nil
}

func closeAll(progs []*ebpf.Program) {
	for _, p := range progs {
		p.Close()
	}
}

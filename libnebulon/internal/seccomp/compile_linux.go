//go:build cgo

package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// scmpActions maps the spec's action names to libseccomp's. SCMP_ACT_KILL is libseccomp's older
// name for SCMP_ACT_KILL_THREAD.
var scmpActions = map[specs.LinuxSeccompAction]libseccomp.ScmpAction{
	specs.ActKill:        libseccomp.ActKillThread,
	specs.ActKillThread:  libseccomp.ActKillThread,
	specs.ActKillProcess: libseccomp.ActKillProcess,
	specs.ActTrap:        libseccomp.ActTrap,
	specs.ActErrno:       libseccomp.ActErrno,
	specs.ActTrace:       libseccomp.ActTrace,
	specs.ActAllow:       libseccomp.ActAllow,
	specs.ActLog:         libseccomp.ActLog,
	specs.ActNotify:      libseccomp.ActNotify,
}

var scmpOperators = map[specs.LinuxSeccompOperator]libseccomp.ScmpCompareOp{
	specs.OpNotEqual:     libseccomp.CompareNotEqual,
	specs.OpLessThan:     libseccomp.CompareLess,
	specs.OpLessEqual:    libseccomp.CompareLessOrEqual,
	specs.OpEqualTo:      libseccomp.CompareEqual,
	specs.OpGreaterEqual: libseccomp.CompareGreaterEqual,
	specs.OpGreaterThan:  libseccomp.CompareGreater,
	specs.OpMaskedEqual:  libseccomp.CompareMaskedEqual,
}

var scmpArchs = map[specs.Arch]libseccomp.ScmpArch{
	specs.ArchX86:         libseccomp.ArchX86,
	specs.ArchX86_64:      libseccomp.ArchAMD64,
	specs.ArchX32:         libseccomp.ArchX32,
	specs.ArchARM:         libseccomp.ArchARM,
	specs.ArchAARCH64:     libseccomp.ArchARM64,
	specs.ArchMIPS:        libseccomp.ArchMIPS,
	specs.ArchMIPS64:      libseccomp.ArchMIPS64,
	specs.ArchMIPS64N32:   libseccomp.ArchMIPS64N32,
	specs.ArchMIPSEL:      libseccomp.ArchMIPSEL,
	specs.ArchMIPSEL64:    libseccomp.ArchMIPSEL64,
	specs.ArchMIPSEL64N32: libseccomp.ArchMIPSEL64N32,
	specs.ArchPPC:         libseccomp.ArchPPC,
	specs.ArchPPC64:       libseccomp.ArchPPC64,
	specs.ArchPPC64LE:     libseccomp.ArchPPC64LE,
	specs.ArchS390:        libseccomp.ArchS390,
	specs.ArchS390X:       libseccomp.ArchS390X,
	specs.ArchPARISC:      libseccomp.ArchPARISC,
	specs.ArchPARISC64:    libseccomp.ArchPARISC64,
	specs.ArchRISCV64:     libseccomp.ArchRISCV64,
	specs.ArchLOONGARCH64: libseccomp.ArchLOONGARCH64,
	specs.ArchM68K:        libseccomp.ArchM68K,
	specs.ArchSH:          libseccomp.ArchSH,
	specs.ArchSHEB:        libseccomp.ArchSHEB,
}

// maxErrno is the widest errnoRet: the action's data is the low 16 bits of the filter's return
// value (SECCOMP_RET_DATA).
const maxErrno = unix.SECCOMP_RET_DATA

// syscallMaxArgs is the number of syscall arguments a filter can look at (seccomp_data.args).
const syscallMaxArgs = 6

// optimizeAbove is the rule count past which the filter is a binary tree on the syscall number
// (O(log n) per syscall rather than a linear scan), as runc does past 32 rules
// (libcontainer/seccomp/seccomp_linux.go). libseccomp <= 2.5.4 builds a broken tree for a filter
// with no rules, which counting the rules actually added rules out.
const optimizeAbove = 32

// rule is one syscalls[] entry, checked, for one of its names.
type rule struct {
	field  string // syscalls[i].names[j], for errors
	name   string
	action libseccomp.ScmpAction
	conds  []libseccomp.ScmpCondition
}

// Compile validates s and builds its filter. It returns a nil Filter when s is nil or has
// neither defaultAction nor syscalls, which runc takes as seccomp disabled
// (libcontainer/specconv, SetupSeccomp). A field that cannot be turned into a filter is
// reported as an *Error naming it; libseccomp failing otherwise is a plain error.
//
// It probes the kernel (cached) for the flags and actions s uses, so that a filter the kernel
// would refuse fails at create, naming the field, rather than in the init.
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
	if s == nil || (s.DefaultAction == "" && len(s.Syscalls) == 0) {
		return nil, nil
	}
	def, err := defaultAction(s)
	if err != nil {
		return nil, err
	}
	flags, err := filterFlags(s.Flags)
	if err != nil {
		return nil, err
	}
	if s.ListenerMetadata != "" && s.ListenerPath == "" {
		// config-linux.md: "This field MUST NOT be set if listenerPath is not set."
		return nil, fieldErr("listenerMetadata", "set without listenerPath")
	}
	rules, notify, err := syscallRules(s)
	if err != nil {
		return nil, err
	}
	if notify {
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	} else if flags&unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV != 0 {
		// The kernel refuses this flag without a listener (EINVAL).
		i := flagIndex(s.Flags, specs.LinuxSeccompFlagWaitKillableRecv)
		return nil, fieldErr(fmt.Sprintf("flags[%d]", i), "%s needs a SCMP_ACT_NOTIFY rule", specs.LinuxSeccompFlagWaitKillableRecv)
	}
	prog, err := build(s.Architectures, def, rules)
	if err != nil {
		return nil, err
	}
	if needsENOSYSStub(def) {
		prog = withENOSYSStub(prog, highestSyscalls(s.Architectures, rules))
	}
	return &Filter{Program: prog, Flags: flags, Notify: notify}, nil
}

// action checks an action name and its errno, and that the kernel implements it.
func action(field string, name specs.LinuxSeccompAction, errnoRet *uint, errnoField string) (libseccomp.ScmpAction, error) {
	act, ok := scmpActions[name]
	if !ok {
		if name == "" {
			return 0, fieldErr(field, "missing")
		}
		return 0, fieldErr(field, "unknown action %q", name)
	}
	if !kernelHasAction(actionRets[name]) {
		return 0, fieldErr(field, "%s is not supported by this kernel", name)
	}
	if act != libseccomp.ActErrno && act != libseccomp.ActTrace {
		if errnoRet != nil {
			// config-linux.md: "When the action doesn't support an errno, the runtime MUST
			// print and error and fail."
			return 0, fieldErr(errnoField, "%s takes no errno (only %s and %s do)", name, specs.ActErrno, specs.ActTrace)
		}
		return act, nil
	}
	errno := uint(unix.EPERM) // the spec's default, as runc's
	if errnoRet != nil {
		errno = *errnoRet
	}
	if errno > maxErrno {
		return 0, fieldErr(errnoField, "%d is out of range (0 to %d)", errno, maxErrno)
	}
	return act.SetReturnCode(int16(errno)), nil
}

func defaultAction(s *specs.LinuxSeccomp) (libseccomp.ScmpAction, error) {
	def, err := action("defaultAction", s.DefaultAction, s.DefaultErrnoRet, "defaultErrnoRet")
	if err != nil {
		return 0, err
	}
	if def == libseccomp.ActNotify {
		// As runc: every syscall would wait on the agent, including the init's own report of
		// the listener fd to the runtime, which can then never arrive.
		return 0, fieldErr("defaultAction", "%s cannot be the default action", specs.ActNotify)
	}
	return def, nil
}

// filterFlags turns linux.seccomp.flags into seccomp(2) flags.
func filterFlags(names []specs.LinuxSeccompFlag) (uint, error) {
	if names == nil {
		// runc's default (libcontainer/specconv, SetupSeccomp): with no flags given, not even
		// an empty list, ask for SPEC_ALLOW where the kernel has it, so that the container does
		// not get the speculative store bypass mitigation forced on with its filter
		// (spec_store_bypass_disable=seccomp, the kernel's default before 5.16) and its cost.
		if kernelHasFlag(unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW) {
			return unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW, nil
		}
		return 0, nil
	}
	var flags uint
	for i, name := range names {
		bit, ok := flagBits[name]
		field := fmt.Sprintf("flags[%d]", i)
		switch {
		case !ok:
			return 0, fieldErr(field, "unknown flag %q", name)
		case bit == unix.SECCOMP_FILTER_FLAG_TSYNC:
			continue // see flagBits
		case !kernelHasFlag(bit):
			return 0, fieldErr(field, "%s is not supported by this kernel", name)
		}
		flags |= bit
	}
	return flags, nil
}

func flagIndex(names []specs.LinuxSeccompFlag, name specs.LinuxSeccompFlag) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// syscallRules checks every syscalls[] entry before any of them reaches libseccomp, and reports
// whether one uses SCMP_ACT_NOTIFY.
func syscallRules(s *specs.LinuxSeccomp) (rules []rule, notify bool, err error) {
	for i, sc := range s.Syscalls {
		field := fmt.Sprintf("syscalls[%d]", i)
		act, err := action(field+".action", sc.Action, sc.ErrnoRet, field+".errnoRet")
		if err != nil {
			return nil, false, err
		}
		if len(sc.Names) == 0 {
			// config-linux.md: "names MUST contain at least one entry."
			return nil, false, fieldErr(field+".names", "must name at least one syscall")
		}
		conds, err := conditions(field, sc.Args)
		if err != nil {
			return nil, false, err
		}
		for j, name := range sc.Names {
			nameField := fmt.Sprintf("%s.names[%d]", field, j)
			if name == "" {
				return nil, false, fieldErr(nameField, "empty syscall name")
			}
			if act == libseccomp.ActNotify && name == "write" {
				// As runc: the init reports the listener fd to the runtime with write(2) on
				// the sync socket after loading the filter; were write notified, that report
				// would wait on an agent that only gets the fd through it.
				return nil, false, fieldErr(nameField, "%s cannot be used for %q", specs.ActNotify, name)
			}
			rules = append(rules, rule{field: nameField, name: name, action: act, conds: conds})
		}
		if act == libseccomp.ActNotify {
			notify = true
		}
	}
	if notify && s.ListenerPath == "" {
		// As runc: the listener fd goes to the agent at listenerPath; without one, notified
		// syscalls would wait forever.
		return nil, false, fieldErr("listenerPath", "must be set when a rule uses %s", specs.ActNotify)
	}
	return rules, notify, nil
}

// conditions checks a syscalls[] entry's args. value and valueTwo are libseccomp's datum_a and
// datum_b, as runc passes them: for SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the
// value the masked argument must equal ((arg & value) == valueTwo); the other operators compare
// the argument with value.
func conditions(field string, args []specs.LinuxSeccompArg) ([]libseccomp.ScmpCondition, error) {
	var conds []libseccomp.ScmpCondition
	for k, arg := range args {
		argField := fmt.Sprintf("%s.args[%d]", field, k)
		if arg.Index >= syscallMaxArgs {
			return nil, fieldErr(argField+".index", "%d is out of range (0 to %d)", arg.Index, syscallMaxArgs-1)
		}
		op, ok := scmpOperators[arg.Op]
		if !ok {
			return nil, fieldErr(argField+".op", "unknown operator %q", arg.Op)
		}
		cond, err := libseccomp.MakeCondition(arg.Index, op, arg.Value, arg.ValueTwo)
		if err != nil {
			return nil, &Error{Field: argField, Err: err}
		}
		conds = append(conds, cond)
	}
	return conds, nil
}

// build makes the libseccomp filter and exports its BPF.
func build(archs []specs.Arch, def libseccomp.ScmpAction, rules []rule) (Program, error) {
	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("create seccomp filter: %w", err)
	}
	defer filter.Release()
	// Only libseccomp's own loader reads this attribute and Load does not use it; cleared so
	// that this filter never sets no_new_privs behind process.noNewPrivileges's back.
	if err := filter.SetNoNewPrivsBit(false); err != nil {
		return nil, fmt.Errorf("clear no_new_privs attribute of seccomp filter: %w", err)
	}
	for i, name := range archs {
		field := fmt.Sprintf("architectures[%d]", i)
		arch, ok := scmpArchs[name]
		if !ok {
			return nil, fieldErr(field, "unknown architecture %q", name)
		}
		if !libHasArch(arch) {
			major, minor, micro := libseccomp.GetLibraryVersion()
			return nil, fieldErr(field, "%s is not supported by libseccomp %d.%d.%d", name, major, minor, micro)
		}
		if err := filter.AddArch(arch); err != nil {
			if errors.Is(err, unix.EDOM) {
				// libseccomp's rule: one filter holds architectures of one byte order.
				return nil, fieldErr(field, "%s cannot be in one filter with this host's architecture: their byte orders differ", name)
			}
			return nil, &Error{Field: field, Err: fmt.Errorf("add architecture %s: %w", name, err)}
		}
	}
	added := 0
	for _, r := range rules {
		n, err := addRule(filter, def, r)
		if err != nil {
			return nil, err
		}
		added += n
	}
	if added > optimizeAbove {
		if err := filter.SetOptimize(2); err != nil {
			return nil, fmt.Errorf("set seccomp filter optimization: %w", err)
		}
	}
	return export(filter)
}

// addRule adds one syscall's rule and returns how many libseccomp rules that took. As runc
// (libcontainer/seccomp/seccomp_linux.go, matchCall): a rule whose action is the default action
// is skipped (libseccomp refuses it, and it would change nothing), and so is a syscall
// libseccomp does not know, which a profile written for newer kernels names. Conditions on
// distinct arguments make one rule (all must hold); when two conditions name the same argument,
// which libseccomp refuses in one rule, each condition is a rule of its own (any may hold).
func addRule(filter *libseccomp.ScmpFilter, def libseccomp.ScmpAction, r rule) (int, error) {
	if r.action == def {
		return 0, nil
	}
	nr, err := libseccomp.GetSyscallFromName(r.name)
	if err != nil {
		slog.Debug("seccomp: syscall unknown to libseccomp, rule skipped", "syscall", r.name, "field", r.field)
		return 0, nil
	}
	wrap := func(err error) error {
		return &Error{Field: r.field, Err: fmt.Errorf("add rule for %q: %w", r.name, err)}
	}
	if len(r.conds) == 0 {
		if err := filter.AddRule(nr, r.action); err != nil {
			return 0, wrap(err)
		}
		return 1, nil
	}
	if !sharesArgument(r.conds) {
		if err := filter.AddRuleConditional(nr, r.action, r.conds); err != nil {
			return 0, wrap(err)
		}
		return 1, nil
	}
	for _, cond := range r.conds {
		if err := filter.AddRuleConditional(nr, r.action, []libseccomp.ScmpCondition{cond}); err != nil {
			return 0, wrap(err)
		}
	}
	return len(r.conds), nil
}

func sharesArgument(conds []libseccomp.ScmpCondition) bool {
	var seen [syscallMaxArgs]bool
	for _, c := range conds {
		if seen[c.Argument] {
			return true
		}
		seen[c.Argument] = true
	}
	return false
}

// export writes the filter's BPF to a memfd and reads it back: libseccomp 2.5 exports only to a
// file descriptor (seccomp_export_bpf_mem came in 2.6), and a memfd, unlike a pipe, needs no
// reader running alongside for a program larger than the pipe buffer.
func export(filter *libseccomp.ScmpFilter) (Program, error) {
	fd, err := unix.MemfdCreate("nebulon-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "nebulon-seccomp")
	defer f.Close()
	if err := filter.ExportBPF(f); err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("export seccomp filter: %w", err)
	}
	prog, err := decodeProgram(raw, binary.NativeEndian)
	if err != nil {
		return nil, err
	}
	if len(prog) == 0 {
		return nil, errors.New("export seccomp filter: libseccomp wrote no instructions")
	}
	return prog, nil
}

package devicefilter

import (
	"encoding/binary"
	"fmt"
	"math"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Offsets in struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h): access_type holds the access
// bits in its upper 16 bits and the device type in its lower 16.
const (
	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8
)

// reg is an eBPF register: r0 holds the return value, r1 the ctx on entry.
type reg uint8

const (
	r0 reg = 0
	r1 reg = 1

	regType    reg = 2
	regAccess  reg = 3
	regMajor   reg = 4
	regMinor   reg = 5
	regScratch reg = 6
)

// The opcodes the program uses, built from include/uapi/linux/bpf_common.h and bpf.h: class,
// then operation or mode and size, then source (K: imm, X: src register). They are spelled out
// here, not taken from x/sys/unix, which has the eBPF ones only on Linux, because this file is
// pure and builds and is tested everywhere. TestEncoderMatchesCiliumAssembler checks them.
const (
	classLD    = 0x00
	classLDX   = 0x01
	classALU   = 0x04 // 32-bit: the upper half of dst is zeroed
	classJMP   = 0x05
	classALU64 = 0x07

	sizeW  = 0x00
	sizeDW = 0x18

	modeIMM = 0x00
	modeMEM = 0x60

	srcK = 0x00
	srcX = 0x08

	aluRSH = 0x70
	aluAND = 0x50
	aluMOV = 0xb0

	jmpJA   = 0x00
	jmpJSET = 0x40
	jmpJNE  = 0x50
	jmpEXIT = 0x90
)

// insn is one struct bpf_insn (include/uapi/linux/bpf.h), laid out as the kernel reads it, so a
// []insn is the program as it goes to BPF_PROG_LOAD. regs packs the bit fields dst_reg:4 and
// src_reg:4, whose order within the byte follows the host's byte order.
type insn struct {
	code uint8
	regs uint8
	off  int16
	imm  int32
}

// bigEndian: a C compiler allocates bit fields from the most significant bit on big-endian hosts.
var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

func newInsn(code uint8, dst, src reg, off int16, imm int32) insn {
	regs := uint8(src)<<4 | uint8(dst)
	if bigEndian {
		regs = uint8(dst)<<4 | uint8(src)
	}
	return insn{code: code, regs: regs, off: off, imm: imm}
}

// assembler emits instructions and resolves jumps to labels once every label is placed. A jump
// offset counts instruction slots from the one after the jump (a ld imm64 takes two).
type assembler struct {
	insns  []insn
	labels map[string]int // label: the slot it names
	jumps  []labelledJump // jumps whose offset is not known yet
}

type labelledJump struct {
	slot  int
	label string
}

// label names the slot of the next instruction.
func (a *assembler) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

// ldxW: dst = *(u32 *)(src + off), zero-extended.
func (a *assembler) ldxW(dst, src reg, off int16) {
	a.insns = append(a.insns, newInsn(classLDX|modeMEM|sizeW, dst, src, off, 0))
}

// mov32Reg: dst = (u32)src.
func (a *assembler) mov32Reg(dst, src reg) {
	a.insns = append(a.insns, newInsn(classALU|aluMOV|srcX, dst, src, 0, 0))
}

// rsh32Imm: dst = (u32)dst >> imm.
func (a *assembler) rsh32Imm(dst reg, imm int32) {
	a.insns = append(a.insns, newInsn(classALU|aluRSH|srcK, dst, 0, 0, imm))
}

// and32Imm: dst = (u32)dst & imm.
func (a *assembler) and32Imm(dst reg, imm int32) {
	a.insns = append(a.insns, newInsn(classALU|aluAND|srcK, dst, 0, 0, imm))
}

// mov64Imm: dst = imm, sign-extended to 64 bits.
func (a *assembler) mov64Imm(dst reg, imm int32) {
	a.insns = append(a.insns, newInsn(classALU64|aluMOV|srcK, dst, 0, 0, imm))
}

// ldImm64: dst = v, in two slots: the first holds the lower 32 bits, the second (a pseudo
// instruction with code 0) the upper.
func (a *assembler) ldImm64(dst reg, v uint64) {
	a.insns = append(a.insns,
		newInsn(classLD|modeIMM|sizeDW, dst, 0, 0, int32(uint32(v))),
		newInsn(0, 0, 0, 0, int32(uint32(v>>32))),
	)
}

// jneImm: if dst != imm (sign-extended to 64 bits) goto label.
func (a *assembler) jneImm(dst reg, imm int32, label string) {
	a.jump(newInsn(classJMP|jmpJNE|srcK, dst, 0, 0, imm), label)
}

// jneReg: if dst != src goto label.
func (a *assembler) jneReg(dst, src reg, label string) {
	a.jump(newInsn(classJMP|jmpJNE|srcX, dst, src, 0, 0), label)
}

// jsetImm: if dst & imm goto label.
func (a *assembler) jsetImm(dst reg, imm int32, label string) {
	a.jump(newInsn(classJMP|jmpJSET|srcK, dst, 0, 0, imm), label)
}

// ja: goto label.
func (a *assembler) ja(label string) {
	a.jump(newInsn(classJMP|jmpJA, 0, 0, 0, 0), label)
}

// exit returns r0.
func (a *assembler) exit() {
	a.insns = append(a.insns, newInsn(classJMP|jmpEXIT, 0, 0, 0, 0))
}

func (a *assembler) jump(in insn, label string) {
	a.jumps = append(a.jumps, labelledJump{slot: len(a.insns), label: label})
	a.insns = append(a.insns, in)
}

// finish sets the offset of every jump to its label's slot.
func (a *assembler) finish() ([]insn, error) {
	for _, j := range a.jumps {
		target, ok := a.labels[j.label]
		if !ok {
			return nil, fmt.Errorf("jump at %d to label %s, which is not placed", j.slot, j.label)
		}
		off := target - j.slot - 1
		if off < math.MinInt16 || off > math.MaxInt16 {
			return nil, fmt.Errorf("jump at %d to label %s is %d instructions away, more than a jump reaches", j.slot, j.label, off)
		}
		a.insns[j.slot].off = int16(off)
	}
	return a.insns, nil
}

const (
	labelAllow = "allow"
	labelDeny  = "deny"
)

// program returns the device program that decides as rules do under cgroup v1 (see the package
// doc for its shape).
func program(rules []specs.LinuxDeviceCgroup) ([]insn, error) {
	p, err := newPolicy(rules)
	if err != nil {
		return nil, err
	}
	return p.instructions()
}

func (p policy) instructions() ([]insn, error) {
	var a assembler
	a.ldxW(regType, r1, ctxAccessType)
	a.mov32Reg(regAccess, regType)
	a.rsh32Imm(regAccess, 16)
	a.and32Imm(regType, 0xffff)
	a.ldxW(regMajor, r1, ctxMajor)
	a.ldxW(regMinor, r1, ctxMinor)
	for i, e := range p.exceptions {
		a.label(exceptionLabel(i))
		p.block(&a, e, exceptionLabel(i+1))
	}
	verdict, other := int32(0), labelAllow
	if p.defaultAllow {
		verdict, other = 1, labelDeny
	}
	a.label(exceptionLabel(len(p.exceptions)))
	a.mov64Imm(r0, verdict)
	a.exit()
	// The other verdict only when an exception jumps to it: the verifier refuses unreachable
	// instructions (check_cfg).
	if len(p.exceptions) > 0 {
		a.label(other)
		a.mov64Imm(r0, 1-verdict)
		a.exit()
	}
	return a.finish()
}

// block tests one exception; it goes on to next when e does not decide the request.
func (p policy) block(a *assembler, e exception, next string) {
	a.jneImm(regType, int32(e.typ), next)
	jumpUnlessEqual(a, regMajor, e.major, next)
	jumpUnlessEqual(a, regMinor, e.minor, next)
	if p.defaultAllow {
		// Any shared access bit denies (match_exception_partial).
		a.jsetImm(regAccess, int32(e.access), labelDeny)
		return
	}
	// Every bit asked for must be in the exception (match_exception).
	if missing := accAll &^ e.access; missing != 0 {
		a.jsetImm(regAccess, int32(missing), next)
	}
	a.ja(labelAllow)
}

// jumpUnlessEqual jumps to label when r (a zero-extended 32-bit value) differs from n; it tests
// nothing for the wildcard. An immediate is a sign-extended int32, so n above MaxInt32 goes
// through a 64-bit constant in a register.
func jumpUnlessEqual(a *assembler, r reg, n uint32, label string) {
	switch {
	case n == wildcard:
	case n <= math.MaxInt32:
		a.jneImm(r, int32(n), label)
	default:
		a.ldImm64(regScratch, uint64(n))
		a.jneReg(r, regScratch, label)
	}
}

func exceptionLabel(i int) string { return fmt.Sprintf("exception%d", i) }

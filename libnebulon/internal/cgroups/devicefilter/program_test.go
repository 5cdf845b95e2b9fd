package devicefilter

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hostOrder is the byte order cilium's assembler takes for this host (it accepts only these two,
// not binary.NativeEndian).
func hostOrder() binary.ByteOrder {
	if bigEndian {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// insnBytes is the memory BPF_PROG_LOAD hands the kernel for insns.
func insnBytes(insns []insn) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(insns))), len(insns)*int(unsafe.Sizeof(insn{})))
}

// decode reads insns back with cilium's disassembler.
func decode(t *testing.T, insns []insn) asm.Instructions {
	t.Helper()
	decoded, err := asm.AppendInstructions(nil, bytes.NewReader(insnBytes(insns)), hostOrder(), "linux")
	if err != nil {
		t.Fatalf("decode %x: %v", insnBytes(insns), err)
	}
	return decoded
}

// ciliumProgram is the program of p as it was built with cilium's assembler before the package
// had its own: the reference the encoder is checked against.
func ciliumProgram(p policy) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, ctxAccessType, asm.Word),
		asm.Mov.Reg32(asm.R3, asm.R2),
		asm.RSh.Imm32(asm.R3, 16),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R4, asm.R1, ctxMajor, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, ctxMinor, asm.Word),
	}
	unlessEqual := func(r asm.Register, n uint32, label string) asm.Instructions {
		switch {
		case n == wildcard:
			return nil
		case n <= math.MaxInt32:
			return asm.Instructions{asm.JNE.Imm(r, int32(n), label)}
		}
		return asm.Instructions{asm.LoadImm(asm.R6, int64(n), asm.DWord), asm.JNE.Reg(r, asm.R6, label)}
	}
	for i, e := range p.exceptions {
		next := exceptionLabel(i + 1)
		block := asm.Instructions{asm.JNE.Imm(asm.R2, int32(e.typ), next)}
		block = append(block, unlessEqual(asm.R4, e.major, next)...)
		block = append(block, unlessEqual(asm.R5, e.minor, next)...)
		if p.defaultAllow {
			block = append(block, asm.JSet.Imm(asm.R3, int32(e.access), labelDeny))
		} else {
			if missing := accAll &^ e.access; missing != 0 {
				block = append(block, asm.JSet.Imm(asm.R3, int32(missing), next))
			}
			block = append(block, asm.Ja.Label(labelAllow))
		}
		block[0] = block[0].WithSymbol(exceptionLabel(i))
		insns = append(insns, block...)
	}
	verdict, other := int64(0), labelAllow
	if p.defaultAllow {
		verdict, other = 1, labelDeny
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, int32(verdict)).WithSymbol(exceptionLabel(len(p.exceptions))), asm.Return())
	if len(p.exceptions) > 0 {
		insns = append(insns, asm.Mov.Imm(asm.R0, int32(1-verdict)).WithSymbol(other), asm.Return())
	}
	return insns
}

// TestEncoderMatchesCiliumAssembler checks every byte of the programs for the decision table's
// rule lists and for numbers that need each encoding (a major and a minor above MaxInt32 go
// through ld imm64, jumps reach over those two-slot loads, both defaults) against what cilium's
// assembler makes of the same program.
func TestEncoderMatchesCiliumAssembler(t *testing.T) {
	if size := unsafe.Sizeof(insn{}); size != 8 {
		t.Fatalf("insn is %d bytes, struct bpf_insn 8", size)
	}
	lists := map[string][]specs.LinuxDeviceCgroup{
		"major above MaxInt32": {denyAll, allow("c", math.MaxInt32+1, 3, "rwm"), allow("b", 4000000000, -1, "r")},
		"minor above MaxInt32, default allow": {
			deny("c", 1, math.MaxUint32-1, "w"), deny("b", 8, 1<<31, "rwm"), deny("c", -1, 7, "m"),
		},
		"MaxInt32 itself fits an immediate": {denyAll, allow("c", math.MaxInt32, math.MaxInt32, "rw")},
		"every access subset": {
			denyAll, allow("c", 10, 1, "r"), allow("c", 10, 2, "w"), allow("c", 10, 3, "m"), allow("c", 10, 4, "rw"),
			allow("c", 10, 5, "rm"), allow("c", 10, 6, "wm"), allow("c", 10, 7, "rwm"),
		},
	}
	for _, tc := range decisionCases {
		lists[tc.name] = tc.rules
	}
	for name, rules := range lists {
		p, err := newPolicy(rules)
		if err != nil {
			t.Fatal(err)
		}
		ours, err := program(rules)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		reference := ciliumProgram(p)
		var want bytes.Buffer
		if err := reference.Marshal(&want, hostOrder()); err != nil {
			t.Fatalf("%s: cilium: %v", name, err)
		}
		if got := insnBytes(ours); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%s (%v):\nencoder:\n%v\ncilium:\n%v\nbytes %x\nwant  %x", name, p, decode(t, ours), reference, got, want.Bytes())
		}
	}
}

func TestJumpToAnUnplacedLabelIsAnError(t *testing.T) {
	var a assembler
	a.ja("nowhere")
	a.exit()
	if _, err := a.finish(); err == nil {
		t.Error("finish succeeded with a jump to a label that is not placed")
	}
}

func TestJumpBeyondInt16IsAnErrorNotAWrap(t *testing.T) {
	rules := []specs.LinuxDeviceCgroup{denyAll}
	for minor := range int64(10000) {
		rules = append(rules, allow("c", 42, minor, "r"))
	}
	if _, err := program(rules); err == nil {
		t.Error("program of 10000 exceptions succeeded; its first jump to allow is more than 32767 instructions away")
	}
}

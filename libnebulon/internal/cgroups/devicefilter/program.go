package devicefilter

import (
	"fmt"
	"math"

	"github.com/cilium/ebpf/asm"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Offsets in struct bpf_cgroup_dev_ctx (include/uapi/linux/bpf.h): access_type holds the access
// bits in its upper 16 bits and the device type in its lower 16.
const (
	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8
)

const (
	regType    = asm.R2
	regAccess  = asm.R3
	regMajor   = asm.R4
	regMinor   = asm.R5
	regScratch = asm.R6

	labelAllow = "allow"
	labelDeny  = "deny"
)

// program returns the device program that decides as rules do under cgroup v1 (see the package
// doc for its shape).
func program(rules []specs.LinuxDeviceCgroup) (asm.Instructions, error) {
	p, err := newPolicy(rules)
	if err != nil {
		return nil, err
	}
	return p.instructions(), nil
}

func (p policy) instructions() asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(regType, asm.R1, ctxAccessType, asm.Word),
		asm.Mov.Reg32(regAccess, regType),
		asm.RSh.Imm32(regAccess, 16),
		asm.And.Imm32(regType, 0xffff),
		asm.LoadMem(regMajor, asm.R1, ctxMajor, asm.Word),
		asm.LoadMem(regMinor, asm.R1, ctxMinor, asm.Word),
	}
	for i, e := range p.exceptions {
		insns = append(insns, p.block(e, exceptionLabel(i), exceptionLabel(i+1))...)
	}
	verdict, other := int32(0), labelAllow
	if p.defaultAllow {
		verdict, other = 1, labelDeny
	}
	insns = append(insns,
		asm.Mov.Imm(asm.R0, verdict).WithSymbol(exceptionLabel(len(p.exceptions))),
		asm.Return(),
	)
	// The other verdict only when an exception jumps to it: the verifier refuses unreachable
	// instructions (check_cfg).
	if len(p.exceptions) > 0 {
		insns = append(insns, asm.Mov.Imm(asm.R0, 1-verdict).WithSymbol(other), asm.Return())
	}
	return insns
}

// block tests one exception; it starts at the symbol self and goes on to next when e does not
// decide the request.
func (p policy) block(e exception, self, next string) asm.Instructions {
	insns := asm.Instructions{asm.JNE.Imm(regType, int32(e.typ), next)}
	insns = append(insns, jumpUnlessEqual(regMajor, e.major, next)...)
	insns = append(insns, jumpUnlessEqual(regMinor, e.minor, next)...)
	if p.defaultAllow {
		// Any shared access bit denies (match_exception_partial).
		insns = append(insns, asm.JSet.Imm(regAccess, int32(e.access), labelDeny))
	} else {
		// Every bit asked for must be in the exception (match_exception).
		if missing := accAll &^ e.access; missing != 0 {
			insns = append(insns, asm.JSet.Imm(regAccess, int32(missing), next))
		}
		insns = append(insns, asm.Ja.Label(labelAllow))
	}
	insns[0] = insns[0].WithSymbol(self)
	return insns
}

// jumpUnlessEqual jumps to label when reg (a zero-extended 32-bit value) differs from n; it
// tests nothing for the wildcard. An immediate is a sign-extended int32, so n above MaxInt32 goes
// through a 64-bit constant in a register.
func jumpUnlessEqual(reg asm.Register, n uint32, label string) asm.Instructions {
	switch {
	case n == wildcard:
		return nil
	case n <= math.MaxInt32:
		return asm.Instructions{asm.JNE.Imm(reg, int32(n), label)}
	}
	return asm.Instructions{
		asm.LoadImm(regScratch, int64(n), asm.DWord),
		asm.JNE.Reg(reg, regScratch, label),
	}
}

func exceptionLabel(i int) string { return fmt.Sprintf("exception%d", i) }

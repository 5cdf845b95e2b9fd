// Package seccomp turns an OCI linux.seccomp into a classic-BPF program and installs it.
//
// The work is split where the processes are: Compile runs in the runtime (parent) process and
// uses libseccomp, which holds the syscall tables of every architecture and knows how to build a
// filter that checks the architecture before the syscall number; Load runs in the container's
// init right before it execs and is one seccomp(2) call, so the init needs no libseccomp state
// and does as little as possible once the filter is on.
package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"golang.org/x/sys/unix"
)

// Filter is a compiled filter. It is computed in the runtime process and loaded by the init right
// before it execs; it travels inside the init's JSON config and is cached in the container's state
// directory for exec, hence its JSON form:
//
//	{"program": "<base64 of the instructions>", "flags": 4, "notify": true}
type Filter struct {
	Program Program `json:"program"`
	// Flags are the SECCOMP_FILTER_FLAG_* bits for seccomp(2): those of linux.seccomp.flags
	// (or runc's default), plus NEW_LISTENER when Notify is set.
	Flags uint `json:"flags,omitempty"`
	// Notify is set when a rule uses SCMP_ACT_NOTIFY: loading then returns a listener fd that
	// the runtime hands to the agent at linux.seccomp.listenerPath.
	Notify bool `json:"notify,omitempty"`
}

// Program is a classic-BPF program, the kernel's struct sock_filter array.
//
// It encodes to JSON as the base64 of its instructions, 8 little-endian bytes each (code u16,
// jt u8, jf u8, k u32): a Docker-sized profile on three architectures is over a thousand
// instructions, and as JSON objects it would be several times larger in every init config and
// state file.
type Program []unix.SockFilter

// insnSize is the size of one struct sock_filter.
const insnSize = 8

func (p Program) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.encode())
}

func (p *Program) UnmarshalJSON(data []byte) error {
	var raw []byte
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("decode seccomp program: %w", err)
	}
	prog, err := decodeProgram(raw, binary.LittleEndian)
	if err != nil {
		return err
	}
	*p = prog
	return nil
}

// encode lays the instructions out little-endian, so that the JSON is the same on every host.
func (p Program) encode() []byte {
	raw := make([]byte, 0, len(p)*insnSize)
	for _, insn := range p {
		raw = binary.LittleEndian.AppendUint16(raw, insn.Code)
		raw = append(raw, insn.Jt, insn.Jf)
		raw = binary.LittleEndian.AppendUint32(raw, insn.K)
	}
	return raw
}

// decodeProgram reads instructions laid out as encode writes them; libseccomp's export is the
// same layout in the host's byte order.
func decodeProgram(raw []byte, order binary.ByteOrder) (Program, error) {
	if len(raw)%insnSize != 0 {
		return nil, fmt.Errorf("decode seccomp program: %d bytes is not a whole number of %d-byte instructions", len(raw), insnSize)
	}
	prog := make(Program, 0, len(raw)/insnSize)
	for off := 0; off < len(raw); off += insnSize {
		prog = append(prog, unix.SockFilter{
			Code: order.Uint16(raw[off:]),
			Jt:   raw[off+2],
			Jf:   raw[off+3],
			K:    order.Uint32(raw[off+4:]),
		})
	}
	return prog, nil
}

// Error is a linux.seccomp field that cannot be turned into a filter. Field is the JSON path
// relative to linux.seccomp, such as "syscalls[2].action".
type Error struct {
	Field string
	Err   error
}

func (e *Error) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

func fieldErr(field, format string, args ...any) *Error {
	return &Error{Field: field, Err: fmt.Errorf(format, args...)}
}

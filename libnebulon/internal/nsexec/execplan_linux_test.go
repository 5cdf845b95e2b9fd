package nsexec

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// What the C stage sets an exec'd process up with is what the runtime planned: the C parser,
// run through cgo, on syncmsg's encoding, for a plan with every record and for the smallest one.
func TestCReadsTheExecPlanSyncmsgEncodes(t *testing.T) {
	sched := make([]byte, 56)
	for i := range sched {
		sched[i] = byte(i + 1)
	}
	full := &syncmsg.ExecPlan{
		Args: []string{"sh", "-c", "echo a b", ""}, Env: []string{"PATH=/bin", "EMPTY=", "SPACED=a b=c"},
		HomeFromUser: true, Cwd: "/srv/work", UID: 1000, GID: 1001, Groups: []uint32{2000, 3000}, Umask: 0o027,
		NoNewPrivs: true, Bounding: 1<<5 | 1<<40, Effective: 1 << 5, Permitted: 1<<5 | 1<<8, Inheritable: 1 << 8,
		Ambient:     []syncmsg.Capability{{Nr: 8, Name: "CAP_SETPCAP"}, {Nr: 40, Name: "cap_checkpoint_restore"}},
		Rlimits:     []syncmsg.Rlimit{{Resource: 7, Soft: 1024, Hard: 1 << 40, What: "process.rlimits RLIMIT_NOFILE"}, {Resource: 3, Soft: ^uint64(0), Hard: ^uint64(0), What: "process.rlimits RLIMIT_STACK"}},
		Sched:       &syncmsg.Raw{Data: sched, What: "process.scheduler SCHED_FIFO"},
		IOPrio:      &syncmsg.Value{N: 2<<13 | 4, What: "process.ioPriority IOPRIO_CLASS_BE 4"},
		Personality: &syncmsg.Value{N: 8, What: "linux.personality LINUX32"},
		MemPolicy:   &syncmsg.MemPolicy{Mode: 2, Nodes: bytes.Repeat([]byte{1, 0, 0, 0}, 32), What: `linux.memoryPolicy MPOL_BIND nodes "0"`},
		Affinity:    &syncmsg.Raw{Data: append([]byte{3}, make([]byte, 127)...), What: `process.execCPUAffinity.final "0-1"`},
		Terminal:    &syncmsg.Terminal{HasSize: true, Rows: 24, Cols: 80},
		AppArmor:    "nebulon-test", SELinux: "system_u:system_r:container_t:s0",
		SeccompFlags: 8 | 2, SeccompProgram: bytes.Repeat([]byte{0x06, 0, 0, 0, 0, 0, 0xff, 0x7f}, 3),
		PreserveFds: 2, CgroupMemory: true,
	}
	smallest := &syncmsg.ExecPlan{Args: []string{"true"}, Cwd: "/", Affinity: &syncmsg.Raw{}}
	for _, want := range []*syncmsg.ExecPlan{full, smallest} {
		got, err := parseExecPlan(want.Encode())
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("C parsed\n%+v\nencoded\n%+v", got, want)
		}
	}
}

// The C parser refuses a plan the runtime never sends, with a reason, rather than exec a
// process set up from part of it or read past the message.
func TestCRefusesMalformedExecPlans(t *testing.T) {
	good := (&syncmsg.ExecPlan{Args: []string{"true"}, Cwd: "/"}).Encode()
	noCwd := (&syncmsg.ExecPlan{Args: []string{"true"}}).Encode()
	noArgs := (&syncmsg.ExecPlan{Cwd: "/"}).Encode()
	short := append(append([]byte{}, good...), record(9, []byte("\x07\x00\x00\x00\x00"))...)
	odd := append(append([]byte{}, good...), record(18, []byte("\x00\x00\x00\x00\x01\x02\x03\x00"))...)
	unknown := append(append([]byte{}, good...), record(99, []byte{0})...)
	mask := append(append([]byte{}, good...), record(14, []byte("\xff\x00\x00\x00\x01\x00"))...)
	for name, c := range map[string]struct {
		payload []byte
		want    string
	}{
		"cut short":            {good[:len(good)-4], "malformed exec plan record"},
		"no cwd":               {removeRecord(t, noCwd, 4), "exec plan without cwd"},
		"no args":              {noArgs, "exec plan without args"},
		"rlimit too short":     {short, "record 9 of 5 bytes is too short"},
		"seccomp not 8-byte":   {odd, "seccomp program of 3 bytes"},
		"unknown record":       {unknown, "unknown record 99"},
		"mask past the record": {mask, "affinity mask of 255 bytes"},
	} {
		_, err := parseExecPlan(c.payload)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", name, err, c.want)
		}
	}
}

// removeRecord drops every record of type typ from an encoded plan.
func removeRecord(t *testing.T, payload []byte, typ uint16) []byte {
	t.Helper()
	var out []byte
	for off := 0; off+8 <= len(payload); {
		rtype := uint16(payload[off]) | uint16(payload[off+1])<<8
		rlen := int(payload[off+4]) | int(payload[off+5])<<8 | int(payload[off+6])<<16 | int(payload[off+7])<<24
		end := off + 8 + (rlen+3)&^3
		if rtype != typ {
			out = append(out, payload[off:end]...)
		}
		off = end
	}
	return out
}

// FuzzCExecPlan feeds the C exec plan parser arbitrary bytes: it must never crash or read out of
// bounds, and a plan syncmsg encodes must come back as it was.
func FuzzCExecPlan(f *testing.F) {
	plan := (&syncmsg.ExecPlan{Args: []string{"sh"}, Cwd: "/", Env: []string{"A=1"}, Groups: []uint32{1},
		Rlimits: []syncmsg.Rlimit{{Resource: 7, Soft: 1, Hard: 2, What: "w"}}, Affinity: &syncmsg.Raw{Data: []byte{1}, What: "a"},
		SeccompProgram: make([]byte, 16)}).Encode()
	f.Add(plan, "sh", "/")
	f.Add(record(13, []byte("\x02\x00\x00\x00\x10\x00\x00\x00")), "", "")
	f.Fuzz(func(t *testing.T, raw []byte, arg, cwd string) {
		parseExecPlan(raw) // must not crash
		if arg == "" || strings.ContainsRune(arg, 0) || strings.ContainsRune(cwd, 0) {
			return // the runtime never sends a NUL inside a string, nor no args
		}
		want := &syncmsg.ExecPlan{Args: []string{arg}, Cwd: cwd, Env: []string{arg}, SeccompProgram: raw[:len(raw)&^7]}
		if len(want.SeccompProgram) == 0 {
			want.SeccompProgram = nil
		}
		got, err := parseExecPlan(want.Encode())
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("C parsed %+v, encoded %+v", got, want)
		}
	})
}

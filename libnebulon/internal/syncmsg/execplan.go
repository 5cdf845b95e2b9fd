package syncmsg

import (
	"encoding/binary"
	"errors"
)

// Exec plan record types, in the bootstrap's record format (bootstrap.go): a u16 type, a u16
// zero, a u32 length, then the data, which ends with a NUL byte, padded to four bytes. Records
// with binary data put it first and a string after it. The numbers are the C stage's too
// (cheader.go); never renumber one.
const (
	planArg          = 1  // string: one of process.args, in order
	planEnv          = 2  // string: one KEY=VALUE of the environment, in order
	planHomeFromUser = 3  // -: HOME is missing or empty: take the user's from /etc/passwd
	planCwd          = 4  // string: process.cwd
	planUser         = 5  // u32 uid, u32 gid, u32 umask, then u32 additional gids to the end
	planNoNewPrivs   = 6  // -: process.noNewPrivileges
	planCaps         = 7  // u64 bounding, effective, permitted, inheritable
	planAmbient      = 8  // u32 capability, then its name: one to raise, in order
	planRlimit       = 9  // u32 resource, u32 zero, u64 soft, u64 hard, then the field's words
	planSched        = 10 // struct sched_attr (56 bytes), then the field's words
	planIOPrio       = 11 // u32 ioprio_set value, then the field's words
	planPersonality  = 12 // u32 persona, then the field's words
	planMemPolicy    = 13 // u32 mode, u32 mask bytes (0: NULL), the mask, then the field's words
	planAffinity     = 14 // u32 mask bytes (0: every CPU), the mask, then the field's words
	planTerminal     = 15 // u32 has a size, u16 rows, u16 columns
	planAppArmor     = 16 // string: process.apparmorProfile
	planSELinux      = 17 // string: process.selinuxLabel (SELinux enabled only)
	planSeccomp      = 18 // u32 seccomp(2) flags, then the program: 8-byte instructions
	planPreserveFds  = 19 // u32: --preserve-fds
	planCgroupMemory = 20 // -: the last two cgroup fds are the memory pair (InitConfig.CgroupMemory)
)

// planRecords names the record types for the C header.
var planRecords = []struct {
	name string
	n    int
}{
	{"arg", planArg}, {"env", planEnv}, {"home-from-user", planHomeFromUser}, {"cwd", planCwd},
	{"user", planUser}, {"no-new-privs", planNoNewPrivs}, {"caps", planCaps}, {"ambient", planAmbient},
	{"rlimit", planRlimit}, {"sched", planSched}, {"ioprio", planIOPrio}, {"personality", planPersonality},
	{"mempolicy", planMemPolicy}, {"affinity", planAffinity}, {"terminal", planTerminal},
	{"apparmor", planAppArmor}, {"selinux", planSELinux}, {"seccomp", planSeccomp},
	{"preserve-fds", planPreserveFds}, {"cgroup-memory", planCgroupMemory},
}

// ExecPlan (runtime -> an exec'd process's stage) is the process to set up and exec, resolved by
// the runtime down to the numbers the syscalls take: the C stage does the whole setup itself
// (nsexec's execproc_linux.c), so an exec starts no Go runtime in the container. Every field
// the runtime could check is checked before it is sent; "What" strings are the words of the
// error the C stage reports if the kernel refuses the value.
type ExecPlan struct {
	Args []string
	Env  []string // deduplicated: the last value of a key, at its first place
	// HomeFromUser: Env has no HOME, or an empty one (runc's rule): the stage sets HOME to the
	// user's home in the container's /etc/passwd, or /.
	HomeFromUser bool
	Cwd          string
	UID, GID     uint32
	Groups       []uint32
	Umask        uint32
	NoNewPrivs   bool
	// The capability sets, as bit masks of what this kernel knows.
	Bounding, Effective, Permitted, Inheritable uint64
	Ambient                                     []Capability // to raise, each in Permitted and Inheritable
	Rlimits                                     []Rlimit
	Sched                                       *Raw // struct sched_attr
	IOPrio                                      *Value
	Personality                                 *Value
	MemPolicy                                   *MemPolicy
	// Affinity is process.execCPUAffinity.final as a CPU mask, an empty mask to allow every
	// CPU (no affinity asked for), or nil to keep the one stage0 was born with (initial only).
	Affinity *Raw
	Terminal *Terminal
	AppArmor string
	SELinux  string
	// Seccomp: seccomp(2) flags (with NEW_LISTENER when the filter notifies) and program.
	SeccompFlags   uint32
	SeccompProgram []byte
	PreserveFds    uint32
	CgroupMemory   bool
}

// Capability is a capability's number and its name in the config.
type Capability struct {
	Nr   uint32
	Name string
}

// Rlimit is one of process.rlimits.
type Rlimit struct {
	Resource   uint32
	Soft, Hard uint64
	What       string
}

// Raw is a value passed as bytes, with the words of its error.
type Raw struct {
	Data []byte
	What string
}

// Value is a value passed as a number, with the words of its error.
type Value struct {
	N    uint32
	What string
}

// MemPolicy is linux.memoryPolicy: set_mempolicy(2)'s mode and node mask (nil: NULL).
type MemPolicy struct {
	Mode  uint32
	Nodes []byte
	What  string
}

// Terminal is process.terminal, with process.consoleSize when Rows or Cols is set.
type Terminal struct {
	HasSize    bool
	Rows, Cols uint16
}

func (*ExecPlan) msgType() Type { return typeExecPlan }

// Encode returns the records of the message, without the message type.
func (p *ExecPlan) Encode() []byte {
	b, _ := p.encode()
	return b
}

func (p *ExecPlan) encode() ([]byte, error) {
	var r records
	le := binary.LittleEndian
	u32 := func(vs ...uint32) []byte {
		var out []byte
		for _, v := range vs {
			out = le.AppendUint32(out, v)
		}
		return out
	}
	for _, a := range p.Args {
		r.add(planArg, []byte(a))
	}
	for _, e := range p.Env {
		r.add(planEnv, []byte(e))
	}
	if p.HomeFromUser {
		r.add(planHomeFromUser, nil)
	}
	r.add(planCwd, []byte(p.Cwd))
	r.add(planUser, append(u32(p.UID, p.GID, p.Umask), u32(p.Groups...)...))
	if p.NoNewPrivs {
		r.add(planNoNewPrivs, nil)
	}
	caps := le.AppendUint64(nil, p.Bounding)
	caps = le.AppendUint64(caps, p.Effective)
	caps = le.AppendUint64(caps, p.Permitted)
	r.add(planCaps, le.AppendUint64(caps, p.Inheritable))
	for _, c := range p.Ambient {
		r.add(planAmbient, append(u32(c.Nr), c.Name...))
	}
	for _, l := range p.Rlimits {
		d := le.AppendUint64(u32(l.Resource, 0), l.Soft)
		r.add(planRlimit, append(le.AppendUint64(d, l.Hard), l.What...))
	}
	if s := p.Sched; s != nil {
		r.add(planSched, append(append([]byte{}, s.Data...), s.What...))
	}
	if v := p.IOPrio; v != nil {
		r.add(planIOPrio, append(u32(v.N), v.What...))
	}
	if v := p.Personality; v != nil {
		r.add(planPersonality, append(u32(v.N), v.What...))
	}
	if m := p.MemPolicy; m != nil {
		d := append(u32(m.Mode, uint32(len(m.Nodes))), m.Nodes...)
		r.add(planMemPolicy, append(d, m.What...))
	}
	if a := p.Affinity; a != nil {
		d := append(u32(uint32(len(a.Data))), a.Data...)
		r.add(planAffinity, append(d, a.What...))
	}
	if t := p.Terminal; t != nil {
		has := uint32(0)
		if t.HasSize {
			has = 1
		}
		d := le.AppendUint16(u32(has), t.Rows)
		r.add(planTerminal, le.AppendUint16(d, t.Cols))
	}
	if p.AppArmor != "" {
		r.add(planAppArmor, []byte(p.AppArmor))
	}
	if p.SELinux != "" {
		r.add(planSELinux, []byte(p.SELinux))
	}
	if len(p.SeccompProgram) > 0 {
		r.add(planSeccomp, append(u32(p.SeccompFlags), p.SeccompProgram...))
	}
	r.add(planPreserveFds, u32(p.PreserveFds))
	if p.CgroupMemory {
		r.add(planCgroupMemory, nil)
	}
	return r.out, nil
}

func (p *ExecPlan) decode([]byte) error {
	return errors.New("only the C stage receives an exec plan")
}

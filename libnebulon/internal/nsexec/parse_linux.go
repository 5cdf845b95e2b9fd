package nsexec

/*
#include <stdlib.h>
#include "bootstrap.h"
#include "execplan.h"
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// parsed is what the C stage's parse_bootstrap read from a bootstrap message.
type parsed struct {
	cloneFlags  uint32
	joins       []join
	timeOffsets string
	hasOffsets  bool
	pidfd       *pidfdJoin
}

type pidfdJoin struct {
	fd          int
	first, then uint32
}

type join struct {
	flag uint32
	path string
}

// parseBootstrap runs the C stage's own parser on payload, for the tests: they check it against
// what syncmsg encodes, and fuzz it. The C stage itself never calls this.
func parseBootstrap(payload []byte) (*parsed, error) {
	buf := C.CBytes(payload)
	defer C.free(buf)
	var b C.struct_bootstrap
	var msg [256]C.char
	if C.parse_bootstrap((*C.char)(buf), C.size_t(len(payload)), &b, &msg[0], C.size_t(len(msg))) != 0 {
		return nil, errors.New(C.GoString(&msg[0]))
	}
	p := &parsed{cloneFlags: uint32(b.clone_flags)}
	for i := 0; i < int(b.njoin); i++ {
		j := b.joins[i]
		p.joins = append(p.joins, join{flag: uint32(j.flag), path: C.GoString(j.path)})
	}
	if b.time_offsets != nil {
		p.timeOffsets, p.hasOffsets = C.GoString(b.time_offsets), true
	}
	if b.has_pidfd != 0 {
		p.pidfd = &pidfdJoin{fd: int(b.pidfd), first: uint32(b.pidfd_first), then: uint32(b.pidfd_then)}
	}
	return p, nil
}

// parseExecPlan runs the C stage's exec plan parser on payload and returns what it read in
// syncmsg's terms, for the tests.
func parseExecPlan(payload []byte) (*syncmsg.ExecPlan, error) {
	buf := C.CBytes(payload)
	defer C.free(buf)
	var p C.struct_exec_plan
	var msg [256]C.char
	if C.parse_exec_plan((*C.char)(buf), C.size_t(len(payload)), &p, &msg[0], C.size_t(len(msg))) != 0 {
		return nil, errors.New(C.GoString(&msg[0]))
	}
	defer C.free_exec_plan(&p)
	strs := func(list **C.char, n C.int) []string {
		var out []string
		for _, s := range unsafe.Slice(list, n) {
			out = append(out, C.GoString(s))
		}
		return out
	}
	bytes := func(ptr *C.uchar, n C.uint32_t) []byte {
		if ptr == nil {
			return nil
		}
		return C.GoBytes(unsafe.Pointer(ptr), C.int(n))
	}
	plan := &syncmsg.ExecPlan{
		Args: strs(p.argv, p.argc), Env: strs(p.envp, p.envc), HomeFromUser: p.home_from_user != 0,
		Cwd: C.GoString(p.cwd), UID: uint32(p.uid), GID: uint32(p.gid), Umask: uint32(p.umask),
		NoNewPrivs: p.no_new_privs != 0, Bounding: uint64(p.bounding), Effective: uint64(p.effective),
		Permitted: uint64(p.permitted), Inheritable: uint64(p.inheritable),
		SeccompFlags: uint32(p.seccomp_flags), SeccompProgram: bytes(p.seccomp, p.seccomp_len*8),
		PreserveFds: uint32(p.preserve_fds), CgroupMemory: p.cgroup_memory != 0,
	}
	if p.ngroups > 0 {
		for _, g := range unsafe.Slice(p.groups, p.ngroups) {
			plan.Groups = append(plan.Groups, uint32(g))
		}
	}
	for _, a := range unsafe.Slice(p.ambient, p.nambient) {
		plan.Ambient = append(plan.Ambient, syncmsg.Capability{Nr: uint32(a.nr), Name: C.GoString(a.name)})
	}
	for _, r := range unsafe.Slice(p.rlimits, p.nrlimits) {
		plan.Rlimits = append(plan.Rlimits, syncmsg.Rlimit{Resource: uint32(r.resource), Soft: uint64(r.soft), Hard: uint64(r.hard), What: C.GoString(r.what)})
	}
	if p.has_sched != 0 {
		plan.Sched = &syncmsg.Raw{Data: C.GoBytes(unsafe.Pointer(&p.sched_attr[0]), 56), What: C.GoString(p.sched_what)}
	}
	value := func(v C.struct_plan_value) *syncmsg.Value {
		if v.set == 0 {
			return nil
		}
		return &syncmsg.Value{N: uint32(v.n), What: C.GoString(v.what)}
	}
	plan.IOPrio, plan.Personality = value(p.ioprio), value(p.personality)
	if p.has_mempolicy != 0 {
		plan.MemPolicy = &syncmsg.MemPolicy{Mode: uint32(p.mempolicy_mode), Nodes: bytes(p.mempolicy_nodes, p.mempolicy_len), What: C.GoString(p.mempolicy_what)}
	}
	if p.has_affinity != 0 {
		plan.Affinity = &syncmsg.Raw{Data: bytes(p.affinity, p.affinity_len), What: C.GoString(p.affinity_what)}
	}
	if p.terminal != 0 {
		plan.Terminal = &syncmsg.Terminal{HasSize: p.has_size != 0, Rows: uint16(p.rows), Cols: uint16(p.cols)}
	}
	if p.apparmor != nil {
		plan.AppArmor = C.GoString(p.apparmor)
	}
	if p.selinux != nil {
		plan.SELinux = C.GoString(p.selinux)
	}
	return plan, nil
}

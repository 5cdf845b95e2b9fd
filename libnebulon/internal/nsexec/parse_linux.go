package nsexec

/*
#include <stdlib.h>
#include "bootstrap.h"
*/
import "C"

import (
	"errors"
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

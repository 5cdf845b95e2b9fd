package devicefilter

import (
	"fmt"
	"math"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Device types and access bits, with the values of the kernel's BPF_DEVCG_DEV_* and
// BPF_DEVCG_ACC_* (include/uapi/linux/bpf.h), which are also v1's DEVCG_DEV_* and DEVCG_ACC_*.
const (
	typeBlock uint32 = 1
	typeChar  uint32 = 2

	accMknod uint32 = 1
	accRead  uint32 = 2
	accWrite uint32 = 4
	accAll          = accMknod | accRead | accWrite
)

// wildcard is a major or minor of "*": v1 stores it as ~0, so a rule naming 4294967295 is a
// wildcard there too.
const wildcard = math.MaxUint32

// exception is one entry of a v1 devices cgroup's exception list.
type exception struct {
	typ          uint32 // typeBlock or typeChar
	major, minor uint32 // wildcard matches any
	access       uint32 // accMknod|accRead|accWrite
}

// policy is what a v1 devices cgroup holds after the rules were written: a default and the
// exceptions to it. Under defaultAllow the exceptions deny, otherwise they allow.
type policy struct {
	defaultAllow bool
	exceptions   []exception
}

// request is one access check the kernel makes: of exactly one type, a concrete major and minor,
// and one or more access bits.
type request struct {
	typ, major, minor, access uint32
}

// newPolicy replays rules through the v1 model (see the package doc), from a new child of the
// v1 root: allow everything.
func newPolicy(rules []specs.LinuxDeviceCgroup) (policy, error) {
	p := policy{defaultAllow: true}
	for i, r := range rules {
		typ, ex, err := parseRule(r)
		if err != nil {
			return policy{}, fmt.Errorf("devices[%d]: %w", i, err)
		}
		if typ == "a" {
			p = policy{defaultAllow: r.Allow}
			continue
		}
		if r.Allow == p.defaultAllow {
			p.remove(ex)
		} else {
			p.add(ex)
		}
	}
	return p, nil
}

// add is v1's dev_exception_add: access is OR-ed into the exception with exactly ex's key.
func (p *policy) add(ex exception) {
	for i := range p.exceptions {
		if p.exceptions[i].sameKey(ex) {
			p.exceptions[i].access |= ex.access
			return
		}
	}
	p.exceptions = append(p.exceptions, ex)
}

// remove is v1's dev_exception_rm: access is taken from the exception with exactly ex's key
// only; a wildcard exception that covers ex is left whole.
func (p *policy) remove(ex exception) {
	kept := p.exceptions[:0]
	for _, e := range p.exceptions {
		if e.sameKey(ex) {
			e.access &^= ex.access
		}
		if e.access != 0 {
			kept = append(kept, e)
		}
	}
	p.exceptions = kept
}

func (e exception) sameKey(o exception) bool {
	return e.typ == o.typ && e.major == o.major && e.minor == o.minor
}

// covers reports whether e is about rq's device.
func (e exception) covers(rq request) bool {
	return e.typ == rq.typ &&
		(e.major == wildcard || e.major == rq.major) &&
		(e.minor == wildcard || e.minor == rq.minor)
}

// allows decides rq as v1's devcgroup_legacy_check_permission does: under default-deny one
// exception must hold all of the access asked for; under default-allow one exception sharing
// any of it denies.
func (p policy) allows(rq request) bool {
	for _, e := range p.exceptions {
		if !e.covers(rq) {
			continue
		}
		if p.defaultAllow && rq.access&e.access != 0 {
			return false
		}
		if !p.defaultAllow && rq.access&^e.access == 0 {
			return true
		}
	}
	return p.defaultAllow
}

// parseRule checks r and returns its type ("a", "b" or "c") and, for b and c, the exception it
// names. Empty type means "a" and empty access "rwm" (config-linux.md).
func parseRule(r specs.LinuxDeviceCgroup) (string, exception, error) {
	var ex exception
	switch r.Type {
	case "", "a":
	case "b":
		ex.typ = typeBlock
	case "c":
		ex.typ = typeChar
	default:
		return "", ex, fmt.Errorf("type %q is not a, b or c", r.Type)
	}
	var err error
	if ex.access, err = parseAccess(r.Access); err != nil {
		return "", ex, err
	}
	if ex.major, err = parseNumber("major", r.Major); err != nil {
		return "", ex, err
	}
	if ex.minor, err = parseNumber("minor", r.Minor); err != nil {
		return "", ex, err
	}
	if ex.typ == 0 {
		return "a", exception{}, nil
	}
	return r.Type, ex, nil
}

func parseAccess(s string) (uint32, error) {
	if s == "" {
		return accAll, nil
	}
	var acc uint32
	for _, c := range s {
		switch c {
		case 'r':
			acc |= accRead
		case 'w':
			acc |= accWrite
		case 'm':
			acc |= accMknod
		default:
			return 0, fmt.Errorf("access %q has letters other than r, w and m", s)
		}
	}
	return acc, nil
}

// parseNumber maps nil and -1 to the wildcard; the ctx the kernel gives the program holds 32 bits.
func parseNumber(what string, n *int64) (uint32, error) {
	switch {
	case n == nil || *n == -1:
		return wildcard, nil
	case *n < 0 || *n > math.MaxUint32:
		return 0, fmt.Errorf("%s %d is not -1 (any) or a number from 0 to %d", what, *n, uint32(math.MaxUint32))
	}
	return uint32(*n), nil
}

// String writes p the way v1's devices.list would, plus the default: for test failures.
func (p policy) String() string {
	var b strings.Builder
	if p.defaultAllow {
		b.WriteString("allow all, except deny")
	} else {
		b.WriteString("deny all, except allow")
	}
	for _, e := range p.exceptions {
		b.WriteString(" [" + e.String() + "]")
	}
	return b.String()
}

func (e exception) String() string {
	return fmt.Sprintf("%c %s:%s %s", typeLetter(e.typ), number(e.major), number(e.minor), accessString(e.access))
}

func (rq request) String() string {
	return fmt.Sprintf("%c %d:%d %s", typeLetter(rq.typ), rq.major, rq.minor, accessString(rq.access))
}

func typeLetter(typ uint32) byte {
	if typ == typeBlock {
		return 'b'
	}
	return 'c'
}

func number(n uint32) string {
	if n == wildcard {
		return "*"
	}
	return fmt.Sprint(n)
}

func accessString(acc uint32) string {
	var s []byte
	for _, a := range []struct {
		bit uint32
		c   byte
	}{{accRead, 'r'}, {accWrite, 'w'}, {accMknod, 'm'}} {
		if acc&a.bit != 0 {
			s = append(s, a.c)
		}
	}
	return string(s)
}

// Allowance is one device exception a default-deny policy allows, for a consumer outside this
// package (the systemd driver's DeviceAllow).
type Allowance struct {
	Type         byte   // 'b' or 'c'
	Major, Minor int64  // -1 for any
	Access       string // of r, w and m, in that order
}

// Allowances is what rules leave once replayed as the kernel replays them: whether every
// device is allowed (a default-allow policy, whose denials only the cgroup's own program can
// hold), and otherwise the exceptions allowed.
func Allowances(rules []specs.LinuxDeviceCgroup) (all bool, allowed []Allowance, err error) {
	p, err := newPolicy(rules)
	if err != nil {
		return false, nil, err
	}
	if p.defaultAllow {
		return true, nil, nil
	}
	num := func(n uint32) int64 {
		if n == wildcard {
			return -1
		}
		return int64(n)
	}
	for _, e := range p.exceptions {
		access := ""
		for _, a := range []struct {
			bit    uint32
			letter string
		}{{accRead, "r"}, {accWrite, "w"}, {accMknod, "m"}} {
			if e.access&a.bit != 0 {
				access += a.letter
			}
		}
		allowed = append(allowed, Allowance{Type: typeLetter(e.typ), Major: num(e.major), Minor: num(e.minor), Access: access})
	}
	return false, allowed, nil
}

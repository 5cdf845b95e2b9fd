package syncmsg

import (
	"encoding/binary"
	"errors"
)

// Bootstrap record types. A record is a u16 type, a u16 zero and a u32 length, then its data,
// padded to four bytes. Every record's data ends with a NUL byte so the C stage can use it as a
// string. The numbers are the C stage's too (cheader.go).
const (
	recCloneFlags  = 1 // u32: the namespaces to create
	recNsPath      = 2 // u32 clone flag, then the path of the namespace to join
	recTimeOffsets = 3 // text for /proc/self/timens_offsets
	recNsPidfd     = 4 // i32 fd, u32 flags joined first, u32 flags joined then: see PidfdJoin
	recOpenProc    = 5 // -: open the runtime's /proc before joining (Bootstrap.OpenProc)
)

// PidfdJoin is a process whose namespaces to join through a pidfd, which stage0 has as fd Fd:
// First (namespaces the process's user namespace does not own), then Then (its user namespace
// and those it owns). A pidfd names one process: a pid reused since cannot be joined.
type PidfdJoin struct {
	Fd          int
	First, Then uint32
}

// NsJoin is a namespace to join: its clone flag and the path of its nsfs file.
type NsJoin struct {
	Flag uint32
	Path string
}

// Bootstrap (runtime -> stage0) is what stage0 needs before the Go runtime exists. Only the C
// stage reads it (nsexec_linux.c, parse_bootstrap; the nsexec tests run that parser on what
// encode makes).
type Bootstrap struct {
	CloneFlags  uint32   // namespaces to create
	Join        []NsJoin // namespaces to join, by path, in this order but the user namespace first
	TimeOffsets string   // /proc/self/timens_offsets content, for a new time namespace
	Pidfd       *PidfdJoin
	// OpenProc: stage0 opens the runtime's /proc before it joins the mount namespace, for an
	// exec'd process that sets its LSM labels through /proc/thread-self/attr (the container's
	// /proc is the container's to fake).
	OpenProc bool
}

func (*Bootstrap) msgType() Type { return typeBootstrap }

// Encode returns the records of the message, without the message type.
func (b *Bootstrap) Encode() []byte {
	p, _ := b.encode()
	return p
}

func (b *Bootstrap) encode() ([]byte, error) {
	var r records
	r.add(recCloneFlags, binary.LittleEndian.AppendUint32(nil, b.CloneFlags))
	for _, j := range b.Join {
		data := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(j.Path)), j.Flag)
		r.add(recNsPath, append(data, j.Path...))
	}
	if b.TimeOffsets != "" {
		r.add(recTimeOffsets, []byte(b.TimeOffsets))
	}
	if j := b.Pidfd; j != nil {
		data := binary.LittleEndian.AppendUint32(nil, uint32(int32(j.Fd)))
		data = binary.LittleEndian.AppendUint32(data, j.First)
		r.add(recNsPidfd, binary.LittleEndian.AppendUint32(data, j.Then))
	}
	if b.OpenProc {
		r.add(recOpenProc, nil)
	}
	return r.out, nil
}

// records builds a message of records: the bootstrap's and the exec plan's.
type records struct{ out []byte }

// add appends a record of type typ with data, to which it adds the NUL byte that ends it.
func (r *records) add(typ uint16, data []byte) {
	hdr := make([]byte, 8, 8+len(data)+4)
	binary.LittleEndian.PutUint16(hdr, typ)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(data)+1))
	r.out = append(append(append(r.out, hdr...), data...), 0)
	for len(r.out)%4 != 0 {
		r.out = append(r.out, 0)
	}
}

func (b *Bootstrap) decode([]byte) error {
	return errors.New("only the C stage receives bootstrap")
}

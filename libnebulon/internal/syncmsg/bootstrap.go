package syncmsg

import (
	"encoding/binary"
)

// Bootstrap record types, shared with nsexec_linux.c: u16 type, u16 zero, u32 length, data padded to
// four bytes. Every record's data ends with a NUL byte so the C side can use it as a string.
const (
	recCloneFlags  = 1
	recNsPath      = 2
	recTimeOffsets = 3
)

// NsJoin is a namespace to join: its clone flag and the path of its nsfs file.
type NsJoin struct {
	Flag uint32
	Path string
}

// BootstrapData is what stage0 needs before the Go runtime exists.
type BootstrapData struct {
	CloneFlags  uint32   // namespaces to create
	Join        []NsJoin // namespaces to join, by path
	TimeOffsets string   // /proc/self/timens_offsets content, for a new time namespace
}

// Encode returns the records of the bootstrap message.
func (b *BootstrapData) Encode() []byte {
	var out []byte
	add := func(typ uint16, data []byte) {
		data = append(data, 0)
		hdr := make([]byte, 8)
		binary.LittleEndian.PutUint16(hdr, typ)
		binary.LittleEndian.PutUint32(hdr[4:], uint32(len(data)))
		out = append(out, hdr...)
		out = append(out, data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	flags := make([]byte, 4)
	binary.LittleEndian.PutUint32(flags, b.CloneFlags)
	add(recCloneFlags, flags)
	for _, j := range b.Join {
		data := make([]byte, 4, 4+len(j.Path))
		binary.LittleEndian.PutUint32(data, j.Flag)
		add(recNsPath, append(data, j.Path...))
	}
	if b.TimeOffsets != "" {
		add(recTimeOffsets, []byte(b.TimeOffsets))
	}
	return out
}

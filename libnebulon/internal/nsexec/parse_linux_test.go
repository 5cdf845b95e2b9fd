package nsexec

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/syncmsg"
)

// What the C stage reads is what the runtime encoded: the C parser, run through cgo, on
// syncmsg's encoding.
func TestCParserReadsWhatSyncmsgEncodes(t *testing.T) {
	for _, b := range []*syncmsg.Bootstrap{
		{},
		{CloneFlags: 0x7e020000},
		{CloneFlags: 0x20000, Join: []syncmsg.NsJoin{{Flag: 0x40000000, Path: "/proc/1/ns/net"}, {Flag: 0x10000000, Path: "/run/netns/x"}}},
		{CloneFlags: 0x80, TimeOffsets: "boottime 86400 0\nmonotonic 1 500"},
		{Join: []syncmsg.NsJoin{{Flag: 1, Path: "/a"}, {Flag: 2, Path: "/bb"}, {Flag: 4, Path: "/ccc"}, {Flag: 8, Path: "/dddd"}}},
		{Pidfd: &syncmsg.PidfdJoin{Fd: 4, First: 0x40000000, Then: 0x10000000 | 0x20000}},
	} {
		got, err := parseBootstrap(b.Encode())
		if err != nil {
			t.Fatalf("%+v: %v", b, err)
		}
		if want := fromGo(b); !reflect.DeepEqual(got, want) {
			t.Errorf("C parsed %+v, encoded %+v", got, want)
		}
	}
}

func fromGo(b *syncmsg.Bootstrap) *parsed {
	p := &parsed{cloneFlags: b.CloneFlags, timeOffsets: b.TimeOffsets, hasOffsets: b.TimeOffsets != ""}
	for _, j := range b.Join {
		p.joins = append(p.joins, join{flag: j.Flag, path: j.Path})
	}
	if j := b.Pidfd; j != nil {
		p.pidfd = &pidfdJoin{fd: j.Fd, first: j.First, then: j.Then}
	}
	return p
}

func record(typ uint16, data []byte) []byte {
	hdr := make([]byte, 8)
	binary.LittleEndian.PutUint16(hdr, typ)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(data)))
	out := append(hdr, data...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return out
}

// The C parser refuses what the runtime never sends, with a reason, rather than read past it.
func TestCParserRefusesMalformedRecords(t *testing.T) {
	full := (&syncmsg.Bootstrap{Join: []syncmsg.NsJoin{{Flag: 1, Path: "/p"}}}).Encode()
	var many []byte
	for i := 0; i < 17; i++ {
		many = append(many, record(2, []byte("\x01\x00\x00\x00/p\x00"))...)
	}
	for _, tc := range []struct {
		name, want string
		buf        []byte
	}{
		{"truncated", "malformed bootstrap record 2", full[:len(full)-4]},
		{"no NUL", "malformed bootstrap record 3", record(3, []byte("abcd"))},
		{"empty", "malformed bootstrap record 1", record(1, nil)},
		{"length past the end", "malformed bootstrap record 255 at 16", append(record(1, []byte("\x01\x00\x00\x00\x00")), 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f)},
		{"short clone flags", "bootstrap record 1 of 2 bytes is too short", record(1, []byte("\x01\x00"))},
		{"too many joins", "too many namespaces to join", many},
		{"short pidfd", "bootstrap record 4 of 9 bytes is too short", record(4, []byte("\x03\x00\x00\x00\x00\x00\x00\x40\x00"))},
		{"negative pidfd", "bootstrap pidfd -1 is not an fd", record(4, []byte("\xff\xff\xff\xff\x00\x00\x00\x40\x00\x00\x00\x10\x00"))},
	} {
		if _, err := parseBootstrap(tc.buf); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// FuzzCParser feeds the C parser arbitrary bytes: it must never crash or read out of bounds
// (every string it returns is NUL-terminated inside the buffer), and whatever syncmsg encodes
// must come back as it was.
func FuzzCParser(f *testing.F) {
	f.Add(uint32(0x20000), "/proc/1/ns/net", "monotonic 1 0", []byte(nil))
	f.Add(uint32(0), "", "", record(2, []byte("\x00\x00\x00\x40/x\x00")))
	f.Add(uint32(0x80), "/run/netns/a b", "boottime 5 5", []byte{1, 0, 0, 0, 255, 255, 255, 255})
	f.Fuzz(func(t *testing.T, flags uint32, path, offsets string, raw []byte) {
		parseBootstrap(raw) // must not crash
		if strings.ContainsRune(path, 0) || strings.ContainsRune(offsets, 0) {
			return // the runtime never sends a NUL inside a string
		}
		b := &syncmsg.Bootstrap{CloneFlags: flags, TimeOffsets: offsets}
		if path != "" {
			b.Join = []syncmsg.NsJoin{{Flag: flags, Path: path}}
		}
		got, err := parseBootstrap(b.Encode())
		if err != nil {
			t.Fatalf("%+v: %v", b, err)
		}
		if want := fromGo(b); !reflect.DeepEqual(got, want) {
			t.Fatalf("C parsed %+v, encoded %+v", got, want)
		}
	})
}

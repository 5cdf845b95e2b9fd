package syncmsg

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
)

func TestBootstrapRoundTripsAndPadsRecords(t *testing.T) {
	want := &BootstrapData{
		CloneFlags:  0x7e020000,
		Join:        []NsJoin{{Flag: 0x40000000, Path: "/proc/1/ns/net"}, {Flag: 0x04000000, Path: "/run/netns/x"}},
		TimeOffsets: "monotonic 1 0\nboottime 86400 0",
	}
	buf := want.Encode()
	if len(buf)%4 != 0 {
		t.Fatalf("encoded length %d is not a multiple of 4: the C reader expects padded records", len(buf))
	}
	got, err := DecodeBootstrap(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip = %+v, want %+v", got, want)
	}
}

func TestDecodeBootstrapRejectsATruncatedRecord(t *testing.T) {
	buf := (&BootstrapData{Join: []NsJoin{{Flag: 1, Path: "/p"}}}).Encode()
	if _, err := DecodeBootstrap(buf[:len(buf)-4]); err == nil {
		t.Fatal("a truncated record decoded without error")
	}
}

// DecodeBootstrap parses records made by Encode, as nsexec_linux.c does.
func DecodeBootstrap(buf []byte) (*BootstrapData, error) {
	b := &BootstrapData{}
	for off := 0; off+8 <= len(buf); {
		typ := binary.LittleEndian.Uint16(buf[off:])
		n := int(binary.LittleEndian.Uint32(buf[off+4:]))
		if n == 0 || off+8+n > len(buf) || buf[off+8+n-1] != 0 {
			return nil, fmt.Errorf("bootstrap record %d at %d: bad length %d", typ, off, n)
		}
		data := buf[off+8 : off+8+n-1]
		switch typ {
		case recCloneFlags:
			b.CloneFlags = binary.LittleEndian.Uint32(data)
		case recNsPath:
			b.Join = append(b.Join, NsJoin{Flag: binary.LittleEndian.Uint32(data), Path: string(data[4:])})
		case recTimeOffsets:
			b.TimeOffsets = string(data)
		}
		off += 8 + (n+3)&^3
	}
	return b, nil
}

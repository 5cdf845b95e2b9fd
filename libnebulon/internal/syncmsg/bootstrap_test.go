package syncmsg

import (
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

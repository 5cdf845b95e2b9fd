package systemd

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const procDevices = `Character devices:
  1 mem
  4 /dev/vc/0
  4 tty
136 pts
Block devices:
  8 sd
259 blkext
`

func TestDevicePropertiesDefaultDeny(t *testing.T) {
	rules := []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rwm"},
		{Allow: true, Type: "c", Major: ptr[int64](136), Access: "rw"},
		{Allow: true, Type: "b", Major: ptr[int64](8), Minor: ptr[int64](0), Access: "r"},
		{Allow: true, Type: "c", Access: "m"},
		{Allow: true, Type: "c", Major: ptr[int64](99), Access: "r"}, // no driver has 99
		{Allow: false, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "w"},
	}
	props, skipped, err := DeviceProperties(rules, procDevices)
	if err != nil {
		t.Fatal(err)
	}
	if len(props) != 2 || props[0].Name != "DevicePolicy" || props[0].Value.Value() != "strict" {
		t.Fatalf("props = %+v, want DevicePolicy=strict first", props)
	}
	want := []deviceAllow{{"/dev/char/1:3", "rm"}, {"char-pts", "rw"}, {"/dev/block/8:0", "r"}, {"char-*", "m"}}
	if got := props[1].Value.Value(); !reflect.DeepEqual(got, want) {
		t.Errorf("DeviceAllow = %#v\nwant %#v", got, want)
	}
	if !reflect.DeepEqual(skipped, []string{"c 99:* r"}) {
		t.Errorf("skipped = %q", skipped)
	}
}

func TestDevicePropertiesDefaultAllowIsAuto(t *testing.T) {
	props, _, err := DeviceProperties([]specs.LinuxDeviceCgroup{
		{Allow: true, Access: "rwm"}, {Allow: false, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](9), Access: "rwm"},
	}, procDevices)
	if err != nil {
		t.Fatal(err)
	}
	if props[0].Value.Value() != "auto" || reflect.ValueOf(props[1].Value.Value()).Len() != 0 {
		t.Errorf("props = %+v, want DevicePolicy=auto and an empty DeviceAllow", props)
	}
	if _, _, err := DeviceProperties([]specs.LinuxDeviceCgroup{{Allow: true, Type: "x"}}, ""); err == nil {
		t.Error("a rule of type x: no error")
	}
}

func TestParseProcDevicesKeepsTheFirstName(t *testing.T) {
	got := parseProcDevices(procDevices)
	if got['c'][4] != "/dev/vc/0" || got['c'][136] != "pts" || got['b'][8] != "sd" || len(got['b']) != 2 {
		t.Errorf("parseProcDevices = %v", got)
	}
}

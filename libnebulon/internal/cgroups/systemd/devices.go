package systemd

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/devicefilter"
)

// deviceAllow is one entry of systemd's DeviceAllow: a device node (or /dev/char/MAJ:MIN,
// /dev/block/MAJ:MIN), "char-DRIVER" or "block-DRIVER" from /proc/devices, or char-* / block-*;
// and its access, of r, w and m.
type deviceAllow struct {
	Path   string
	Access string
}

// DeviceProperties are DevicePolicy and DeviceAllow for the container's device rules, given
// /proc/devices' contents (for the driver names systemd wants for a wildcard minor). Rules that
// allow every device give DevicePolicy=auto and no list: systemd cannot list denials, which
// the cgroup's own program (devicefilter) holds. Otherwise DevicePolicy=strict with the allowed
// devices; an exception systemd cannot name (a wildcard minor of a major no driver has) is left
// to that program too and reported in skipped.
func DeviceProperties(rules []specs.LinuxDeviceCgroup, procDevices string) (props []sd.Property, skipped []string, err error) {
	all, allowed, err := devicefilter.Allowances(rules)
	if err != nil {
		return nil, nil, fmt.Errorf("linux.resources.%w", err)
	}
	if all {
		return []sd.Property{prop("DevicePolicy", "auto"), prop("DeviceAllow", []deviceAllow{})}, nil, nil
	}
	drivers := parseProcDevices(procDevices)
	list := []deviceAllow{}
	for _, a := range allowed {
		kind := "char"
		if a.Type == 'b' {
			kind = "block"
		}
		switch {
		case a.Major == -1:
			list = append(list, deviceAllow{kind + "-*", a.Access})
		case a.Minor == -1:
			name, ok := drivers[a.Type][a.Major]
			if !ok {
				skipped = append(skipped, fmt.Sprintf("%c %d:* %s", a.Type, a.Major, a.Access))
				continue
			}
			list = append(list, deviceAllow{kind + "-" + name, a.Access})
		default:
			list = append(list, deviceAllow{fmt.Sprintf("/dev/%s/%d:%d", kind, a.Major, a.Minor), a.Access})
		}
	}
	return []sd.Property{prop("DevicePolicy", "strict"), prop("DeviceAllow", list)}, skipped, nil
}

// parseProcDevices reads /proc/devices: the driver of each major, per type ('c', 'b').
func parseProcDevices(s string) map[byte]map[int64]string {
	out := map[byte]map[int64]string{'c': {}, 'b': {}}
	var typ byte
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "Character devices:":
			typ = 'c'
			continue
		case "Block devices:":
			typ = 'b'
			continue
		}
		major, name, ok := strings.Cut(line, " ")
		n, err := strconv.ParseInt(major, 10, 64)
		if !ok || err != nil || typ == 0 {
			continue
		}
		if _, seen := out[typ][n]; !seen { // the first name of a major, as systemd takes it
			out[typ][n] = strings.TrimSpace(name)
		}
	}
	return out
}

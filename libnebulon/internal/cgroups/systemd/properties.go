package systemd

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"

	sd "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
)

// infinity is systemd's "no limit" for the uint64 properties (UINT64_MAX, USEC_INFINITY).
const infinity = uint64(math.MaxUint64)

// defaultPeriod is the CFS period systemd and the kernel assume when none is given.
const defaultPeriod = 100000

func prop(name string, value any) sd.Property {
	return sd.Property{Name: name, Value: godbus.MakeVariant(value)}
}

// Properties are the unit properties for r on a host with cgroup v2 (v2) or v1, for systemd
// version version: what systemd models, so that a daemon-reload, which rewrites a unit's cgroup
// files from its properties, keeps the container's limits. The cgroup files are still written
// from r afterwards, as runc does, for what systemd does not model. The errors name the field.
func Properties(r *specs.LinuxResources, v2 bool, version int) ([]sd.Property, error) {
	if r == nil {
		return nil, nil
	}
	var props []sd.Property
	add := func(name string, value any) { props = append(props, prop(name, value)) }
	if m := r.Memory; m != nil {
		if err := memoryProperties(m, v2, add); err != nil {
			return nil, err
		}
	}
	if c := r.CPU; c != nil {
		if err := cpuProperties(c, v2, version, add); err != nil {
			return nil, err
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		switch limit := *p.Limit; {
		case limit < 0:
			add("TasksMax", infinity)
		case limit == 0:
			// The spec's 0 is "no processes"; systemd refuses TasksMax=0, and the cgroup
			// file gets 0 afterwards (pids.max 0 is what the spec asks).
			add("TasksMax", uint64(1))
		default:
			add("TasksMax", uint64(limit))
		}
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		if v2 {
			add("IOWeight", cgroups.BlkioWeightToIOWeight(*b.Weight))
		} else {
			add("BlockIOWeight", uint64(*b.Weight))
		}
	}
	if b := r.BlockIO; b != nil && v2 {
		for _, l := range []struct {
			name string
			devs []specs.LinuxThrottleDevice
		}{
			{"IOReadBandwidthMax", b.ThrottleReadBpsDevice}, {"IOWriteBandwidthMax", b.ThrottleWriteBpsDevice},
			{"IOReadIOPSMax", b.ThrottleReadIOPSDevice}, {"IOWriteIOPSMax", b.ThrottleWriteIOPSDevice},
		} {
			if len(l.devs) == 0 {
				continue
			}
			// systemd takes a device node; /dev/block/MAJ:MIN names one by its numbers.
			var limits []struct {
				Path  string
				Limit uint64
			}
			for _, d := range l.devs {
				limits = append(limits, struct {
					Path  string
					Limit uint64
				}{fmt.Sprintf("/dev/block/%d:%d", d.Major, d.Minor), d.Rate})
			}
			add(l.name, limits)
		}
	}
	if v2 && len(r.Unified) > 0 {
		if err := unifiedProperties(r.Unified, add); err != nil {
			return nil, err
		}
	}
	return props, nil
}

func memoryProperties(m *specs.LinuxMemory, v2 bool, add func(string, any)) error {
	limit := int64(0)
	if m.Limit != nil {
		limit = *m.Limit
	}
	name := "MemoryLimit" // v1's
	if v2 {
		name = "MemoryMax"
	}
	if limit != 0 {
		add(name, limitValue(limit))
	}
	if m.Reservation != nil && *m.Reservation != 0 && v2 {
		add("MemoryLow", limitValue(*m.Reservation))
	}
	if v2 && m.Swap != nil {
		swap, err := cgroups.SwapToV2(*m.Swap, limit)
		if err != nil {
			return fmt.Errorf("linux.resources.memory.swap: %w", err)
		}
		if swap != 0 {
			add("MemorySwapMax", limitValue(swap))
		}
	}
	return nil
}

func cpuProperties(c *specs.LinuxCPU, v2 bool, version int, add func(string, any)) error {
	idle := c.Idle != nil && *c.Idle == 1 && v2 && version >= 252
	switch {
	case idle:
		add("CPUWeight", uint64(0)) // systemd 252+: CPUWeight=idle
	case c.Shares != nil && *c.Shares != 0 && v2:
		add("CPUWeight", cgroups.CPUSharesToWeight(*c.Shares))
	case c.Shares != nil && *c.Shares != 0:
		add("CPUShares", *c.Shares)
	}
	period := uint64(0)
	if c.Period != nil {
		period = *c.Period
	}
	quota := int64(0)
	if c.Quota != nil {
		quota = *c.Quota
	}
	if period != 0 && version >= 242 {
		add("CPUQuotaPeriodUSec", period)
	}
	if quota != 0 || period != 0 {
		add("CPUQuotaPerSecUSec", QuotaPerSec(quota, period))
	}
	if version >= 244 && v2 { // systemd has no cpuset on v1
		for _, s := range []struct{ name, field, value string }{
			{"AllowedCPUs", "cpus", c.Cpus}, {"AllowedMemoryNodes", "mems", c.Mems},
		} {
			if s.value == "" {
				continue
			}
			bits, err := RangeToBits(s.value)
			if err != nil {
				return fmt.Errorf("linux.resources.cpu.%s %q: %w", s.field, s.value, err)
			}
			add(s.name, bits)
		}
	}
	return nil
}

// QuotaPerSec is CPUQuotaPerSecUSec for a CFS quota and period (0: the default period; a
// quota of 0 or less: no limit). systemd keeps the quota as a whole percentage of a CPU, so the
// value is rounded up to 10 ms a second, as runc rounds it; the cgroup file then gets the
// quota rounded the same way (RoundedQuota).
func QuotaPerSec(quota int64, period uint64) uint64 {
	if quota <= 0 {
		return infinity
	}
	if period == 0 {
		period = defaultPeriod
	}
	perSec := uint64(quota) * 1000000 / period
	if perSec%10000 != 0 {
		perSec = (perSec/10000 + 1) * 10000
	}
	return perSec
}

// RoundedQuota is the CFS quota that matches QuotaPerSec's rounding, for the cgroup file.
func RoundedQuota(quota int64, period uint64) int64 {
	if quota <= 0 {
		return quota
	}
	if period == 0 {
		period = defaultPeriod
	}
	return int64(QuotaPerSec(quota, period) * period / 1000000)
}

// unifiedProperties maps the linux.resources.unified entries systemd models; the others are
// only written to their files.
func unifiedProperties(unified map[string]string, add func(string, any)) error {
	bytes := map[string]string{"memory.high": "MemoryHigh", "memory.max": "MemoryMax",
		"memory.low": "MemoryLow", "memory.min": "MemoryMin", "memory.swap.max": "MemorySwapMax"}
	for key, value := range unified {
		value = strings.TrimSpace(value)
		field := "linux.resources.unified[" + strconv.Quote(key) + "]"
		switch {
		case bytes[key] != "":
			v, err := maxOrNumber(value)
			if err != nil {
				return fmt.Errorf("%s %q: %w", field, value, err)
			}
			add(bytes[key], v)
		case key == "pids.max":
			v, err := maxOrNumber(value)
			if err != nil {
				return fmt.Errorf("%s %q: %w", field, value, err)
			}
			add("TasksMax", v)
		case key == "cpu.weight":
			v, err := strconv.ParseUint(value, 10, 64)
			if err != nil || v < 1 || v > 10000 {
				return fmt.Errorf("%s %q: want a weight from 1 to 10000", field, value)
			}
			add("CPUWeight", v)
		case key == "cpu.max":
			quota, period, ok := strings.Cut(value, " ")
			p := uint64(defaultPeriod)
			if ok {
				n, err := strconv.ParseUint(period, 10, 64)
				if err != nil || n == 0 {
					return fmt.Errorf("%s %q: bad period", field, value)
				}
				p = n
				add("CPUQuotaPeriodUSec", p)
			}
			if quota == "max" {
				add("CPUQuotaPerSecUSec", infinity)
				break
			}
			q, err := strconv.ParseInt(quota, 10, 64)
			if err != nil || q <= 0 {
				return fmt.Errorf("%s %q: bad quota", field, value)
			}
			add("CPUQuotaPerSecUSec", QuotaPerSec(q, p))
		}
	}
	return nil
}

func maxOrNumber(s string) (uint64, error) {
	if s == "max" {
		return infinity, nil
	}
	return strconv.ParseUint(s, 10, 64)
}

// limitValue is a byte limit as systemd takes it: -1 (unlimited) is infinity.
func limitValue(v int64) uint64 {
	if v < 0 {
		return infinity
	}
	return uint64(v)
}

// RangeToBits turns a cpuset list ("0-3,8") into the byte array AllowedCPUs and
// AllowedMemoryNodes take: bit n for CPU n, lowest byte first.
func RangeToBits(list string) ([]byte, error) {
	bits := new(big.Int)
	for _, r := range strings.Split(list, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(r, "-")
		start, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", lo)
		}
		end := start
		if isRange {
			if end, err = strconv.ParseUint(hi, 10, 16); err != nil {
				return nil, fmt.Errorf("bad number %q", hi)
			}
			if start > end {
				return nil, fmt.Errorf("range %q runs backwards", r)
			}
		}
		for i := start; i <= end; i++ {
			bits.SetBit(bits, int(i), 1)
		}
	}
	out := bits.Bytes() // big-endian
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
		out[l], out[r] = out[r], out[l]
	}
	return out, nil
}

// PropertyAnnotation is the prefix of the config.json annotations that set a property of the
// container's unit with the driver, as runc's do: org.systemd.property.NAME=VALUE, VALUE in
// GVariant text form ("'inactive-or-failed'", "true", "uint64 100", "10").
const PropertyAnnotation = "org.systemd.property."

// AnnotationProperties are the unit properties annotations set (PropertyAnnotation), sorted by
// annotation, for the driver to add after its own. NAME is three or more ASCII letters. A
// property systemd documents as NAMESec (seconds) is NAMEUSec on D-Bus: a number given for
// NAMESec is converted, as runc does (TimeoutStopSec=10 is TimeoutStopUSec=10000000). The
// errors name the annotation and say what is wrong with it.
func AnnotationProperties(annotations map[string]string) ([]sd.Property, error) {
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, PropertyAnnotation) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	props := make([]sd.Property, 0, len(keys))
	for _, k := range keys {
		name, v := strings.TrimPrefix(k, PropertyAnnotation), annotations[k]
		if err := checkPropertyName(name); err != nil {
			return nil, fmt.Errorf("%q: the property name %q %v", k, name, err)
		}
		value, err := godbus.ParseVariant(v, godbus.Signature{})
		if err != nil {
			return nil, fmt.Errorf("%q: the value %q is not a GVariant: %v", k, v, err)
		}
		if base, ok := strings.CutSuffix(name, "Sec"); ok && base != "" && base[len(base)-1] >= 'a' && base[len(base)-1] <= 'z' {
			usec, err := secToUSec(value)
			if err != nil {
				return nil, fmt.Errorf("%q: the value %q: %v", k, v, err)
			}
			name, value = base+"USec", usec
		}
		props = append(props, sd.Property{Name: name, Value: value})
	}
	return props, nil
}

func checkPropertyName(s string) error {
	if len(s) < 3 {
		return errors.New("is shorter than three letters")
	}
	for i := range len(s) {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
			return errors.New("has a character that is not an ASCII letter")
		}
	}
	return nil
}

// secToUSec converts a number of seconds in any of GVariant's number types to microseconds.
func secToUSec(v godbus.Variant) (godbus.Variant, error) {
	const M = 1000000
	var sec float64
	switch n := reflect.ValueOf(v.Value()); n.Kind() {
	case reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Uint() > math.MaxUint64/M {
			return v, fmt.Errorf("%d seconds do not fit in microseconds", n.Uint())
		}
		return godbus.MakeVariant(n.Uint() * M), nil
	case reflect.Int16, reflect.Int32, reflect.Int64:
		sec = float64(n.Int())
	case reflect.Float64:
		sec = n.Float()
	default:
		return v, fmt.Errorf("a NAMESec property takes a number of seconds, not %s", v.Signature())
	}
	if sec < 0 || sec*M >= math.MaxUint64 || math.IsNaN(sec) {
		return v, fmt.Errorf("%v seconds is not a time span", sec)
	}
	return godbus.MakeVariant(uint64(math.Round(sec * M))), nil
}

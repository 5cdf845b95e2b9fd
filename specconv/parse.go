package specconv

import (
	"fmt"
	"math"
	"math/big"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// decimal is the number syntax of --memory and --cpus: digits with an optional fraction. Signs,
// exponents and fractions like 1/2 (which big.Rat would take) are refused.
var decimal = lazyRegexp(`^([0-9]+\.?[0-9]*|\.[0-9]+)$`)

// MinMemory is the smallest --memory docker accepts (moby's linuxMinMemory): with less, the
// runtime's init is OOM-killed in the container's cgroup before the container's process starts.
const MinMemory = 6 << 20

// memoryUnits are the --memory suffixes: binary multiples, as docker's (go-units RAMInBytes) are,
// with or without a trailing b or ib, in any case.
var memoryUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// ParseMemory parses --memory: "64m", "1g", "1.5g", "512k", "1048576" (bytes). A fraction of a
// byte is dropped. "0" is no limit, as with docker; anything else must be at least MinMemory.
func ParseMemory(s string) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(s[i:])
	mult, ok := memoryUnits[unit]
	if !ok || !decimal().MatchString(num) {
		return 0, fmt.Errorf("--memory %q: want a number of bytes with an optional k, m, g or t suffix", s)
	}
	r, _ := new(big.Rat).SetString(num)
	n, ok := floorInt64(r.Mul(r, big.NewRat(mult, 1)))
	if !ok {
		return 0, fmt.Errorf("--memory %q: too large", s)
	}
	if n != 0 && n < MinMemory {
		return 0, fmt.Errorf("--memory %q: below the minimum of 6m", s)
	}
	return n, nil
}

// CPUPeriod is the CFS period --cpus uses, docker's: 100ms.
const CPUPeriod = 100000

// minCPUQuota is the kernel's smallest CFS quota, 1ms (kernel/sched/core.c, tg_set_cfs_bandwidth
// refuses a quota below min_cfs_quota_period): 0.01 CPUs of a 100ms period.
const minCPUQuota = 1000

// ParseCPUs parses --cpus, a number of CPUs that may be fractional, into a CFS quota and period
// in microseconds, as docker does: "0.5" is 50000 of every 100000. A quota is rounded down to a
// whole microsecond. "0" is no limit (0, 0). More CPUs than the host has is not refused here:
// the kernel decides what a quota above the host's capacity means.
func ParseCPUs(s string) (quota int64, period uint64, err error) {
	if !decimal().MatchString(s) {
		return 0, 0, fmt.Errorf("--cpus %q: want a number of CPUs such as 0.5 or 2", s)
	}
	r, _ := new(big.Rat).SetString(s)
	q, ok := floorInt64(r.Mul(r, big.NewRat(CPUPeriod, 1)))
	if !ok {
		return 0, 0, fmt.Errorf("--cpus %q: too large", s)
	}
	if q == 0 && r.Sign() == 0 {
		return 0, 0, nil
	}
	if q < minCPUQuota {
		return 0, 0, fmt.Errorf("--cpus %q: below the minimum of 0.01 (the kernel's smallest quota is 1ms of each 100ms)", s)
	}
	return q, CPUPeriod, nil
}

// floorInt64 is r rounded down, when that fits an int64. r is not negative.
func floorInt64(r *big.Rat) (int64, bool) {
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// ParsePidsLimit parses --pids-limit: the most tasks the container may have. -1 and 0 are no
// limit, as with docker.
func ParsePidsLimit(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < -1 {
		return 0, fmt.Errorf("--pids-limit %q: want a whole number of tasks (-1 or 0: no limit)", s)
	}
	return n, nil
}

// ParseNetwork parses --network: none, host, container:ID|NAME, or the name of a network
// (bridge, the default one, or one made with nb network create), which the caller looks up.
func ParseNetwork(s string) (Network, error) {
	n := Network(s)
	if target, ok := n.Container(); ok {
		if !volumeName().MatchString(target) {
			return "", fmt.Errorf("--network %q: want container:ID or container:NAME", s)
		}
		return n, nil
	}
	if !volumeName().MatchString(s) {
		return "", fmt.Errorf("--network %q: want none, host, bridge, container:ID|NAME or a network's name", s)
	}
	return n, nil
}

// maxID is the largest uid or gid nb accepts, as runc's user library (moby/sys/user) does: ids
// are 32-bit, and (uid_t)-1 means "unchanged" to setresuid(2), so the top half is avoided.
const maxID = math.MaxInt32

// ParseID parses the number of --uid or --gid; flag names the option for the error.
func ParseID(flag, s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxID {
		return 0, fmt.Errorf("%s %q: want a number from 0 to %d", flag, s, maxID)
	}
	return uint32(n), nil
}

// volumeName is what a named volume may be called: the store's rule (internal/store), podman's.
// Docker asks for two characters at least; one is enough here.
var volumeName = lazyRegexp(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Volume is a parsed -v: Source is a volume name when Named, else an absolute host path.
type Volume struct {
	Source      string
	Destination string
	ReadOnly    bool
	Named       bool
}

// ParseVolume parses -v NAME:/path[:ro|rw] or -v /host/dir:/path[:ro|rw]. A source that starts
// with / is a host path; anything else must be a volume name. Paths are cleaned; the destination
// must be absolute and not / itself. Docker's anonymous volumes (-v /path alone) and its other
// mode words (z, Z, nocopy, propagation) are not supported, and say so.
func ParseVolume(s string) (Volume, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Volume{}, fmt.Errorf("-v %q: want NAME:/path[:ro] or /host/dir:/path[:ro]", s)
	}
	v := Volume{Source: parts[0]}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return Volume{}, fmt.Errorf("-v %q: unknown mode %q (ro or rw)", s, parts[2])
		}
	}
	switch {
	case strings.HasPrefix(v.Source, "/"):
		v.Source = path.Clean(v.Source)
	case volumeName().MatchString(v.Source):
		v.Named = true
	default:
		return Volume{}, fmt.Errorf("-v %q: %q is neither a volume name (letters, digits and _.-) nor an absolute host path", s, v.Source)
	}
	dst, err := containerPath(parts[1])
	if err != nil {
		return Volume{}, fmt.Errorf("-v %q: destination %w", s, err)
	}
	v.Destination = dst
	return v, nil
}

// containerPath checks and cleans a mount destination: absolute, and not / (the root is the
// root, not a mount).
func containerPath(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	p = path.Clean(p)
	if p == "/" {
		return "", fmt.Errorf("%q is the container's root", p)
	}
	return p, nil
}

// TmpfsDefaultOptions are the options of every --tmpfs mount: no set-uid programs or device nodes
// on a filesystem the container fills, and a sticky world-writable mode like /tmp's. Docker adds
// noexec too; nb does not, so a --tmpfs /tmp can hold the programs builds and tests make.
var TmpfsDefaultOptions = []string{"nosuid", "nodev", "mode=1777"}

// tmpfsOptionValue are the tmpfs(5) options with a value that --tmpfs takes, and their syntax.
var tmpfsOptionValue = map[string]func() *regexp.Regexp{
	"size":      lazyRegexp(`^([0-9]+[kKmMgG]?|[0-9]+%)$`),
	"nr_inodes": lazyRegexp(`^[0-9]+[kKmMgG]?$`),
	"mode":      lazyRegexp(`^[0-7]{1,4}$`),
	"uid":       lazyRegexp(`^[0-9]+$`),
	"gid":       lazyRegexp(`^[0-9]+$`),
}

// tmpfsFlagGroup maps each flag --tmpfs takes to the group whose last word wins.
var tmpfsFlagGroup = map[string]string{"ro": "ro", "rw": "ro", "exec": "exec", "noexec": "exec"}

// ParseTmpfs parses --tmpfs /path[:OPTIONS], OPTIONS being a comma-separated list of ro, rw,
// exec, noexec, size=, nr_inodes=, mode=, uid= and gid= (tmpfs(5)), e.g. /tmp:size=64m,mode=755.
func ParseTmpfs(s string) (Tmpfs, error) {
	dst, opts, hasOpts := strings.Cut(s, ":")
	d, err := containerPath(dst)
	if err != nil {
		return Tmpfs{}, fmt.Errorf("--tmpfs %q: %w", s, err)
	}
	t := Tmpfs{Destination: d}
	if hasOpts {
		t.Options = strings.Split(opts, ",")
	}
	if _, err := tmpfsOptions(t.Options); err != nil {
		return Tmpfs{}, fmt.Errorf("--tmpfs %q: %w", s, err)
	}
	return t, nil
}

// tmpfsOptions are TmpfsDefaultOptions with extra applied over them: an option replaces an
// earlier one of its kind (mode=, or ro against rw), in place, so the list stays in a fixed order.
func tmpfsOptions(extra []string) ([]string, error) {
	out := append([]string(nil), TmpfsDefaultOptions...)
	kinds := make([]string, len(out))
	for i, o := range out {
		kinds[i] = tmpfsOptionKind(o)
	}
	for _, o := range extra {
		if err := checkTmpfsOption(o); err != nil {
			return nil, err
		}
		kind := tmpfsOptionKind(o)
		if i := slices.Index(kinds, kind); i >= 0 {
			out[i] = o
			continue
		}
		out, kinds = append(out, o), append(kinds, kind)
	}
	return out, nil
}

func checkTmpfsOption(o string) error {
	if _, ok := tmpfsFlagGroup[o]; ok {
		return nil
	}
	k, v, ok := strings.Cut(o, "=")
	re := tmpfsOptionValue[k]
	if !ok || re == nil {
		return fmt.Errorf("unknown option %q (ro, rw, exec, noexec, size=, nr_inodes=, mode=, uid=, gid=)", o)
	}
	if !re().MatchString(v) {
		return fmt.Errorf("option %q: bad value %q", k, v)
	}
	return nil
}

func tmpfsOptionKind(o string) string {
	if g, ok := tmpfsFlagGroup[o]; ok {
		return g
	}
	k, _, _ := strings.Cut(o, "=")
	return k
}

// lazyRegexp compiles expr on its first use. Every start of the nebulon binary, a container's
// init included, runs this package's initialization: compiled there, its regexps cost each of
// them about a millisecond.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

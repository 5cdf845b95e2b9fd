package cgroups

import (
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// write is one cgroup file write that a resource asks for. Turning resources into writes is pure
// (v1Writes, v2Writes); which files the host has is checked when they are applied.
type write struct {
	field string   // the spec field below linux.resources, for errors: "memory.limit"
	ctrl  string   // the controller owning the file: a v1 subsystem or a v2 controller name
	files []string // the first of these that exists is written (io.bfq.weight, else io.weight)...
	vals  []string // ...with the value at the same index
	key   string   // for files holding a line per device or interface: the line's key ("8:0")
	// optional: skipped where the host has none of the files (a write the runtime adds of
	// its own accord, not one the spec asks for).
	optional bool
	// verify: the kernel may take the write and ignore it; reading back another value is an
	// error, not a limit silently missing.
	verify bool
}

func one(field, ctrl, file, value string) write {
	return write{field: field, ctrl: ctrl, files: []string{file}, vals: []string{value}}
}

func keyed(field, ctrl, file, value, key string) write {
	return write{field: field, ctrl: ctrl, files: []string{file}, vals: []string{value}, key: key}
}

// ResourceError is a resource the host refused or cannot honour, named by its spec field.
type ResourceError struct {
	Field string // below linux.resources, e.g. "memory.limit"
	Err   error
}

func (e *ResourceError) Error() string { return "linux.resources." + e.Field + ": " + e.Err.Error() }
func (e *ResourceError) Unwrap() error { return e.Err }

func resErr(field, format string, args ...any) error {
	return &ResourceError{Field: field, Err: fmt.Errorf(format, args...)}
}

func itoa(n int64) string              { return strconv.FormatInt(n, 10) }
func utoa(n uint64) string             { return strconv.FormatUint(n, 10) }
func devKey(major, minor int64) string { return fmt.Sprintf("%d:%d", major, minor) }

// writeList collects writes in the order they must be made.
type writeList []write

func (l *writeList) add(field, ctrl, file, value string) {
	*l = append(*l, one(field, ctrl, file, value))
}

// writeGroup turns one group of resources (memory, cpu, block I/O...) into writes, or refuses it.
type writeGroup func(r *specs.LinuxResources) ([]write, error)

// joinWrites runs the groups in turn and joins their writes, so the order of the groups is the
// order of the writes. The first group that refuses its resources stops the rest.
func joinWrites(r *specs.LinuxResources, groups ...writeGroup) ([]write, error) {
	var ws []write
	for _, group := range groups {
		gws, err := group(r)
		if err != nil {
			return nil, err
		}
		ws = append(ws, gws...)
	}
	return ws, nil
}

// v1Writes turns resources into cgroup v1 writes, in the order they must be made. Devices are
// not among them (see setV1Devices). 0 means unset for the numeric limits, as in runc.
func v1Writes(r *specs.LinuxResources) ([]write, error) {
	return joinWrites(r,
		v1MemoryWrites,
		v1CPUWrites, // and the cpuset
		pidsWrites,
		v1BlockIOWrites,
		v1HugetlbWrites,
		v1NetworkWrites,
		rdmaWrites,
		v1UnifiedWrites,
	)
}

func v1MemoryWrites(r *specs.LinuxResources) ([]write, error) {
	m := r.Memory
	if m == nil {
		return nil, nil
	}
	var ws writeList
	if m.Limit != nil && *m.Limit != 0 {
		ws.add("memory.limit", "memory", "memory.limit_in_bytes", itoa(*m.Limit))
	}
	swap, err := v1SwapWrites(m)
	if err != nil {
		return nil, err
	}
	ws = append(ws, swap...)
	if m.Reservation != nil && *m.Reservation != 0 {
		ws.add("memory.reservation", "memory", "memory.soft_limit_in_bytes", itoa(*m.Reservation))
	}
	if m.Kernel != nil && *m.Kernel != 0 {
		// Since Linux 5.16 the kernel accepts this write and ignores it: read it back.
		w := one("memory.kernel", "memory", "memory.kmem.limit_in_bytes", itoa(*m.Kernel))
		w.verify = true
		ws = append(ws, w)
	}
	if m.KernelTCP != nil && *m.KernelTCP != 0 {
		ws.add("memory.kernelTCP", "memory", "memory.kmem.tcp.limit_in_bytes", itoa(*m.KernelTCP))
	}
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			return nil, resErr("memory.swappiness", "%d is not in 0..100", *m.Swappiness)
		}
		ws.add("memory.swappiness", "memory", "memory.swappiness", utoa(*m.Swappiness))
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		ws.add("memory.disableOOMKiller", "memory", "memory.oom_control", "1")
	}
	if m.UseHierarchy != nil {
		ws.add("memory.useHierarchy", "memory", "memory.use_hierarchy", boolDigit(*m.UseHierarchy))
	}
	return ws, nil
}

// v1SwapWrites is memory.swap, which v1 takes as it is: the memory+swap limit (memsw).
func v1SwapWrites(m *specs.LinuxMemory) ([]write, error) {
	if m.Swap != nil && *m.Swap != 0 {
		if m.Limit != nil && *m.Limit > 0 && *m.Swap > 0 && *m.Swap < *m.Limit {
			return nil, resErr("memory.swap", "memory+swap limit %d is below the memory limit %d", *m.Swap, *m.Limit)
		}
		return []write{one("memory.swap", "memory", "memory.memsw.limit_in_bytes", itoa(*m.Swap))}, nil
	}
	if m.Swap == nil && m.Limit != nil && *m.Limit == -1 {
		// Unlimited memory with no word on swap lifts memory+swap too, as runc does: v1
		// keeps memory <= memory+swap, so an old memsw limit would refuse the -1. Where
		// swap is not accounted there is no memsw file, and nothing to lift.
		w := one("memory.swap", "memory", "memory.memsw.limit_in_bytes", "-1")
		w.optional = true
		return []write{w}, nil
	}
	return nil, nil
}

func v1CPUWrites(r *specs.LinuxResources) ([]write, error) {
	c := r.CPU
	if c == nil {
		return nil, nil
	}
	var ws writeList
	if c.Shares != nil && *c.Shares != 0 {
		ws.add("cpu.shares", "cpu", "cpu.shares", utoa(*c.Shares))
	}
	// The period first: a quota is checked against it.
	if c.Period != nil && *c.Period != 0 {
		ws.add("cpu.period", "cpu", "cpu.cfs_period_us", utoa(*c.Period))
	}
	if c.Quota != nil && *c.Quota != 0 {
		ws.add("cpu.quota", "cpu", "cpu.cfs_quota_us", itoa(*c.Quota))
	}
	if c.Burst != nil {
		ws.add("cpu.burst", "cpu", "cpu.cfs_burst_us", utoa(*c.Burst))
	}
	if c.RealtimePeriod != nil && *c.RealtimePeriod != 0 {
		ws.add("cpu.realtimePeriod", "cpu", "cpu.rt_period_us", utoa(*c.RealtimePeriod))
	}
	if c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0 {
		ws.add("cpu.realtimeRuntime", "cpu", "cpu.rt_runtime_us", itoa(*c.RealtimeRuntime))
	}
	cpuSameOnBoth(c, ws.add)
	return ws, nil
}

func v1BlockIOWrites(r *specs.LinuxResources) ([]write, error) {
	b := r.BlockIO
	if b == nil {
		return nil, nil
	}
	if err := checkWeights(b); err != nil {
		return nil, err
	}
	var ws writeList
	if b.Weight != nil && *b.Weight != 0 {
		w := utoa(uint64(*b.Weight))
		ws = append(ws, write{field: "blockIO.weight", ctrl: "blkio",
			files: []string{"blkio.weight", "blkio.bfq.weight"}, vals: []string{w, w}})
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		ws.add("blockIO.leafWeight", "blkio", "blkio.leaf_weight", utoa(uint64(*b.LeafWeight)))
	}
	ws = append(ws, v1WeightDeviceWrites(b)...)
	for _, t := range throttles(b) {
		for i, d := range t.devs {
			key := devKey(d.Major, d.Minor)
			ws = append(ws, keyed(fmt.Sprintf("blockIO.%s[%d]", t.field, i), "blkio",
				"blkio.throttle."+t.v1file, key+" "+utoa(d.Rate), key))
		}
	}
	return ws, nil
}

func v1WeightDeviceWrites(b *specs.LinuxBlockIO) []write {
	var ws []write
	for i, d := range b.WeightDevice {
		key := devKey(d.Major, d.Minor)
		if d.Weight != nil {
			v := key + " " + utoa(uint64(*d.Weight))
			ws = append(ws, write{field: fmt.Sprintf("blockIO.weightDevice[%d]", i), ctrl: "blkio",
				files: []string{"blkio.weight_device", "blkio.bfq.weight_device"}, vals: []string{v, v}, key: key})
		}
		if d.LeafWeight != nil {
			ws = append(ws, keyed(fmt.Sprintf("blockIO.weightDevice[%d].leafWeight", i), "blkio",
				"blkio.leaf_weight_device", key+" "+utoa(uint64(*d.LeafWeight)), key))
		}
	}
	return ws
}

func v1HugetlbWrites(r *specs.LinuxResources) ([]write, error) {
	return hugetlbWrites(r.HugepageLimits, "limit_in_bytes")
}

func v1NetworkWrites(r *specs.LinuxResources) ([]write, error) {
	n := r.Network
	if n == nil {
		return nil, nil
	}
	var ws writeList
	if n.ClassID != nil {
		ws.add("network.classID", "net_cls", "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10))
	}
	for i, p := range n.Priorities {
		ws = append(ws, keyed(fmt.Sprintf("network.priorities[%d]", i), "net_prio",
			"net_prio.ifpriomap", p.Name+" "+utoa(uint64(p.Priority)), p.Name))
	}
	return ws, nil
}

func v1UnifiedWrites(r *specs.LinuxResources) ([]write, error) {
	if len(r.Unified) > 0 {
		return nil, resErr("unified", "sets cgroup v2 files, and this host's controllers are cgroup v1")
	}
	return nil, nil
}

// v2Writes turns resources into cgroup v2 writes, converting v1 values (see convert.go). Devices
// are not among them: v2 confines devices with an eBPF program (devicefilter).
func v2Writes(r *specs.LinuxResources) ([]write, error) {
	return joinWrites(r,
		v2MemoryWrites,
		v2CPUWrites, // and the cpuset
		pidsWrites,
		v2BlockIOWrites,
		v2HugetlbWrites,
		v2NetworkWrites,
		rdmaWrites,
		v2UnifiedWrites,
	)
}

func v2MemoryWrites(r *specs.LinuxResources) ([]write, error) {
	m := r.Memory
	if m == nil {
		return nil, nil
	}
	var limit int64
	if m.Limit != nil {
		limit = *m.Limit
	}
	var ws writeList
	if limit != 0 {
		ws.add("memory.limit", "memory", "memory.max", v2Bytes(limit))
	}
	swap, err := v2SwapWrites(m, limit)
	if err != nil {
		return nil, err
	}
	ws = append(ws, swap...)
	if m.Reservation != nil && *m.Reservation != 0 {
		ws.add("memory.reservation", "memory", "memory.low", v2Bytes(*m.Reservation))
	}
	if err := checkV2Memory(m); err != nil {
		return nil, err
	}
	return ws, nil
}

// v2SwapWrites is memory.swap, a memory+swap limit, as memory.swap.max: swap alone (SwapToV2).
func v2SwapWrites(m *specs.LinuxMemory, limit int64) ([]write, error) {
	if m.Swap == nil && limit != -1 {
		return nil, nil
	}
	var swap int64
	if m.Swap != nil {
		swap = *m.Swap
	}
	v, err := SwapToV2(swap, limit)
	if err != nil {
		return nil, &ResourceError{Field: "memory.swap", Err: err}
	}
	if v == 0 && swap == 0 {
		return nil, nil
	}
	return []write{one("memory.swap", "memory", "memory.swap.max", v2Bytes(v))}, nil
}

// checkV2Memory refuses the v1 memory settings that cgroup v2 has no file for.
func checkV2Memory(m *specs.LinuxMemory) error {
	switch {
	case m.Kernel != nil && *m.Kernel != 0:
		return resErr("memory.kernel", "cgroup v2 has no kernel memory limit: kernel memory counts in memory.limit")
	case m.KernelTCP != nil && *m.KernelTCP != 0:
		return resErr("memory.kernelTCP", "cgroup v2 has no kernel TCP memory limit: it counts in memory.limit")
	case m.Swappiness != nil:
		return resErr("memory.swappiness", "cgroup v2 has no per-cgroup swappiness")
	case m.DisableOOMKiller != nil && *m.DisableOOMKiller:
		return resErr("memory.disableOOMKiller", "cgroup v2 cannot disable the OOM killer of a cgroup")
	case m.UseHierarchy != nil && !*m.UseHierarchy:
		return resErr("memory.useHierarchy", "cgroup v2 memory accounting is always hierarchical")
	}
	return nil
}

func v2CPUWrites(r *specs.LinuxResources) ([]write, error) {
	c := r.CPU
	if c == nil {
		return nil, nil
	}
	var ws writeList
	if c.Shares != nil && *c.Shares != 0 {
		ws.add("cpu.shares", "cpu", "cpu.weight", utoa(CPUSharesToWeight(*c.Shares)))
	}
	if v := v2CPUMax(c); v != "" {
		ws.add("cpu.quota", "cpu", "cpu.max", v)
	}
	if c.Burst != nil {
		ws.add("cpu.burst", "cpu", "cpu.max.burst", utoa(*c.Burst))
	}
	if (c.RealtimeRuntime != nil && *c.RealtimeRuntime != 0) || (c.RealtimePeriod != nil && *c.RealtimePeriod != 0) {
		return nil, resErr("cpu.realtimeRuntime", "cgroup v2 has no real-time CPU budget per cgroup")
	}
	cpuSameOnBoth(c, ws.add)
	return ws, nil
}

// v2CPUMax is the value of cpu.max, "QUOTA [PERIOD]" with max for no quota, or "" when the spec
// sets neither quota nor period.
func v2CPUMax(c *specs.LinuxCPU) string {
	var quota int64
	var period uint64
	if c.Quota != nil {
		quota = *c.Quota
	}
	if c.Period != nil {
		period = *c.Period
	}
	if quota == 0 && period == 0 {
		return ""
	}
	v := "max"
	if quota > 0 {
		v = itoa(quota)
	}
	if period != 0 {
		v += " " + utoa(period)
	}
	return v
}

func v2BlockIOWrites(r *specs.LinuxResources) ([]write, error) {
	b := r.BlockIO
	if b == nil {
		return nil, nil
	}
	if err := checkWeights(b); err != nil {
		return nil, err
	}
	var ws writeList
	if b.Weight != nil && *b.Weight != 0 {
		// io.bfq.weight takes the v1 range; io.weight (for io.cost) its own.
		ws = append(ws, write{field: "blockIO.weight", ctrl: "io", files: []string{"io.bfq.weight", "io.weight"},
			vals: []string{utoa(uint64(*b.Weight)), utoa(BlkioWeightToIOWeight(*b.Weight))}})
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		return nil, resErr("blockIO.leafWeight", "cgroup v2 has no leaf weight")
	}
	devs, err := v2WeightDeviceWrites(b)
	if err != nil {
		return nil, err
	}
	ws = append(ws, devs...)
	for _, t := range throttles(b) {
		for i, d := range t.devs {
			key := devKey(d.Major, d.Minor)
			ws = append(ws, keyed(fmt.Sprintf("blockIO.%s[%d]", t.field, i), "io",
				"io.max", key+" "+t.v2key+"="+v2Rate(d.Rate), key))
		}
	}
	return ws, nil
}

func v2WeightDeviceWrites(b *specs.LinuxBlockIO) ([]write, error) {
	var ws []write
	for i, d := range b.WeightDevice {
		key := devKey(d.Major, d.Minor)
		if d.LeafWeight != nil {
			return nil, resErr(fmt.Sprintf("blockIO.weightDevice[%d].leafWeight", i), "cgroup v2 has no leaf weight")
		}
		if d.Weight != nil {
			field := fmt.Sprintf("blockIO.weightDevice[%d]", i)
			ws = append(ws, write{field: field, ctrl: "io", files: []string{"io.bfq.weight", "io.weight"}, key: key,
				vals: []string{key + " " + utoa(uint64(*d.Weight)), key + " " + utoa(BlkioWeightToIOWeight(*d.Weight))}})
		}
	}
	return ws, nil
}

func v2HugetlbWrites(r *specs.LinuxResources) ([]write, error) {
	return hugetlbWrites(r.HugepageLimits, "max")
}

func v2NetworkWrites(r *specs.LinuxResources) ([]write, error) {
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return nil, resErr("network", "cgroup v2 has no net_cls or net_prio controller (use an eBPF program or tc)")
	}
	return nil, nil
}

func v2UnifiedWrites(r *specs.LinuxResources) ([]write, error) {
	var ws []write
	for _, key := range sortedKeys(r.Unified) {
		if key == "" || strings.ContainsAny(key, "/\x00") || key[0] == '.' {
			return nil, resErr("unified", "%q is not a cgroup file name", key)
		}
		ctrl, _, _ := strings.Cut(key, ".")
		if ctrl == "cgroup" {
			ctrl = ""
		}
		w := one("unified."+key, ctrl, key, r.Unified[key])
		if keyedFiles[key] {
			// One line per device: a rollback restores that device's line.
			w.key, _, _ = strings.Cut(strings.TrimSpace(r.Unified[key]), " ")
		}
		ws = append(ws, w)
	}
	return ws, nil
}

// pidsWrites is the same on v1 and v2: pids.max.
func pidsWrites(r *specs.LinuxResources) ([]write, error) {
	if r.Pids == nil || r.Pids.Limit == nil {
		return nil, nil
	}
	return []write{one("pids.limit", "pids", "pids.max", pidsMax(*r.Pids.Limit))}, nil
}

// hugetlbWrites are the hugetlb limits, one file per page size: hugetlb.<size>.<suffix>, where
// the suffix is limit_in_bytes on v1 and max on v2.
func hugetlbWrites(limits []specs.LinuxHugepageLimit, suffix string) ([]write, error) {
	var ws []write
	for i, h := range limits {
		field := fmt.Sprintf("hugepageLimits[%d]", i)
		if err := checkPageSize(field, h.Pagesize); err != nil {
			return nil, err
		}
		ws = append(ws, one(field, "hugetlb", "hugetlb."+h.Pagesize+"."+suffix, utoa(h.Limit)))
	}
	return ws, nil
}

// keyedFiles hold one line per device (or RDMA device); writing one line changes only that key.
var keyedFiles = map[string]bool{"io.max": true, "io.weight": true, "io.bfq.weight": true, "io.latency": true, "rdma.max": true}

// checkWeights checks block I/O weights against the spec's range, 10 to 1000 (0 is unset).
func checkWeights(b *specs.LinuxBlockIO) error {
	bad := func(w *uint16) bool { return w != nil && *w != 0 && (*w < 10 || *w > 1000) }
	switch {
	case bad(b.Weight):
		return resErr("blockIO.weight", "%d is not in 10..1000", *b.Weight)
	case bad(b.LeafWeight):
		return resErr("blockIO.leafWeight", "%d is not in 10..1000", *b.LeafWeight)
	}
	for i, d := range b.WeightDevice {
		if bad(d.Weight) {
			return resErr(fmt.Sprintf("blockIO.weightDevice[%d].weight", i), "%d is not in 10..1000", *d.Weight)
		}
		if bad(d.LeafWeight) {
			return resErr(fmt.Sprintf("blockIO.weightDevice[%d].leafWeight", i), "%d is not in 10..1000", *d.LeafWeight)
		}
	}
	return nil
}

// cpuSameOnBoth adds the cpu writes whose file and value are the same on v1 and v2: cpu.idle and
// the cpuset.
func cpuSameOnBoth(c *specs.LinuxCPU, add func(field, ctrl, file, value string)) {
	if c.Idle != nil {
		add("cpu.idle", "cpu", "cpu.idle", itoa(*c.Idle))
	}
	if c.Cpus != "" {
		add("cpu.cpus", "cpuset", "cpuset.cpus", c.Cpus)
	}
	if c.Mems != "" {
		add("cpu.mems", "cpuset", "cpuset.mems", c.Mems)
	}
}

type throttle struct {
	field, v1file, v2key string
	devs                 []specs.LinuxThrottleDevice
}

func throttles(b *specs.LinuxBlockIO) []throttle {
	return []throttle{
		{"throttleReadBpsDevice", "read_bps_device", "rbps", b.ThrottleReadBpsDevice},
		{"throttleWriteBpsDevice", "write_bps_device", "wbps", b.ThrottleWriteBpsDevice},
		{"throttleReadIOPSDevice", "read_iops_device", "riops", b.ThrottleReadIOPSDevice},
		{"throttleWriteIOPSDevice", "write_iops_device", "wiops", b.ThrottleWriteIOPSDevice},
	}
}

// rdmaWrites are the same on v1 and v2: one rdma.max line per device, in the order of the names.
func rdmaWrites(r *specs.LinuxResources) ([]write, error) {
	var ws []write
	for _, dev := range sortedKeys(r.Rdma) {
		l := r.Rdma[dev]
		if strings.ContainsAny(dev, " \n") || dev == "" {
			return nil, resErr("rdma", "%q is not an RDMA device name", dev)
		}
		var parts []string
		if l.HcaHandles != nil {
			parts = append(parts, "hca_handle="+utoa(uint64(*l.HcaHandles)))
		}
		if l.HcaObjects != nil {
			parts = append(parts, "hca_object="+utoa(uint64(*l.HcaObjects)))
		}
		if len(parts) == 0 {
			continue
		}
		ws = append(ws, keyed("rdma."+dev, "rdma", "rdma.max", dev+" "+strings.Join(parts, " "), dev))
	}
	return ws, nil
}

// checkPageSize accepts the spec's "<size><unit>B" page sizes (2MB, 1GB, 64KB), which are the
// kernel's hugetlb file names; whether the host has that size is checked when applied.
func checkPageSize(field, size string) error {
	num, ok := strings.CutSuffix(size, "B")
	if ok && len(num) > 1 && strings.ContainsAny(num[len(num)-1:], "KMG") {
		if _, err := strconv.ParseUint(num[:len(num)-1], 10, 32); err == nil {
			return nil
		}
	}
	return resErr(field+".pageSize", "%q is not a page size such as 2MB or 1GB", size)
}

func v2Bytes(n int64) string {
	if n == -1 {
		return "max"
	}
	return itoa(n)
}

func v2Rate(n uint64) string {
	if n == 0 {
		return "max" // 0 removes a v1 throttle: no limit
	}
	return utoa(n)
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

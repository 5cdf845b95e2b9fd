package cgroups

import (
	"bufio"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats read the controllers the host has; a controller it lacks leaves its part empty.

// userHz is the unit of cpuacct.stat: USER_HZ, 100 on every Linux ABI (times(2)).
const userHz = 100

func (m *v1Manager) Stats() (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	if dir, err := m.dirOf("cpuacct"); err == nil {
		s.CPU.Usage.Total = readUint(dir, "cpuacct.usage")
		s.CPU.Usage.Percpu = readUints(dir, "cpuacct.usage_percpu")
		kv := readKV(dir, "cpuacct.stat")
		s.CPU.Usage.User = kv["user"] * (1e9 / userHz)
		s.CPU.Usage.Kernel = kv["system"] * (1e9 / userHz)
	}
	if dir, err := m.dirOf("cpu"); err == nil {
		kv := readKV(dir, "cpu.stat")
		s.CPU.Throttling = Throttling{Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"]}
	}
	if dir, err := m.dirOf("memory"); err == nil {
		s.Memory.Raw = readKV(dir, "memory.stat")
		s.Memory.Cache = s.Memory.Raw["cache"]
		entry := func(prefix string) MemoryEntry {
			return MemoryEntry{
				Usage: readUint(dir, prefix+"usage_in_bytes"), Max: readUint(dir, prefix+"max_usage_in_bytes"),
				Limit: readUint(dir, prefix+"limit_in_bytes"), Failcnt: readUint(dir, prefix+"failcnt"),
			}
		}
		s.Memory.Usage = entry("memory.")
		s.Memory.Swap = entry("memory.memsw.")
		s.Memory.Kernel = entry("memory.kmem.")
		s.Memory.KernelTCP = entry("memory.kmem.tcp.")
	}
	if dir, err := m.dirOf("pids"); err == nil {
		s.Pids = Pids{Current: readUint(dir, "pids.current"), Limit: readUint(dir, "pids.max")}
	}
	if dir, err := m.dirOf("blkio"); err == nil {
		s.Blkio.IoServiceBytesRecursive = readV1Blkio(dir, "blkio.throttle.io_service_bytes_recursive")
		s.Blkio.IoServicedRecursive = readV1Blkio(dir, "blkio.throttle.io_serviced_recursive")
	}
	if dir, err := m.dirOf("hugetlb"); err == nil {
		for _, size := range hugePageSizes() {
			p := "hugetlb." + size + "."
			s.Hugetlb[size] = Hugetlb{Usage: readUint(dir, p+"usage_in_bytes"), Max: readUint(dir, p+"max_usage_in_bytes"), Failcnt: readUint(dir, p+"failcnt")}
		}
	}
	return s, nil
}

func (m *v2Manager) Stats() (*Stats, error) {
	dir := m.path
	if _, err := os.Stat(dir); err != nil {
		return nil, err
	}
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	cpu := readKV(dir, "cpu.stat")
	s.CPU.Usage = CPUUsage{Total: cpu["usage_usec"] * 1000, User: cpu["user_usec"] * 1000, Kernel: cpu["system_usec"] * 1000}
	s.CPU.Throttling = Throttling{Periods: cpu["nr_periods"], ThrottledPeriods: cpu["nr_throttled"], ThrottledTime: cpu["throttled_usec"] * 1000}
	s.Memory.Raw = readKV(dir, "memory.stat")
	s.Memory.Cache = s.Memory.Raw["file"]
	s.Memory.Usage = MemoryEntry{Usage: readUint(dir, "memory.current"), Max: readUint(dir, "memory.peak"),
		Limit: readUint(dir, "memory.max"), Failcnt: readKV(dir, "memory.events")["max"]}
	s.Memory.Swap = MemoryEntry{Usage: readUint(dir, "memory.swap.current"), Max: readUint(dir, "memory.swap.peak"),
		Limit: readUint(dir, "memory.swap.max"), Failcnt: readKV(dir, "memory.swap.events")["max"]}
	s.Pids = Pids{Current: readUint(dir, "pids.current"), Limit: readUint(dir, "pids.max")}
	s.Blkio = readIOStat(dir)
	for _, size := range hugePageSizes() {
		p := "hugetlb." + size + "."
		if _, err := os.Stat(filepath.Join(dir, p+"current")); err != nil {
			continue
		}
		s.Hugetlb[size] = Hugetlb{Usage: readUint(dir, p+"current"), Max: readUint(dir, p+"max"), Failcnt: readKV(dir, p+"events")["max"]}
	}
	return s, nil
}

// readUint reads a one-number file; "max" reads as the largest uint64 and a missing file as 0,
// as runc reports them.
func readUint(dir, file string) uint64 {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return math.MaxUint64
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func readUints(dir, file string) []uint64 {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	var out []uint64
	for _, f := range strings.Fields(string(data)) {
		n, _ := strconv.ParseUint(f, 10, 64)
		out = append(out, n)
	}
	return out
}

// readKV reads a flat keyed file ("key value" lines: cpu.stat, memory.stat, memory.events).
func readKV(dir, file string) map[string]uint64 {
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	defer f.Close()
	kv := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			kv[k] = n
		}
	}
	return kv
}

// readV1Blkio reads "MAJ:MIN Op value" lines, skipping the "Total" line.
func readV1Blkio(dir, file string) []BlkioEntry {
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	var out []BlkioEntry
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		major, minor, ok := parseDev(f[0])
		if !ok {
			continue
		}
		v, _ := strconv.ParseUint(f[2], 10, 64)
		out = append(out, BlkioEntry{Major: major, Minor: minor, Op: f[1], Value: v})
	}
	return out
}

// readIOStat reads io.stat ("MAJ:MIN rbytes=N wbytes=N rios=N wios=N ...") into runc's v1-shaped
// entries: bytes and operations, Read and Write.
func readIOStat(dir string) Blkio {
	var b Blkio
	data, err := os.ReadFile(filepath.Join(dir, "io.stat"))
	if err != nil {
		return b
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		major, minor, ok := parseDev(f[0])
		if !ok {
			continue
		}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			e := BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				b.IoServiceBytesRecursive = append(b.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				b.IoServicedRecursive = append(b.IoServicedRecursive, e)
			}
		}
	}
	return b
}

func parseDev(s string) (major, minor uint64, ok bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	ma, err1 := strconv.ParseUint(a, 10, 64)
	mi, err2 := strconv.ParseUint(b, 10, 64)
	return ma, mi, err1 == nil && err2 == nil
}

// hugePageSizes lists the host's huge page sizes as hugetlb file names ("2MB", "1GB"), from
// /sys/kernel/mm/hugepages/hugepages-<N>kB.
func hugePageSizes() []string {
	entries, _ := os.ReadDir("/sys/kernel/mm/hugepages")
	var sizes []string
	for _, e := range entries {
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(e.Name(), "hugepages-"), "kB"), 10, 64)
		if err != nil {
			continue
		}
		sizes = append(sizes, pageSizeName(kb))
	}
	return sizes
}

func pageSizeName(kb uint64) string {
	switch {
	case kb >= 1<<20 && kb%(1<<20) == 0:
		return strconv.FormatUint(kb>>20, 10) + "GB"
	case kb >= 1<<10 && kb%(1<<10) == 0:
		return strconv.FormatUint(kb>>10, 10) + "MB"
	}
	return strconv.FormatUint(kb, 10) + "KB"
}

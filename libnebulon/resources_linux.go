package libnebulon

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups/systemd"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/linuxspec"
	"github.com/nebulon-dev/nebulon/libnebulon/internal/resctrl"
)

// Stats is a container's resource usage, as `events` prints it.
type Stats = cgroups.Stats

// StatePaused is the status of a container whose cgroup is frozen. The runtime spec lists no such
// status; runc reports it, and engines expect it.
const StatePaused specs.ContainerState = "paused"

// ErrNotPaused is returned by Resume for a container that is not paused.
var ErrNotPaused = errors.New("container not paused")

// cgroup returns the manager of the container's cgroups, for what (the operation that needs them).
// A container made rootless by a user who may not make cgroups has none (cgroups.None): the
// operations on them fail, as runc's do ("cannot toggle freezer: cgroups not configured for
// container").
func (c *Container) cgroup(what string) (cgroups.Manager, error) {
	if len(c.state.CgroupPaths) == 0 {
		return nil, fmt.Errorf("%s: container %s has no cgroup: it was created rootless, by a user who may not make cgroups (none is delegated to it)", what, c.ID)
	}
	return loadCgroup(c.state), nil
}

// loadCgroup returns the manager of the cgroups in s: the systemd driver's when create used it.
func loadCgroup(s *State) cgroups.Manager {
	if s.SystemdUnit != nil {
		return systemd.Load(*s.SystemdUnit, s.SystemdUser, s.CgroupPaths)
	}
	return cgroups.Load(s.CgroupPaths)
}

// newCgroup returns the manager of a new container's cgroups: the systemd driver's with
// --systemd-cgroup (cgroupsPath "slice:prefix:name", and the unit properties annotations set;
// the user's systemd with user), the cgroupfs driver's otherwise. The errors name the field.
func newCgroup(spec *specs.Spec, id string, systemdDriver, user bool) (cgroups.Manager, error) {
	if !systemdDriver {
		m, err := cgroups.New(spec.Linux.CgroupsPath, id)
		if err != nil {
			return nil, linuxspec.Errorf("linux.cgroupsPath", "%v", err)
		}
		return m, nil
	}
	u, err := systemd.ParsePath(spec.Linux.CgroupsPath, id, user)
	if err != nil {
		return nil, linuxspec.Errorf("linux.cgroupsPath", "%v", err)
	}
	m, err := systemd.New(u, user)
	if err != nil {
		return nil, err
	}
	if err := m.SetAnnotations(spec.Annotations); err != nil {
		closeCgroup(m)
		return nil, linuxspec.Errorf("annotations", "%v", err)
	}
	return m, nil
}

// closeCgroup closes what a manager holds open: the systemd driver's bus connection.
func closeCgroup(m cgroups.Manager) {
	if c, ok := m.(interface{ Close() }); ok {
		c.Close()
	}
}

// Pause freezes every process of a created or running container.
func (c *Container) Pause() error {
	switch c.Status() {
	case specs.StateCreating:
		return c.errCreating()
	case specs.StateStopped:
		return ErrNotRunning
	case StatePaused:
		return fmt.Errorf("container %s is already paused", c.ID)
	}
	cg, err := c.cgroup("pause needs the freezer cgroup")
	if err != nil {
		return err
	}
	return cg.Freeze(true)
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if c.Status() != StatePaused {
		return ErrNotPaused
	}
	cg, err := c.cgroup("resume needs the freezer cgroup")
	if err != nil {
		return err
	}
	return cg.Freeze(false)
}

// Update changes the resource limits of a live container to what r sets; the rest stay. The
// saved spec is updated to match, so later commands see the limits in force. A failure leaves the
// old limits. Device rules are left as they are, as runc leaves them: engines send their whole
// resources on each update, and rewriting a live v1 allowlist starts from deny-all, which for a
// moment refuses even /dev/null to the running container.
func (c *Container) Update(r *specs.LinuxResources) error {
	switch c.Status() {
	case specs.StateCreating:
		return c.errCreating()
	case specs.StateStopped:
		return ErrNotRunning
	}
	spec, err := c.Spec()
	if err != nil {
		return err
	}
	cg, err := c.cgroup("update sets limits on the container's cgroup")
	if err != nil {
		return err
	}
	if len(r.Devices) > 0 {
		slog.Warn("update does not change linux.resources.devices", "id", c.ID)
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	merged := MergeResources(spec.Linux.Resources, r)
	if err := cg.Update(withDependents(r, merged)); err != nil {
		return err
	}
	spec.Linux.Resources = merged
	return c.store.saveSpec(spec)
}

// withDependents is r where each value that shares a file, or a conversion, with
// another carries that other's merged value: cpu quota and period (cpu.max on v2), memory limit
// and swap (memory.swap.max is swap minus limit on v2; v1 keeps memory <= memory+swap), and
// checkBeforeUpdate. `update --cpu-period 200000` thus keeps the quota in force.
func withDependents(r, merged *specs.LinuxResources) *specs.LinuxResources {
	a := *r
	if r.CPU != nil && (r.CPU.Quota != nil || r.CPU.Period != nil) {
		cpu := *r.CPU
		cpu.Quota, cpu.Period = merged.CPU.Quota, merged.CPU.Period
		a.CPU = &cpu
	}
	if r.Memory != nil {
		m := *r.Memory
		if m.Limit != nil || m.Swap != nil {
			m.Limit, m.Swap = merged.Memory.Limit, merged.Memory.Swap
		}
		m.CheckBeforeUpdate = merged.Memory.CheckBeforeUpdate
		a.Memory = &m
	}
	return &a
}

// Stats reads the container's resource usage.
func (c *Container) Stats() (*Stats, error) {
	if c.Status() == specs.StateStopped {
		return nil, ErrNotRunning
	}
	cg, err := c.cgroup("stats are read from the container's cgroup")
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// NotifyOOM reports the container's out-of-memory events (see cgroups.Manager).
func (c *Container) NotifyOOM() (<-chan struct{}, func(), error) {
	cg, err := c.cgroup("out-of-memory events come from the container's memory cgroup")
	if err != nil {
		return nil, nil, err
	}
	return cg.NotifyOOM()
}

// Processes lists the pids of the container's processes, as the host sees them.
func (c *Container) Processes() ([]int, error) {
	// A stopped container may still hold processes (without a pid namespace of its own they
	// outlive the init), and has none once they are gone: neither is an error, as in runc.
	stopped := c.Status() == specs.StateStopped
	if len(c.state.CgroupPaths) == 0 && !stopped {
		return c.pidNamespaceMembers()
	}
	cg, err := c.cgroup("ps lists the container's cgroup")
	if err != nil {
		return nil, err
	}
	pids, err := cg.Pids()
	if stopped && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(c.state.CgroupMade) != len(c.state.CgroupPaths) {
		if stopped {
			return nil, nil // no live init names the container's pid namespace
		}
		return c.inPidNamespace(pids)
	}
	return pids, nil
}

// MergeResources returns base with what upd sets replaced, field by field; entries keyed by a
// device, page size, interface or RDMA device replace the entry with that key. Device rules are
// base's (see Update). Unlimited memory with no word on swap makes swap unlimited too, as the
// kernel is told (see the cgroups package).
func MergeResources(base, upd *specs.LinuxResources) *specs.LinuxResources {
	var out specs.LinuxResources
	if base != nil {
		out = *base
	}
	if u := upd.Memory; u != nil {
		m := specs.LinuxMemory{}
		if out.Memory != nil {
			m = *out.Memory
		}
		m.Limit = pick(m.Limit, u.Limit)
		m.Reservation = pick(m.Reservation, u.Reservation)
		m.Swap = pick(m.Swap, u.Swap)
		if u.Limit != nil && *u.Limit == -1 && u.Swap == nil {
			unlimited := int64(-1)
			m.Swap = &unlimited
		}
		m.Kernel = pick(m.Kernel, u.Kernel)
		m.KernelTCP = pick(m.KernelTCP, u.KernelTCP)
		m.Swappiness = pick(m.Swappiness, u.Swappiness)
		m.DisableOOMKiller = pick(m.DisableOOMKiller, u.DisableOOMKiller)
		m.UseHierarchy = pick(m.UseHierarchy, u.UseHierarchy)
		m.CheckBeforeUpdate = pick(m.CheckBeforeUpdate, u.CheckBeforeUpdate)
		out.Memory = &m
	}
	if u := upd.CPU; u != nil {
		c := specs.LinuxCPU{}
		if out.CPU != nil {
			c = *out.CPU
		}
		c.Shares = pick(c.Shares, u.Shares)
		c.Quota = pick(c.Quota, u.Quota)
		c.Burst = pick(c.Burst, u.Burst)
		c.Period = pick(c.Period, u.Period)
		c.RealtimeRuntime = pick(c.RealtimeRuntime, u.RealtimeRuntime)
		c.RealtimePeriod = pick(c.RealtimePeriod, u.RealtimePeriod)
		c.Idle = pick(c.Idle, u.Idle)
		if u.Cpus != "" {
			c.Cpus = u.Cpus
		}
		if u.Mems != "" {
			c.Mems = u.Mems
		}
		out.CPU = &c
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if u := upd.BlockIO; u != nil {
		b := specs.LinuxBlockIO{}
		if out.BlockIO != nil {
			b = *out.BlockIO
		}
		b.Weight = pick(b.Weight, u.Weight)
		b.LeafWeight = pick(b.LeafWeight, u.LeafWeight)
		b.WeightDevice = mergeBy(b.WeightDevice, u.WeightDevice, func(d specs.LinuxWeightDevice) [2]int64 { return [2]int64{d.Major, d.Minor} })
		dev := func(d specs.LinuxThrottleDevice) [2]int64 { return [2]int64{d.Major, d.Minor} }
		b.ThrottleReadBpsDevice = mergeBy(b.ThrottleReadBpsDevice, u.ThrottleReadBpsDevice, dev)
		b.ThrottleWriteBpsDevice = mergeBy(b.ThrottleWriteBpsDevice, u.ThrottleWriteBpsDevice, dev)
		b.ThrottleReadIOPSDevice = mergeBy(b.ThrottleReadIOPSDevice, u.ThrottleReadIOPSDevice, dev)
		b.ThrottleWriteIOPSDevice = mergeBy(b.ThrottleWriteIOPSDevice, u.ThrottleWriteIOPSDevice, dev)
		out.BlockIO = &b
	}
	out.HugepageLimits = mergeBy(out.HugepageLimits, upd.HugepageLimits, func(h specs.LinuxHugepageLimit) string { return h.Pagesize })
	if u := upd.Network; u != nil {
		n := specs.LinuxNetwork{}
		if out.Network != nil {
			n = *out.Network
		}
		n.ClassID = pick(n.ClassID, u.ClassID)
		n.Priorities = mergeBy(n.Priorities, u.Priorities, func(p specs.LinuxInterfacePriority) string { return p.Name })
		out.Network = &n
	}
	out.Rdma = mergeMap(out.Rdma, upd.Rdma)
	out.Unified = mergeMap(out.Unified, upd.Unified)
	return &out
}

// mergeBy returns old with each entry of upd replacing the entry of the same key, or appended.
func mergeBy[T any, K comparable](old, upd []T, key func(T) K) []T {
	if len(upd) == 0 {
		return old
	}
	out := append([]T(nil), old...)
	for _, u := range upd {
		i := slices.IndexFunc(out, func(o T) bool { return key(o) == key(u) })
		if i < 0 {
			out = append(out, u)
		} else {
			out[i] = u
		}
	}
	return out
}

func mergeMap[V any](old, upd map[string]V) map[string]V {
	if len(upd) == 0 {
		return old
	}
	out := maps.Clone(old)
	if out == nil {
		out = map[string]V{}
	}
	maps.Copy(out, upd)
	return out
}

func pick[T any](old, new *T) *T {
	if new != nil {
		return new
	}
	return old
}

// UpdateIntelRdt writes new Intel RDT schemata for a live container (update --l3-cache-schema,
// --mem-bw-schema). A container created without linux.intelRdt gets a resctrl group of its own
// now, with its init in it, as runc does.
func (c *Container) UpdateIntelRdt(r *specs.LinuxIntelRdt) error {
	switch c.Status() {
	case specs.StateCreating:
		return c.errCreating()
	case specs.StateStopped:
		return ErrNotRunning
	}
	root, err := checkIntelRdt(r)
	if err != nil {
		return err
	}
	if g := c.state.IntelRdt; g != nil {
		return g.Update(r)
	}
	g, err := resctrl.Apply(root, c.ID, r, c.state.InitPid)
	if err != nil {
		return fmt.Errorf("linux.intelRdt: %w", err)
	}
	c.state.IntelRdt = g
	return c.store.save(c.state)
}

// pidNamespaceMembers lists the processes in the container init's pid namespace, for a container
// without a cgroup (rootless): they are the container's, and only they, when it has a pid
// namespace of its own. runc's ps fails there; this is what ps can still tell.
func (c *Container) pidNamespaceMembers() ([]int, error) {
	own, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", c.state.InitPid))
	if err != nil {
		return nil, fmt.Errorf("container %s: the pid namespace of its init: %w", c.ID, err)
	}
	// A pid namespace joined by path holds others' processes too (kill --all refuses it alike).
	if host, _ := os.Readlink("/proc/self/ns/pid"); own == host || !c.ownPidNamespace() {
		return nil, fmt.Errorf("container %s has no cgroup (created rootless, by a user who may not make cgroups) and no pid namespace of its own: its processes cannot be told from others", c.ID)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err == nil && ns == own {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

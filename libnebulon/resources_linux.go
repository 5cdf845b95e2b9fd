package libnebulon

import (
	"errors"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nebulon-dev/nebulon/libnebulon/internal/cgroups"
)

// Stats is a container's resource usage, as `events` prints it.
type Stats = cgroups.Stats

// StatePaused is the status of a container whose cgroup is frozen. The runtime spec lists no such
// status; runc reports it, and engines expect it.
const StatePaused specs.ContainerState = "paused"

// ErrNotPaused is returned by Resume for a container that is not paused.
var ErrNotPaused = errors.New("container not paused")

func (c *Container) cgroup() (cgroups.Manager, error) {
	if len(c.state.CgroupPaths) == 0 {
		return nil, fmt.Errorf("container %s has no cgroup", c.ID)
	}
	return cgroups.Load(c.state.CgroupPaths), nil
}

// Pause freezes every process of a created or running container.
func (c *Container) Pause() error {
	switch c.Status() {
	case specs.StateStopped:
		return ErrNotRunning
	case StatePaused:
		return fmt.Errorf("container %s is already paused", c.ID)
	}
	cg, err := c.cgroup()
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
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	return cg.Freeze(false)
}

// Update changes the resource limits of a live container to what r sets; the rest stay. The
// saved spec is updated to match, so later commands see the limits in force. A failure leaves the
// old limits.
func (c *Container) Update(r *specs.LinuxResources) error {
	if c.Status() == specs.StateStopped {
		return ErrNotRunning
	}
	spec, err := c.store.loadSpec()
	if err != nil {
		return err
	}
	cg, err := c.cgroup()
	if err != nil {
		return err
	}
	apply := *r
	if len(r.Devices) > 0 {
		// The rule list is rebuilt whole, as create built it: deny all, the given rules, the
		// defaults.
		apply.Devices = cgroupResources(&specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Devices: r.Devices}}}).Devices
	}
	if err := cg.Update(&apply); err != nil {
		return err
	}
	if spec.Linux == nil {
		spec.Linux = &specs.Linux{}
	}
	spec.Linux.Resources = MergeResources(spec.Linux.Resources, r)
	return c.store.saveSpec(spec)
}

// Stats reads the container's resource usage.
func (c *Container) Stats() (*Stats, error) {
	if c.Status() == specs.StateStopped {
		return nil, ErrNotRunning
	}
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// NotifyOOM reports the container's out-of-memory events (see cgroups.Manager).
func (c *Container) NotifyOOM() (<-chan struct{}, func(), error) {
	cg, err := c.cgroup()
	if err != nil {
		return nil, nil, err
	}
	return cg.NotifyOOM()
}

// Processes lists the pids of the container's processes, as the host sees them.
func (c *Container) Processes() ([]int, error) {
	if c.Status() == specs.StateStopped {
		return nil, ErrNotRunning
	}
	cg, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	pids, err := cg.Pids()
	if err != nil {
		return nil, err
	}
	if len(c.state.CgroupMade) != len(c.state.CgroupPaths) {
		return c.inPidNamespace(pids)
	}
	return pids, nil
}

// MergeResources returns base with every field that upd sets replaced; device rules are
// appended, as each update's rules add to the list.
func MergeResources(base, upd *specs.LinuxResources) *specs.LinuxResources {
	var out specs.LinuxResources
	if base != nil {
		out = *base
	}
	if upd.Memory != nil {
		m := specs.LinuxMemory{}
		if out.Memory != nil {
			m = *out.Memory
		}
		u := upd.Memory
		m.Limit = pick(m.Limit, u.Limit)
		m.Reservation = pick(m.Reservation, u.Reservation)
		m.Swap = pick(m.Swap, u.Swap)
		m.Kernel = pick(m.Kernel, u.Kernel)
		m.KernelTCP = pick(m.KernelTCP, u.KernelTCP)
		m.Swappiness = pick(m.Swappiness, u.Swappiness)
		m.DisableOOMKiller = pick(m.DisableOOMKiller, u.DisableOOMKiller)
		m.UseHierarchy = pick(m.UseHierarchy, u.UseHierarchy)
		m.CheckBeforeUpdate = pick(m.CheckBeforeUpdate, u.CheckBeforeUpdate)
		out.Memory = &m
	}
	if upd.CPU != nil {
		c := specs.LinuxCPU{}
		if out.CPU != nil {
			c = *out.CPU
		}
		u := upd.CPU
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
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if len(upd.HugepageLimits) > 0 {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Network != nil {
		out.Network = upd.Network
	}
	if len(upd.Rdma) > 0 {
		out.Rdma = upd.Rdma
	}
	if len(upd.Unified) > 0 {
		u := map[string]string{}
		for k, v := range out.Unified {
			u[k] = v
		}
		for k, v := range upd.Unified {
			u[k] = v
		}
		out.Unified = u
	}
	out.Devices = append(out.Devices, upd.Devices...)
	return &out
}

func pick[T any](old, new *T) *T {
	if new != nil {
		return new
	}
	return old
}

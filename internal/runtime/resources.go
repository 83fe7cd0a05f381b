package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/cgroups"
)

// Pause freezes every process of a running (or, as runc, created)
// container.
func (c *Container) Pause() error {
	if st := c.Status(); st != Running && st != Created {
		return ErrStopped
	}
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return err
	}
	return cg.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if st := c.Status(); st != Paused {
		return ErrNotPaused
	}
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Update changes the limits of a live container and records them, so that
// the stored config says what is enforced. In an update, as in runc's, a
// zero is "leave as it is" (Docker's and containerd's updates send every
// field, zero where the user did not ask for a change).
func (c *Container) Update(r *specs.LinuxResources) error {
	switch st := c.Status(); st {
	case Created, Running, Paused:
	default:
		return fmt.Errorf("cannot update a container in the %s state", st)
	}
	r = UnchangedZeros(r)
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return err
	}
	if err := cg.Set(r); err != nil {
		return err
	}
	c.State.Config.Linux.Resources = mergeResources(c.State.Config.Linux.Resources, r)
	if err := c.save(); err != nil {
		return err
	}
	// The stored plan says what is enforced: the new limits.
	a, err := c.Applied()
	if errors.Is(err, ErrNoPlan) {
		return nil
	}
	if err != nil {
		return err
	}
	a.Plan.Resources = c.State.Config.Linux.Resources
	return c.savePlan(a)
}

// mergeResources lays the fields set in u over old.
func mergeResources(old, u *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		old = &specs.LinuxResources{}
	}
	out := *old
	if u.Memory != nil {
		m := specs.LinuxMemory{}
		if old.Memory != nil {
			m = *old.Memory
		}
		set := func(dst **int64, v *int64) {
			if v != nil {
				*dst = v
			}
		}
		set(&m.Limit, u.Memory.Limit)
		set(&m.Reservation, u.Memory.Reservation)
		set(&m.Swap, u.Memory.Swap)
		set(&m.KernelTCP, u.Memory.KernelTCP)
		if u.Memory.Swappiness != nil {
			m.Swappiness = u.Memory.Swappiness
		}
		out.Memory = &m
	}
	if u.CPU != nil {
		cpu := specs.LinuxCPU{}
		if old.CPU != nil {
			cpu = *old.CPU
		}
		if u.CPU.Shares != nil {
			cpu.Shares = u.CPU.Shares
		}
		if u.CPU.Quota != nil {
			cpu.Quota = u.CPU.Quota
		}
		if u.CPU.Period != nil {
			cpu.Period = u.CPU.Period
		}
		if u.CPU.RealtimeRuntime != nil {
			cpu.RealtimeRuntime = u.CPU.RealtimeRuntime
		}
		if u.CPU.RealtimePeriod != nil {
			cpu.RealtimePeriod = u.CPU.RealtimePeriod
		}
		if u.CPU.Cpus != "" {
			cpu.Cpus = u.CPU.Cpus
		}
		if u.CPU.Mems != "" {
			cpu.Mems = u.CPU.Mems
		}
		out.CPU = &cpu
	}
	if u.Pids != nil {
		out.Pids = u.Pids
	}
	if u.BlockIO != nil {
		out.BlockIO = u.BlockIO
	}
	if len(u.Devices) > 0 {
		out.Devices = u.Devices
	}
	if len(u.HugepageLimits) > 0 {
		out.HugepageLimits = u.HugepageLimits
	}
	if len(u.Unified) > 0 {
		out.Unified = u.Unified
	}
	return &out
}

// Stats returns the container's cgroup counters.
func (c *Container) Stats() (*cgroups.Stats, error) {
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// OOMKills returns how many processes of the container the kernel's OOM
// killer has killed.
func (c *Container) OOMKills() (uint64, error) {
	cg, err := cgroups.Load(c.State.Cgroup)
	if err != nil {
		return 0, err
	}
	return cg.OOMKillCount()
}

// Events streams runc's event JSON objects: a "stats" event every
// interval, and an "oom" event whenever the OOM killer struck, until the
// container stops or ctx ends. The container's lock is not held between
// polls.
func Events(ctx context.Context, root, id string, interval time.Duration, emit func(cgroups.Event) error) error {
	c, err := Load(root, id)
	if err != nil {
		return err
	}
	cg, err := cgroups.Load(c.State.Cgroup)
	c.Close()
	if err != nil {
		return err
	}
	ooms, _ := cg.OOMKillCount()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := cg.OOMKillCount(); err == nil && n > ooms {
			ooms = n
			if err := emit(cgroups.Event{Type: "oom", ID: id}); err != nil {
				return err
			}
		}
		c, err := Load(root, id)
		if err != nil {
			return nil // deleted: the stream ends
		}
		st := c.Status()
		c.Close()
		if st == Stopped {
			return nil
		}
		if s, err := cg.Stats(); err == nil {
			if err := emit(cgroups.StatsEvent(id, s)); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// UnchangedZeros returns a copy of an update with the fields runc reads
// as "no change" when zero (memory and CPU values, the block IO weight,
// the pids limit) cleared.
func UnchangedZeros(r *specs.LinuxResources) *specs.LinuxResources {
	if r == nil {
		return &specs.LinuxResources{}
	}
	out := *r
	i64 := func(p *int64) *int64 {
		if p != nil && *p == 0 {
			return nil
		}
		return p
	}
	u64 := func(p *uint64) *uint64 {
		if p != nil && *p == 0 {
			return nil
		}
		return p
	}
	if r.Memory != nil {
		m := *r.Memory
		m.Limit, m.Reservation, m.Swap, m.Kernel, m.KernelTCP = i64(m.Limit), i64(m.Reservation), i64(m.Swap), i64(m.Kernel), i64(m.KernelTCP)
		out.Memory = &m
	}
	if r.CPU != nil {
		cpu := *r.CPU
		cpu.Shares, cpu.Quota, cpu.Period = u64(cpu.Shares), i64(cpu.Quota), u64(cpu.Period)
		cpu.RealtimeRuntime, cpu.RealtimePeriod = i64(cpu.RealtimeRuntime), u64(cpu.RealtimePeriod)
		out.CPU = &cpu
	}
	if r.BlockIO != nil && r.BlockIO.Weight != nil && *r.BlockIO.Weight == 0 {
		b := *r.BlockIO
		b.Weight = nil
		out.BlockIO = &b
	}
	if r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit == 0 {
		out.Pids = nil
	}
	return &out
}

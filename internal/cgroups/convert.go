package cgroups

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrInvalid is wrapped by every error about a bad linux.resources or
// linux.cgroupsPath value, so callers can tell bad input from host failures.
var ErrInvalid = errors.New("invalid cgroup configuration")

// FieldError names the spec field that holds a bad value.
type FieldError struct {
	Field string // JSON path, e.g. "linux.resources.memory.swap"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap lets errors.Is(err, ErrInvalid) match.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// resources is the converted form of a spec's linux.resources: what the
// library understands, plus the few settings it has no field for.
type resources struct {
	lib *cgroups.Resources
	// kernelTCP is memory.kmem.tcp.limit_in_bytes (v1 only): the library
	// dropped kernel memory settings, but the TCP buffer limit still exists
	// on v1 kernels.
	kernelTCP *int64
}

// hugepageSize matches the page-size names the kernel uses in hugetlb file
// names ("2MB", "1GB", "64KB").
var hugepageSize = regexp.MustCompile(`^[1-9][0-9]*[KMGT]B$`)

// convertResources turns spec resources into library resources for a host in
// the given mode.
//
// withDevices says whether to build the device allowlist. A new container
// always gets one (deny-all-but-defaults if the spec has none); a live update
// only touches devices if it lists some, because an update carries only what
// changes.
func convertResources(r *specs.LinuxResources, mode Mode, withDevices bool) (*resources, error) {
	out := &resources{lib: &cgroups.Resources{}}
	lib := out.lib
	if r == nil {
		r = &specs.LinuxResources{}
	}

	if withDevices {
		rules, err := deviceRules(r.Devices)
		if err != nil {
			return nil, err
		}
		lib.Devices = rules
	} else {
		lib.SkipDevices = true
	}

	if m := r.Memory; m != nil {
		if err := convertMemory(m, mode, out); err != nil {
			return nil, err
		}
	}
	if c := r.CPU; c != nil {
		if err := convertCPU(c, mode, lib); err != nil {
			return nil, err
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		// The library's pids semantics are kept: > 0 is the limit, 0 is
		// written as 1 (systemd cannot express 0), < 0 is "max".
		v := *p.Limit
		lib.PidsLimit = &v
	}
	if b := r.BlockIO; b != nil {
		if err := convertBlockIO(b, lib); err != nil {
			return nil, err
		}
	}
	for i, h := range r.HugepageLimits {
		if !hugepageSize.MatchString(h.Pagesize) {
			return nil, fieldErr(fmt.Sprintf("linux.resources.hugepageLimits[%d].pageSize", i),
				`must look like "2MB" or "1GB", got %q`, h.Pagesize)
		}
		lib.HugetlbLimit = append(lib.HugetlbLimit, &cgroups.HugepageLimit{Pagesize: h.Pagesize, Limit: h.Limit})
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) && mode == ModeV2 {
		// runc ignores these on v2; Tirith says so instead, since a
		// caller may rely on the class id for traffic policy.
		return nil, fieldErr("linux.resources.network", "not supported on cgroup v2 (net_cls and net_prio are v1 controllers)")
	}
	if n := r.Network; n != nil {
		if n.ClassID != nil {
			lib.NetClsClassid = *n.ClassID
		}
		for i, p := range n.Priorities {
			if p.Name == "" || strings.ContainsAny(p.Name, " \t\n/") {
				return nil, fieldErr(fmt.Sprintf("linux.resources.network.priorities[%d].name", i),
					"must be an interface name, got %q", p.Name)
			}
			lib.NetPrioIfpriomap = append(lib.NetPrioIfpriomap, &cgroups.IfPrioMap{Interface: p.Name, Priority: int64(p.Priority)})
		}
	}
	if len(r.Rdma) > 0 {
		lib.Rdma = make(map[string]cgroups.LinuxRdma, len(r.Rdma))
		for dev, l := range r.Rdma {
			if dev == "" || strings.ContainsAny(dev, " \t\n") {
				return nil, fieldErr("linux.resources.rdma", "bad device name %q", dev)
			}
			lib.Rdma[dev] = cgroups.LinuxRdma{HcaHandles: l.HcaHandles, HcaObjects: l.HcaObjects}
		}
	}
	if len(r.Unified) > 0 {
		if mode == ModeV1 {
			return nil, fieldErr("linux.resources.unified", "requires cgroup v2 (this host has cgroup v1 only)")
		}
		keys := make([]string, 0, len(r.Unified))
		for k := range r.Unified {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := checkUnifiedKey(k); err != nil {
				return nil, fieldErr(fmt.Sprintf("linux.resources.unified[%q]", k), "%s", err)
			}
		}
		lib.Unified = make(map[string]string, len(r.Unified))
		for k, v := range r.Unified {
			lib.Unified[k] = v
		}
	}
	return out, nil
}

// checkUnifiedKey accepts "controller.parameter" file names only, so a key
// can never name a file outside the container's cgroup.
func checkUnifiedKey(k string) error {
	if strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
		return errors.New("must be a file name (no slashes)")
	}
	ctrl, param, ok := strings.Cut(k, ".")
	if !ok || ctrl == "" || param == "" {
		return errors.New("must be in the form CONTROLLER.PARAMETER")
	}
	// Writing cgroup.procs or cgroup.subtree_control from the spec would
	// move processes or change the tree behind this package's back.
	switch k {
	case "cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "cgroup.kill", "cgroup.freeze", "cgroup.type":
		return errors.New("is managed by the runtime and cannot be set")
	}
	return nil
}

func convertMemory(m *specs.LinuxMemory, mode Mode, out *resources) error {
	lib := out.lib
	const f = "linux.resources.memory."
	if m.Limit != nil {
		if *m.Limit < -1 {
			return fieldErr(f+"limit", "must be -1 (unlimited) or >= 0, got %d", *m.Limit)
		}
		lib.Memory = *m.Limit
	}
	if m.Reservation != nil {
		if *m.Reservation < -1 {
			return fieldErr(f+"reservation", "must be -1 (unlimited) or >= 0, got %d", *m.Reservation)
		}
		lib.MemoryReservation = *m.Reservation
	}
	if m.Swap != nil {
		// The spec's swap is memory+swap together (v1's memsw), as in runc.
		swap := *m.Swap
		if swap < -1 {
			return fieldErr(f+"swap", "must be -1 (unlimited) or >= 0, got %d", swap)
		}
		if swap > 0 && lib.Memory > 0 && swap < lib.Memory {
			return fieldErr(f+"swap", "must be >= memory limit (memory+swap %d < memory %d)", swap, lib.Memory)
		}
		if mode == ModeV2 && swap > 0 && lib.Memory == 0 {
			// v2 has a separate swap limit, memory.swap.max = swap - limit,
			// which cannot be computed without the limit.
			return fieldErr(f+"swap", "requires linux.resources.memory.limit on cgroup v2")
		}
		lib.MemorySwap = swap
	}
	if mode == ModeV2 {
		// Check here what the library would only find out while writing.
		if _, err := cgroups.ConvertMemorySwapToCgroupV2Value(lib.MemorySwap, lib.Memory); err != nil {
			return fieldErr(f+"swap", "%s", err)
		}
	}
	if m.KernelTCP != nil && mode != ModeV2 {
		// v2 has no TCP buffer limit; the kernel accounts socket memory in
		// memory.max there, so ignoring it loses no protection.
		v := *m.KernelTCP
		out.kernelTCP = &v
	}
	// m.Kernel (kmem.limit_in_bytes) is ignored, as in runc: the kernel
	// deprecated it in 5.4 and removed it in 6.x.
	if m.Swappiness != nil {
		if *m.Swappiness > 100 {
			return fieldErr(f+"swappiness", "must be in [0, 100], got %d", *m.Swappiness)
		}
		if mode == ModeV2 {
			return fieldErr(f+"swappiness", "not supported on cgroup v2")
		}
		v := *m.Swappiness
		lib.MemorySwappiness = &v
	}
	if m.DisableOOMKiller != nil {
		// On v2 there is no per-cgroup switch; the library ignores it there.
		// Ignoring can only keep the OOM killer on, the safe side.
		lib.OomKillDisable = *m.DisableOOMKiller
	}
	if m.CheckBeforeUpdate != nil {
		lib.MemoryCheckBeforeUpdate = *m.CheckBeforeUpdate
	}
	return nil
}

func convertCPU(c *specs.LinuxCPU, mode Mode, lib *cgroups.Resources) error {
	const f = "linux.resources.cpu."
	if c.Shares != nil {
		if mode == ModeV2 {
			if *c.Shares != 0 && (*c.Shares < 2 || *c.Shares > 262144) {
				return fieldErr(f+"shares", "must be in [2, 262144], got %d", *c.Shares)
			}
			// v2 weights are [1, 10000]; the library's mapping is the one
			// runc, crun and systemd agree on.
			lib.CpuWeight = cgroups.ConvertCPUSharesToCgroupV2Value(*c.Shares)
		} else {
			lib.CpuShares = *c.Shares
		}
	}
	if c.Quota != nil {
		if *c.Quota < -1 || *c.Quota == 0 {
			return fieldErr(f+"quota", "must be -1 (unlimited) or > 0, got %d", *c.Quota)
		}
		lib.CpuQuota = *c.Quota
	}
	if c.Period != nil {
		// The kernel accepts 1ms..1s.
		if *c.Period != 0 && (*c.Period < 1000 || *c.Period > 1000000) {
			return fieldErr(f+"period", "must be in [1000, 1000000] microseconds, got %d", *c.Period)
		}
		lib.CpuPeriod = *c.Period
	}
	if c.Burst != nil {
		v := *c.Burst
		lib.CpuBurst = &v
	}
	if c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
		if mode == ModeV2 {
			field := "realtimeRuntime"
			if c.RealtimeRuntime == nil {
				field = "realtimePeriod"
			}
			return fieldErr(f+field, "not supported on cgroup v2")
		}
		if c.RealtimeRuntime != nil {
			lib.CpuRtRuntime = *c.RealtimeRuntime
		}
		if c.RealtimePeriod != nil {
			lib.CpuRtPeriod = *c.RealtimePeriod
		}
	}
	if c.Cpus != "" {
		if err := checkCPUList(c.Cpus); err != nil {
			return fieldErr(f+"cpus", "%s", err)
		}
		lib.CpusetCpus = c.Cpus
	}
	if c.Mems != "" {
		if err := checkCPUList(c.Mems); err != nil {
			return fieldErr(f+"mems", "%s", err)
		}
		lib.CpusetMems = c.Mems
	}
	if c.Idle != nil {
		if *c.Idle != 0 && *c.Idle != 1 {
			return fieldErr(f+"idle", "must be 0 or 1, got %d", *c.Idle)
		}
		v := *c.Idle
		lib.CPUIdle = &v
	}
	return nil
}

// cpuList is the kernel's list format: "0-3,5,7-8".
var cpuList = regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)

func checkCPUList(s string) error {
	if !cpuList.MatchString(s) {
		return fmt.Errorf(`must be a list like "0-3,5", got %q`, s)
	}
	return nil
}

func convertBlockIO(b *specs.LinuxBlockIO, lib *cgroups.Resources) error {
	const f = "linux.resources.blockIO."
	checkWeight := func(field string, w uint16) error {
		// cfq/bfq weights; 0 means "unset".
		if w != 0 && (w < 10 || w > 1000) {
			return fieldErr(field, "must be in [10, 1000], got %d", w)
		}
		return nil
	}
	if b.Weight != nil {
		if err := checkWeight(f+"weight", *b.Weight); err != nil {
			return err
		}
		lib.BlkioWeight = *b.Weight
	}
	if b.LeafWeight != nil {
		if err := checkWeight(f+"leafWeight", *b.LeafWeight); err != nil {
			return err
		}
		lib.BlkioLeafWeight = *b.LeafWeight
	}
	for i, wd := range b.WeightDevice {
		field := fmt.Sprintf("%sweightDevice[%d]", f, i)
		if wd.Major < 0 || wd.Minor < 0 {
			return fieldErr(field, "major and minor must be >= 0")
		}
		var w, lw uint16
		if wd.Weight != nil {
			if err := checkWeight(field+".weight", *wd.Weight); err != nil {
				return err
			}
			w = *wd.Weight
		}
		if wd.LeafWeight != nil {
			if err := checkWeight(field+".leafWeight", *wd.LeafWeight); err != nil {
				return err
			}
			lw = *wd.LeafWeight
		}
		lib.BlkioWeightDevice = append(lib.BlkioWeightDevice, cgroups.NewWeightDevice(wd.Major, wd.Minor, w, lw))
	}
	throttle := func(name string, in []specs.LinuxThrottleDevice) ([]*cgroups.ThrottleDevice, error) {
		var out []*cgroups.ThrottleDevice
		for i, td := range in {
			if td.Major < 0 || td.Minor < 0 {
				return nil, fieldErr(fmt.Sprintf("%s%s[%d]", f, name, i), "major and minor must be >= 0")
			}
			out = append(out, cgroups.NewThrottleDevice(td.Major, td.Minor, td.Rate))
		}
		return out, nil
	}
	var err error
	if lib.BlkioThrottleReadBpsDevice, err = throttle("throttleReadBpsDevice", b.ThrottleReadBpsDevice); err != nil {
		return err
	}
	if lib.BlkioThrottleWriteBpsDevice, err = throttle("throttleWriteBpsDevice", b.ThrottleWriteBpsDevice); err != nil {
		return err
	}
	if lib.BlkioThrottleReadIOPSDevice, err = throttle("throttleReadIOPSDevice", b.ThrottleReadIOPSDevice); err != nil {
		return err
	}
	if lib.BlkioThrottleWriteIOPSDevice, err = throttle("throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice); err != nil {
		return err
	}
	return nil
}

package cgroups

import "github.com/opencontainers/cgroups"

// The types below give Stats the JSON shape of runc's `runc events --stats`
// (runc types/events.go), so tools that parse runc's output parse Tirith's.
// The library's own Stats uses different JSON names (cpu_stats, ...), which
// is why they are converted rather than passed through.

// Event is one line of `events` output: {"type":"stats","id":..,"data":..}.
type Event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// StatsEvent wraps s as runc's "stats" event for container id.
func StatsEvent(id string, s *Stats) Event {
	return Event{Type: "stats", ID: id, Data: s}
}

// Stats is a snapshot of the container's cgroup counters.
type Stats struct {
	CPU               CPU                 `json:"cpu"`
	CPUSet            CPUSet              `json:"cpuset"`
	Memory            Memory              `json:"memory"`
	Pids              Pids                `json:"pids"`
	Blkio             Blkio               `json:"blkio"`
	Hugetlb           map[string]Hugetlb  `json:"hugetlb"`
	IntelRdt          IntelRdt            `json:"intel_rdt"`
	NetworkInterfaces []*NetworkInterface `json:"network_interfaces"`
}

// PSIData and PSIStats are the kernel's pressure stall information.
type (
	PSIData  = cgroups.PSIData
	PSIStats = cgroups.PSIStats
)

type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
	IoQueuedRecursive       []BlkioEntry `json:"ioQueueRecursive,omitempty"`
	IoServiceTimeRecursive  []BlkioEntry `json:"ioServiceTimeRecursive,omitempty"`
	IoWaitTimeRecursive     []BlkioEntry `json:"ioWaitTimeRecursive,omitempty"`
	IoMergedRecursive       []BlkioEntry `json:"ioMergedRecursive,omitempty"`
	IoTimeRecursive         []BlkioEntry `json:"ioTimeRecursive,omitempty"`
	SectorsRecursive        []BlkioEntry `json:"sectorsRecursive,omitempty"`
	PSI                     *PSIStats    `json:"psi,omitempty"`
}

type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// CPUUsage is in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

type CPU struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
	PSI        *PSIStats  `json:"psi,omitempty"`
}

type CPUSet struct {
	CPUs                  []uint16 `json:"cpus,omitempty"`
	CPUExclusive          uint64   `json:"cpu_exclusive"`
	Mems                  []uint16 `json:"mems,omitempty"`
	MemHardwall           uint64   `json:"mem_hardwall"`
	MemExclusive          uint64   `json:"mem_exclusive"`
	MemoryMigrate         uint64   `json:"memory_migrate"`
	MemorySpreadPage      uint64   `json:"memory_spread_page"`
	MemorySpreadSlab      uint64   `json:"memory_spread_slab"`
	MemoryPressure        uint64   `json:"memory_pressure"`
	SchedLoadBalance      uint64   `json:"sched_load_balance"`
	SchedRelaxDomainLevel int64    `json:"sched_relax_domain_level"`
}

// MemoryEntry is one memory counter: current usage, its limit, the highest
// usage seen (v1 only) and how often the limit was hit.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

type Memory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
	PSI       *PSIStats         `json:"psi,omitempty"`
}

// IntelRdt is always empty: Tirith does not manage resctrl. It is kept so the
// JSON has runc's keys.
type IntelRdt struct{}

// NetworkInterface is part of runc's shape; cgroups have no network
// counters, so Stats leaves the list empty.
type NetworkInterface struct {
	Name      string
	RxBytes   uint64
	RxPackets uint64
	RxErrors  uint64
	RxDropped uint64
	TxBytes   uint64
	TxPackets uint64
	TxErrors  uint64
	TxDropped uint64
}

func convertStats(s *cgroups.Stats) *Stats {
	out := &Stats{Hugetlb: make(map[string]Hugetlb, len(s.HugetlbStats))}

	cu := s.CpuStats.CpuUsage
	out.CPU = CPU{
		Usage: CPUUsage{
			Total:        cu.TotalUsage,
			Percpu:       cu.PercpuUsage,
			PercpuKernel: cu.PercpuUsageInKernelmode,
			PercpuUser:   cu.PercpuUsageInUsermode,
			Kernel:       cu.UsageInKernelmode,
			User:         cu.UsageInUsermode,
		},
		Throttling: Throttling{
			Periods:          s.CpuStats.ThrottlingData.Periods,
			ThrottledPeriods: s.CpuStats.ThrottlingData.ThrottledPeriods,
			ThrottledTime:    s.CpuStats.ThrottlingData.ThrottledTime,
		},
		PSI: s.CpuStats.PSI,
	}

	cs := s.CPUSetStats
	out.CPUSet = CPUSet{
		CPUs: cs.CPUs, CPUExclusive: cs.CPUExclusive, Mems: cs.Mems,
		MemHardwall: cs.MemHardwall, MemExclusive: cs.MemExclusive,
		MemoryMigrate: cs.MemoryMigrate, MemorySpreadPage: cs.MemorySpreadPage,
		MemorySpreadSlab: cs.MemorySpreadSlab, MemoryPressure: cs.MemoryPressure,
		SchedLoadBalance: cs.SchedLoadBalance, SchedRelaxDomainLevel: cs.SchedRelaxDomainLevel,
	}

	ms := s.MemoryStats
	out.Memory = Memory{
		Cache:     ms.Cache,
		Usage:     memoryEntry(ms.Usage),
		Swap:      memoryEntry(ms.SwapUsage),
		Kernel:    memoryEntry(ms.KernelUsage),
		KernelTCP: memoryEntry(ms.KernelTCPUsage),
		Raw:       ms.Stats,
		PSI:       ms.PSI,
	}

	out.Pids = Pids{Current: s.PidsStats.Current, Limit: s.PidsStats.Limit}

	bs := s.BlkioStats
	out.Blkio = Blkio{
		IoServiceBytesRecursive: blkioEntries(bs.IoServiceBytesRecursive),
		IoServicedRecursive:     blkioEntries(bs.IoServicedRecursive),
		IoQueuedRecursive:       blkioEntries(bs.IoQueuedRecursive),
		IoServiceTimeRecursive:  blkioEntries(bs.IoServiceTimeRecursive),
		IoWaitTimeRecursive:     blkioEntries(bs.IoWaitTimeRecursive),
		IoMergedRecursive:       blkioEntries(bs.IoMergedRecursive),
		IoTimeRecursive:         blkioEntries(bs.IoTimeRecursive),
		SectorsRecursive:        blkioEntries(bs.SectorsRecursive),
		PSI:                     bs.PSI,
	}

	for size, h := range s.HugetlbStats {
		out.Hugetlb[size] = Hugetlb{Usage: h.Usage, Max: h.MaxUsage, Failcnt: h.Failcnt}
	}
	return out
}

func memoryEntry(d cgroups.MemoryData) MemoryEntry {
	return MemoryEntry{Limit: d.Limit, Usage: d.Usage, Max: d.MaxUsage, Failcnt: d.Failcnt}
}

func blkioEntries(in []cgroups.BlkioStatEntry) []BlkioEntry {
	if len(in) == 0 {
		return nil
	}
	out := make([]BlkioEntry, len(in))
	for i, e := range in {
		out[i] = BlkioEntry{Major: e.Major, Minor: e.Minor, Op: e.Op, Value: e.Value}
	}
	return out
}

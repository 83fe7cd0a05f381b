package cgroups

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }
func boolp(v bool) *bool   { return &v }

const mib = 1 << 20

// defaultRuleStrings are the OCI default devices as the kernel lists them.
var defaultRuleStrings = []string{
	"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 5:0 rwm",
	"c 1:9 rwm", "c 1:8 rwm", "c 5:2 rwm", "c 136:* rwm",
}

func ruleStrings(rules []*devconfig.Rule) []string {
	var out []string
	for _, r := range rules {
		s := r.CgroupString()
		if !r.Allow {
			s = "deny " + s
		}
		out = append(out, s)
	}
	return out
}

func TestDeviceAllowlist(t *testing.T) {
	denyAllStr := "deny a *:* rwm"
	tests := []struct {
		desc string
		spec *specs.LinuxResources
		want []string // before the defaults, which always follow
	}{
		{"no resources at all gives deny-all-but-defaults", nil, []string{denyAllStr}},
		{"no devices section gives deny-all-but-defaults", &specs.LinuxResources{}, []string{denyAllStr}},
		{
			"spec deny-all keeps defaults on top",
			&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
			[]string{denyAllStr, denyAllStr},
		},
		{
			"spec rules keep their order between deny-all and defaults",
			&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"},
				{Allow: true, Type: "b", Major: i64(8), Access: "r"},
			}},
			[]string{denyAllStr, denyAllStr, "c 10:200 rwm", "b 8:* r"},
		},
		{
			"allow without leading deny still starts from deny",
			&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(10), Minor: i64(229), Access: "rw"}}},
			[]string{denyAllStr, "c 10:229 rw"},
		},
		{
			"empty access means rwm and type a ignores numbers",
			&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "a", Major: i64(1), Minor: i64(2)}}},
			[]string{denyAllStr, "a *:* rwm"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			res, err := convertResources(tt.spec, ModeV1, true)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append([]string{}, tt.want...), defaultRuleStrings...)
			if got := ruleStrings(res.lib.Devices); !reflect.DeepEqual(got, want) {
				t.Errorf("rules:\n got %q\nwant %q", got, want)
			}
		})
	}
}

func TestDefaultDevicesHaveNoMknodWildcard(t *testing.T) {
	for _, d := range DefaultDevices {
		if d.Major == devconfig.Wildcard && d.Type != devconfig.CharDevice || d.Major == devconfig.Wildcard && d.Minor == devconfig.Wildcard {
			t.Errorf("default rule %q is a wildcard over a whole type", d.CgroupString())
		}
	}
}

func TestUpdateWithoutDevicesLeavesDevicesAlone(t *testing.T) {
	res, err := convertResources(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(5)}}, ModeV1, false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.lib.SkipDevices || len(res.lib.Devices) != 0 {
		t.Errorf("SkipDevices=%v devices=%d, want skip and none", res.lib.SkipDevices, len(res.lib.Devices))
	}
}

func TestConvertResources(t *testing.T) {
	tests := []struct {
		desc  string
		mode  Mode
		spec  specs.LinuxResources
		check func(t *testing.T, r *resources)
	}{
		{
			"memory limit reservation and swap pass through on v1", ModeV1,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Reservation: i64(32 * mib), Swap: i64(128 * mib), Swappiness: u64(0), DisableOOMKiller: boolp(true)}},
			func(t *testing.T, r *resources) {
				l := r.lib
				if l.Memory != 64*mib || l.MemoryReservation != 32*mib || l.MemorySwap != 128*mib || *l.MemorySwappiness != 0 || !l.OomKillDisable {
					t.Errorf("got %+v", l)
				}
			},
		},
		{
			"swap unlimited is accepted", ModeV2,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(-1)}},
			func(t *testing.T, r *resources) {
				if r.lib.MemorySwap != -1 {
					t.Errorf("MemorySwap = %d", r.lib.MemorySwap)
				}
			},
		},
		{
			"kernelTCP kept on v1", ModeV1,
			specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(16 * mib)}},
			func(t *testing.T, r *resources) {
				if r.kernelTCP == nil || *r.kernelTCP != 16*mib {
					t.Errorf("kernelTCP = %v", r.kernelTCP)
				}
			},
		},
		{
			"kernelTCP dropped on v2 where no such limit exists", ModeV2,
			specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(16 * mib)}},
			func(t *testing.T, r *resources) {
				if r.kernelTCP != nil {
					t.Errorf("kernelTCP = %v", *r.kernelTCP)
				}
			},
		},
		{
			"cpu shares stay shares on v1", ModeV1,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Period: u64(100000), RealtimeRuntime: i64(950000), RealtimePeriod: u64(1000000), Cpus: "0-1", Mems: "0"}},
			func(t *testing.T, r *resources) {
				l := r.lib
				if l.CpuShares != 1024 || l.CpuWeight != 0 || l.CpuQuota != 50000 || l.CpuPeriod != 100000 ||
					l.CpuRtRuntime != 950000 || l.CpuRtPeriod != 1000000 || l.CpusetCpus != "0-1" || l.CpusetMems != "0" {
					t.Errorf("got %+v", l)
				}
			},
		},
		{
			"cpu shares become the v2 weight", ModeV2,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024)}},
			func(t *testing.T, r *resources) {
				if r.lib.CpuWeight != 100 || r.lib.CpuShares != 0 {
					t.Errorf("weight %d shares %d, want 100 and 0", r.lib.CpuWeight, r.lib.CpuShares)
				}
			},
		},
		{
			"pids limit passes through", ModeV1,
			specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}},
			func(t *testing.T, r *resources) {
				if r.lib.PidsLimit == nil || *r.lib.PidsLimit != 10 {
					t.Errorf("PidsLimit = %v", r.lib.PidsLimit)
				}
			},
		},
		{
			"block io weights and throttles", ModeV1,
			specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
				Weight:                u16(500),
				WeightDevice:          []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: u16(300)}},
				ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1 << 20}},
			}},
			func(t *testing.T, r *resources) {
				l := r.lib
				if l.BlkioWeight != 500 || l.BlkioWeightDevice[0].WeightString() != "8:0 300" || l.BlkioThrottleReadBpsDevice[0].String() != "8:0 1048576" {
					t.Errorf("got %+v", l)
				}
			},
		},
		{
			"hugepages network and rdma", ModeV1,
			specs.LinuxResources{
				HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 * mib}},
				Network:        &specs.LinuxNetwork{ClassID: u32(0x100001), Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}}},
				Rdma:           map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: u32(2)}},
			},
			func(t *testing.T, r *resources) {
				l := r.lib
				if l.HugetlbLimit[0].Pagesize != "2MB" || l.HugetlbLimit[0].Limit != 4*mib || l.NetClsClassid != 0x100001 ||
					l.NetPrioIfpriomap[0].CgroupString() != "eth0 5" || *l.Rdma["mlx4_0"].HcaHandles != 2 {
					t.Errorf("got %+v", l)
				}
			},
		},
		{
			"unified map allowed on hybrid", ModeHybrid,
			specs.LinuxResources{Unified: map[string]string{"hugetlb.2MB.max": "0"}},
			func(t *testing.T, r *resources) {
				if r.lib.Unified["hugetlb.2MB.max"] != "0" {
					t.Errorf("Unified = %v", r.lib.Unified)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			r, err := convertResources(&tt.spec, tt.mode, true)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestConvertErrorsNameTheField(t *testing.T) {
	tests := []struct {
		desc string
		mode Mode
		spec specs.LinuxResources
		want string // error prefix
	}{
		{"swap below memory limit", ModeV1,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(32 * mib)}},
			"linux.resources.memory.swap: must be >= memory limit"},
		{"swap below memory limit on v2", ModeV2,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(32 * mib)}},
			"linux.resources.memory.swap: must be >= memory limit"},
		{"swap without limit on v2", ModeV2,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(32 * mib)}},
			"linux.resources.memory.swap: requires linux.resources.memory.limit"},
		{"swap below -1", ModeV1,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(-2)}},
			"linux.resources.memory.swap: must be -1"},
		{"memory limit below -1", ModeV1,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-5)}},
			"linux.resources.memory.limit: must be -1"},
		{"swappiness over 100", ModeV1,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}},
			"linux.resources.memory.swappiness: must be in [0, 100]"},
		{"swappiness on v2", ModeV2,
			specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(10)}},
			"linux.resources.memory.swappiness: not supported on cgroup v2"},
		{"cpu quota zero", ModeV1,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(0)}},
			"linux.resources.cpu.quota:"},
		{"cpu period too small", ModeV1,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(10)}},
			"linux.resources.cpu.period:"},
		{"cpu shares out of range on v2", ModeV2,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1)}},
			"linux.resources.cpu.shares:"},
		{"realtime on v2", ModeV2,
			specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}},
			"linux.resources.cpu.realtimeRuntime: not supported on cgroup v2"},
		{"bad cpu list", ModeV1,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1,a"}},
			"linux.resources.cpu.cpus:"},
		{"bad mems list", ModeV1,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "0;1"}},
			"linux.resources.cpu.mems:"},
		{"cpu idle not 0 or 1", ModeV2,
			specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(2)}},
			"linux.resources.cpu.idle:"},
		{"blkio weight out of range", ModeV1,
			specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}},
			"linux.resources.blockIO.weight:"},
		{"blkio device weight out of range", ModeV1,
			specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{Weight: u16(2000)}}}},
			"linux.resources.blockIO.weightDevice[0].weight:"},
		{"throttle negative major", ModeV1,
			specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: -1}}}}},
			"linux.resources.blockIO.throttleWriteIOPSDevice[0]:"},
		{"hugepage size malformed", ModeV1,
			specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}},
			"linux.resources.hugepageLimits[0].pageSize:"},
		{"network on v2", ModeV2,
			specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}},
			"linux.resources.network: not supported on cgroup v2"},
		{"interface name with slash", ModeV1,
			specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "a/b"}}}},
			"linux.resources.network.priorities[0].name:"},
		{"unified on v1", ModeV1,
			specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}},
			"linux.resources.unified: requires cgroup v2"},
		{"unified key with a path", ModeV2,
			specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}},
			`linux.resources.unified["../memory.max"]: must be a file name`},
		{"unified key without controller", ModeV2,
			specs.LinuxResources{Unified: map[string]string{"memory": "1"}},
			`linux.resources.unified["memory"]: must be in the form`},
		{"unified key managed by the runtime", ModeV2,
			specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}},
			`linux.resources.unified["cgroup.procs"]: is managed by the runtime`},
		{"device type unknown", ModeV1,
			specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false}, {Type: "x"}}},
			"linux.resources.devices[1].type:"},
		{"device access unknown letter", ModeV1,
			specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rwx"}}},
			"linux.resources.devices[0].access:"},
		{"device access repeated letter", ModeV1,
			specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rr"}}},
			"linux.resources.devices[0].access:"},
		{"device major below -1", ModeV1,
			specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Major: i64(-3)}}},
			"linux.resources.devices[0].major:"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := convertResources(&tt.spec, tt.mode, true)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %q is not a *FieldError", err)
			}
		})
	}
}

func TestSystemdRefused(t *testing.T) {
	_, err := New(Config{ID: "x", Systemd: true})
	if !errors.Is(err, ErrSystemdUnsupported) || err.Error() != "systemd cgroup driver not supported" {
		t.Errorf("err = %v", err)
	}
}

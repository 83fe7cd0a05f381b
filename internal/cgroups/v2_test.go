package cgroups

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Files are the interface files the kernel puts in a non-root v2 cgroup
// with these controllers enabled (a subset: what this package may write).
var v2Files = []string{
	"cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events",
	"pids.max", "memory.max", "memory.low", "memory.high", "memory.swap.max", "memory.events",
	"cpu.max", "cpu.weight", "cpu.idle", "cpu.max.burst", "io.max", "io.weight",
	"cpuset.cpus", "cpuset.mems", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max", "rdma.max",
}

const v2Controllers = "cpuset cpu io memory hugetlb pids rdma misc"

// layoutV2 makes a temporary cgroup v2 root with the container cgroups
// "tirith/<id>" for each id already present, as the kernel would have them
// after mkdir. It returns the root.
func layoutV2(t *testing.T, ids ...string) string {
	t.Helper()
	root := t.TempDir()
	writeFile(t, root, "cgroup.controllers", v2Controllers+"\n")
	writeFile(t, root, "cgroup.subtree_control", "")
	writeFile(t, root, "cgroup.procs", "")
	parent := filepath.Join(root, "tirith")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, parent, "cgroup.subtree_control", "")
	writeFile(t, parent, "cgroup.controllers", v2Controllers+"\n")
	for _, id := range ids {
		dir := filepath.Join(parent, id)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range v2Files {
			writeFile(t, dir, f, "")
		}
	}
	return root
}

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// newV2 is New on an injected root with the device program recorded
// instead of attached.
func newV2(t *testing.T, root, id string, r *specs.LinuxResources) (*Manager, *[]*cgroups.Resources) {
	t.Helper()
	m, err := New(Config{ID: id, Root: root, Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode() != ModeV2 {
		t.Fatalf("mode %s on a v2 layout", m.Mode())
	}
	var rec []*cgroups.Resources
	m.devicesV2 = func(dir string, r *cgroups.Resources) error {
		if dir != m.dir {
			t.Errorf("devices attached to %q, want %q", dir, m.dir)
		}
		rec = append(rec, r)
		return nil
	}
	return m, &rec
}

func TestV2ApplyWritesResourceFiles(t *testing.T) {
	tests := []struct {
		desc string
		spec *specs.LinuxResources
		want map[string]string // file -> content (lines joined by "\n")
	}{
		{
			"pids and memory with swap equal to memory means no swap",
			&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}, Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(64 * mib), Reservation: i64(32 * mib)}},
			map[string]string{"pids.max": "10", "memory.max": "67108864", "memory.swap.max": "0", "memory.low": "33554432"},
		},
		{
			"swap is memory+swap minus memory",
			&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(96 * mib)}},
			map[string]string{"memory.max": "67108864", "memory.swap.max": "33554432"},
		},
		{
			"swap -1 is unlimited",
			&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(-1)}},
			map[string]string{"memory.max": "67108864", "memory.swap.max": "max"},
		},
		{
			"memory -1 without swap unlimits both",
			&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
			map[string]string{"memory.max": "max", "memory.swap.max": "max"},
		},
		{
			"pids 0 is written as 1 and negative as max",
			&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
			map[string]string{"pids.max": "1"},
		},
		{
			"cpu shares quota and default period",
			&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000), Burst: u64(1000), Cpus: "0", Mems: "0", Idle: i64(0)}},
			map[string]string{"cpu.weight": "100", "cpu.max": "50000 100000", "cpu.max.burst": "1000", "cpuset.cpus": "0", "cpuset.mems": "0", "cpu.idle": "0"},
		},
		{
			"unlimited quota with a period",
			&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1), Period: u64(20000)}},
			map[string]string{"cpu.max": "max 20000"},
		},
		{
			"blkio weight converted and throttles to io.max",
			&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
				Weight:                  u16(1000),
				ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1000}},
				ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 50}},
			}},
			map[string]string{"io.weight": "10000", "io.max": "8:0 rbps=1000\n8:16 wiops=50"},
		},
		{
			"hugetlb limits usage and reservations",
			&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 * mib}}},
			map[string]string{"hugetlb.2MB.max": "4194304", "hugetlb.2MB.rsvd.max": "4194304"},
		},
		{
			"rdma",
			&specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx4_0": {HcaHandles: u32(2), HcaObjects: u32(2000)}}},
			map[string]string{"rdma.max": "mlx4_0 hca_handle=2 hca_object=2000"},
		},
		{
			"unified keys written last and win",
			&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}, Unified: map[string]string{"pids.max": "20", "memory.high": "1000000"}},
			map[string]string{"pids.max": "10\n20", "memory.high": "1000000"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			root := layoutV2(t, "c1")
			m, rec := newV2(t, root, "c1", tt.spec)
			if err := m.Apply(4242); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(root, "tirith", "c1")
			for f, want := range tt.want {
				if got := readTrim(t, filepath.Join(dir, f)); got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
			// Files not in want were not written.
			for _, f := range v2Files {
				if _, ok := tt.want[f]; ok || f == "cgroup.procs" {
					continue
				}
				if got := readTrim(t, filepath.Join(dir, f)); got != "" {
					t.Errorf("%s unexpectedly written: %q", f, got)
				}
			}
			if got := readTrim(t, filepath.Join(dir, "cgroup.procs")); got != "4242" {
				t.Errorf("cgroup.procs = %q", got)
			}
			if len(*rec) != 1 {
				t.Fatalf("device program attached %d times, want 1", len(*rec))
			}
			rules := ruleStrings((*rec)[0].Devices)
			if rules[0] != "deny a *:* rwm" || !reflect.DeepEqual(rules[len(rules)-len(defaultRuleStrings):], defaultRuleStrings) {
				t.Errorf("device rules %q", rules)
			}
		})
	}
}

func TestV2ApplyEnablesControllersInAncestors(t *testing.T) {
	root := layoutV2(t, "c1")
	m, _ := newV2(t, root, "c1", nil)
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	want := "+" + strings.ReplaceAll(v2Controllers, " ", " +")
	for _, d := range []string{root, filepath.Join(root, "tirith")} {
		if got := readTrim(t, filepath.Join(d, "cgroup.subtree_control")); got != want {
			t.Errorf("%s/cgroup.subtree_control = %q, want %q", d, got, want)
		}
	}
	if got := readTrim(t, filepath.Join(root, "tirith", "c1", "cgroup.subtree_control")); got != "" {
		t.Errorf("leaf subtree_control written: %q (the container's own processes live there)", got)
	}
}

func TestV2ApplyFailureRemovesWhatItCreated(t *testing.T) {
	root := layoutV2(t) // no container dir: Apply creates it, but no kernel fills it
	m, _ := newV2(t, root, "c1", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}})
	err := m.Apply(1)
	if err == nil {
		t.Fatal("Apply succeeded without pids.max")
	}
	if !strings.Contains(err.Error(), `controller "pids" not available`) || !strings.HasPrefix(err.Error(), "apply cgroup ") {
		t.Errorf("error %q does not name the cgroup and the missing controller", err)
	}
	if _, err := os.Stat(filepath.Join(root, "tirith", "c1")); !os.IsNotExist(err) {
		t.Errorf("container cgroup left behind: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "tirith")); err != nil {
		t.Errorf("shared parent removed: %v", err)
	}
}

func TestV2ApplyFailureKeepsExistingCgroup(t *testing.T) {
	root := layoutV2(t, "shared")
	os.Remove(filepath.Join(root, "tirith", "shared", "pids.max"))
	m, _ := newV2(t, root, "x", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}})
	m.dir = filepath.Join(root, "tirith", "shared") // as with cgroupsPath naming an existing cgroup
	if err := m.Apply(1); err == nil {
		t.Fatal("Apply succeeded without pids.max")
	}
	if _, err := os.Stat(m.dir); err != nil {
		t.Errorf("pre-existing cgroup removed: %v", err)
	}
}

func TestV2SetUpdatesOnlyWhatIsGiven(t *testing.T) {
	root := layoutV2(t, "c1")
	m, rec := newV2(t, root, "c1", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(10)}, Memory: &specs.LinuxMemory{Limit: i64(64 * mib)}})
	if err := m.Apply(1); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "tirith", "c1")
	if err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(128 * mib)}}); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(dir, "memory.max")); got != "134217728" {
		t.Errorf("memory.max = %q", got)
	}
	if got := readTrim(t, filepath.Join(dir, "pids.max")); got != "10" {
		t.Errorf("pids.max = %q, want it untouched", got)
	}
	if len(*rec) != 1 {
		t.Errorf("update without devices re-attached the device program (%d attaches)", len(*rec))
	}
	if err := m.Set(&specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(10), Minor: i64(200), Access: "rwm"}}}); err != nil {
		t.Fatal(err)
	}
	if len(*rec) != 2 || !strings.Contains(strings.Join(ruleStrings((*rec)[1].Devices), ","), "c 10:200 rwm") {
		t.Errorf("device update not applied: %d attaches", len(*rec))
	}
	err := m.Set(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(1)}})
	if err == nil || !strings.HasPrefix(err.Error(), "linux.resources.memory.swappiness") {
		t.Errorf("Set error %v, want one naming the field", err)
	}
}

func TestV2StateRoundTrip(t *testing.T) {
	root := layoutV2(t, "c1")
	m, _ := newV2(t, root, "c1", nil)
	if m.Exists() != true { // the layout pre-made the directory
		t.Error("Exists = false for a present cgroup")
	}
	b, err := json.Marshal(m.State())
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	want := State{Paths: map[string]string{"": filepath.Join(root, "tirith", "c1")}, Mode: ModeV2, Root: root}
	if !reflect.DeepEqual(st, want) {
		t.Fatalf("state %+v, want %+v (json %s)", st, want, b)
	}
	l, err := Load(st)
	if err != nil {
		t.Fatal(err)
	}
	if l.Path("memory") != want.Paths[""] || !l.Exists() {
		t.Errorf("loaded path %q exists=%v", l.Path("memory"), l.Exists())
	}
	if err := l.Apply(1); err == nil {
		t.Error("Apply on a loaded manager succeeded; it has no resources")
	}
	st.Paths[""] = filepath.Join(root, "..", "elsewhere")
	if _, err := Load(st); err == nil {
		t.Error("Load accepted a path outside the injected root")
	}
}

func TestInjectedRootMustBeV2(t *testing.T) {
	if _, err := New(Config{ID: "a", Root: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "not a cgroup v2 layout") {
		t.Errorf("err = %v", err)
	}
	if _, err := New(Config{ID: "a", Root: "relative"}); err == nil {
		t.Error("relative root accepted")
	}
}

func TestV2WritesSwapSemantics(t *testing.T) {
	tests := []struct {
		desc              string
		memory, swap      int64
		wantMax, wantSwap string // "" = not written
		wantOptional      bool
	}{
		{"limit only leaves swap alone", 64 * mib, 0, "67108864", "", false},
		{"swap equal to limit forbids swap", 64 * mib, 64 * mib, "67108864", "0", true},
		{"swap above limit gives the difference", 64 * mib, 100 * mib, "67108864", "37748736", false},
		{"swap -1 is max", 64 * mib, -1, "67108864", "max", true},
		{"unlimited memory with a swap cap keeps the cap", -1, 100 * mib, "max", "104857600", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			ws, err := v2Writes(&cgroups.Resources{Memory: tt.memory, MemorySwap: tt.swap})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]fileWrite{}
			for _, w := range ws {
				got[w.file] = w
			}
			if got["memory.max"].value != tt.wantMax {
				t.Errorf("memory.max = %q, want %q", got["memory.max"].value, tt.wantMax)
			}
			sw, ok := got["memory.swap.max"]
			if (tt.wantSwap == "") == ok || sw.value != tt.wantSwap || sw.optional != tt.wantOptional {
				t.Errorf("memory.swap.max = %+v (present %v), want %q optional=%v", sw, ok, tt.wantSwap, tt.wantOptional)
			}
		})
	}
}

// TestV2WriterMatchesLibrary runs the library's own fs2 Set and this
// package's writer on the same resources and compares the files. The
// library can only write outside /sys/fs/cgroup with its global TestMode,
// which is why production code does not use it that way (see doc.go); a
// test may, to keep the two in step.
func TestV2WriterMatchesLibrary(t *testing.T) {
	res := []*cgroups.Resources{
		{PidsLimit: i64(10), Memory: 64 * mib, MemorySwap: 64 * mib, MemoryReservation: 16 * mib},
		{PidsLimit: i64(-1), Memory: 64 * mib, MemorySwap: 96 * mib},
		{Memory: -1},
		{CpuWeight: 100, CpuQuota: 50000, CpuBurst: u64(1000), CpusetCpus: "0", CpusetMems: "0", CPUIdle: i64(0)},
		{CpuQuota: -1, CpuPeriod: 20000},
		{BlkioWeight: 500, BlkioThrottleReadBpsDevice: []*cgroups.ThrottleDevice{cgroups.NewThrottleDevice(8, 0, 1000)}},
		{HugetlbLimit: []*cgroups.HugepageLimit{{Pagesize: "2MB", Limit: 4 * mib}}},
		{Rdma: map[string]cgroups.LinuxRdma{"mlx4_0": {HcaHandles: u32(2)}}},
		{Unified: map[string]string{"memory.high": "1000000"}},
	}
	for i, r := range res {
		r.SkipDevices = true // the eBPF program is not a file
		libDir, ourDir := t.TempDir(), t.TempDir()
		writeFile(t, libDir, "cgroup.controllers", v2Controllers)

		cgroups.TestMode = true
		lm, err := fs2.NewManager(&cgroups.Cgroup{Resources: &cgroups.Resources{}}, libDir)
		if err == nil {
			err = lm.Set(r)
		}
		cgroups.TestMode = false
		if err != nil {
			t.Fatalf("case %d: library: %v", i, err)
		}
		libFiles := dirContents(t, libDir)
		delete(libFiles, "cgroup.controllers")
		if len(libFiles) == 0 {
			t.Fatalf("case %d: the library wrote nothing; the comparison would be empty", i)
		}

		// Our writer never creates files: lay out exactly what the library
		// wrote, so writing anything else fails.
		for f := range libFiles {
			writeFile(t, ourDir, f, "")
		}
		ws, err := v2Writes(r)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if err := applyWrites(&dirFS{}, ourDir, ws); err != nil {
			t.Fatalf("case %d: ours: %v", i, err)
		}
		if ours := dirContents(t, ourDir); !reflect.DeepEqual(ours, libFiles) {
			t.Errorf("case %d (%+v):\n ours    %v\n library %v", i, r, ours, libFiles)
		}
	}
}

func dirContents(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		out[e.Name()] = readTrim(t, filepath.Join(dir, e.Name()))
	}
	return out
}

func TestStatsJSONHasRuncShape(t *testing.T) {
	s := cgroups.NewStats()
	s.PidsStats = cgroups.PidsStats{Current: 3, Limit: 10}
	s.MemoryStats.Usage = cgroups.MemoryData{Usage: 100, Limit: 64 * mib, MaxUsage: 200}
	s.CpuStats.CpuUsage.TotalUsage = 5
	s.HugetlbStats["2MB"] = cgroups.HugetlbStats{Usage: 1, MaxUsage: 2}
	b, err := json.Marshal(StatsEvent("c1", convertStats(s)))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["type"] != "stats" || got["id"] != "c1" {
		t.Errorf("event header %s", b)
	}
	data := got["data"].(map[string]any)
	var keys []string
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"blkio", "cpu", "cpuset", "hugetlb", "intel_rdt", "memory", "network_interfaces", "pids"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("data keys %v, want %v", keys, want)
	}
	for _, frag := range []string{`"pids":{"current":3,"limit":10}`, `"usage":{"limit":67108864,"usage":100,"max":200,"failcnt":0}`, `"cpu":{"usage":{"total":5,`, `"2MB":{"usage":1,"max":2,"failcnt":0}`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("json lacks %s:\n%s", frag, b)
		}
	}
}

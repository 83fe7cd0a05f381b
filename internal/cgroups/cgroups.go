package cgroups

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/fs"
	"github.com/opencontainers/cgroups/fs2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ErrSystemdUnsupported is returned by New when Config.Systemd is set.
var ErrSystemdUnsupported = errors.New("systemd cgroup driver not supported")

// Config describes the cgroup of one container.
type Config struct {
	// ID is the container id; it names the default cgroup "/tirith/<ID>".
	ID string
	// CgroupsPath is the spec's linux.cgroupsPath. "" means
	// "/tirith/<ID>". An absolute path is taken from the root of every
	// hierarchy; a relative one is placed like runc does, relative to the
	// runtime process's own cgroup (v1: inside it, per hierarchy; v2: next
	// to it). See doc.go.
	CgroupsPath string
	// Resources are the spec's linux.resources; nil means no limits but
	// still the default device allowlist.
	Resources *specs.LinuxResources
	// Nodes are the spec's linux.devices: the runtime must be able to
	// mknod them, so each gets an "m" (mknod only) rule. Reading or
	// writing them still needs an allow rule in Resources.
	Nodes []specs.LinuxDevice
	// Systemd is --systemd-cgroup, which is not supported yet.
	Systemd bool
	// Rootless is an unprivileged caller: the default path is
	// "tirith/<ID>" relative to its own cgroup, only hierarchies it may
	// write to (delegated to it) are used, and the device allowlist is
	// left out (only host root may write one; the user namespace keeps
	// the container from making device nodes). A limit whose controller
	// is not delegated is an error, as with runc.
	Rootless bool
	// Root is where the cgroup filesystem is mounted. "" (or
	// "/sys/fs/cgroup") means this host's, with its layout detected. Any
	// other directory must be laid out as cgroup v2 (it holds
	// cgroup.controllers) and is written with plain file I/O; tests use this
	// with a temporary directory.
	Root string
}

// State is what the runtime persists (in its state JSON) to find the cgroup
// again with Load.
type State struct {
	// Paths are the container's cgroup directories. On v1 and hybrid, one
	// per hierarchy keyed by controller name ("memory", "pids", ...; "" is
	// the unified hierarchy in hybrid mode), as runc stores them. On v2 the
	// only key is "".
	Paths map[string]string `json:"paths"`
	// Mode is the host layout when the cgroup was made.
	Mode Mode `json:"mode"`
	// Root is Config.Root if one was injected, else empty.
	Root string `json:"root,omitempty"`
}

// Manager is one container's cgroup.
type Manager struct {
	mode Mode
	root string // cgroup mount root
	fs   fsys   // how interface files are read and written

	// res is what New converted from the spec; nil after Load.
	res *resources

	// v1 is the library's manager on v1 and hybrid hosts.
	v1    *fs.Manager
	paths map[string]string // our own copy: the library's shrinks on Destroy

	// dir is the container's cgroup on v2; v2 is the library's manager
	// for it, used for the freezer, stats and OOM counts.
	dir string
	v2  *fs2.Manager

	// devicesV2 attaches the v2 device allowlist (an eBPF program). It is
	// the library's; tests of an injected root replace it, since a plain
	// directory cannot hold a BPF program.
	devicesV2 func(dir string, r *cgroups.Resources) error
}

// New computes the container's cgroup paths and converts its resources. It
// writes nothing; on v1 it reads /proc/self/mountinfo and /proc/self/cgroup
// to find the hierarchies (through the library), and on v2 it reads
// /proc/self/cgroup only for a relative CgroupsPath.
func New(c Config) (*Manager, error) {
	if c.Systemd {
		return nil, ErrSystemdUnsupported
	}
	m, err := newBare(c.Root)
	if err != nil {
		return nil, err
	}
	inner, err := innerPath(c.ID, c.CgroupsPath)
	if err != nil {
		return nil, err
	}
	if c.Rootless && c.CgroupsPath == "" {
		inner = strings.TrimPrefix(inner, "/")
	}
	m.res, err = convertResources(c.Resources, m.mode, true)
	if err != nil {
		return nil, err
	}
	m.res.lib.Devices = append(m.res.lib.Devices, mknodRules(c.Nodes)...)
	if c.Rootless {
		m.res.lib.Devices, m.res.lib.SkipDevices = nil, true
	}

	if m.mode == ModeV2 {
		own := ""
		if !filepath.IsAbs(inner) {
			if own, err = ownV2Cgroup(); err != nil {
				return nil, fmt.Errorf("cgroup path %q: find own cgroup: %w", inner, err)
			}
		}
		m.dir = v2Dir(m.root, inner, own)
		if c.Rootless && !delegated(m.dir) {
			m.dir = ""
			return m, m.checkRootlessLimits(m.res.lib)
		}
		m.v2, err = fs2.NewManager(libCgroup(), m.dir)
		if err != nil {
			return nil, fmt.Errorf("cgroup %q: %w", m.dir, err)
		}
		return m, nil
	}

	// The fs manager refuses Unified on v1; in hybrid mode Tirith writes it
	// into the unified hierarchy itself (see Apply).
	cg := &cgroups.Cgroup{Path: inner, Resources: withoutUnified(m.res.lib)}
	m.v1, err = fs.NewManager(cg, nil)
	if err != nil {
		return nil, fmt.Errorf("cgroup path %q: %w", inner, err)
	}
	m.paths = maps.Clone(m.v1.GetPaths())
	if c.Rootless {
		for k, p := range m.paths {
			if k == "devices" || !delegated(p) {
				delete(m.paths, k)
			}
		}
		if err := m.checkRootlessLimits(m.res.lib); err != nil {
			return nil, err
		}
		if m.v1, err = fs.NewManager(cg, maps.Clone(m.paths)); err != nil {
			return nil, err
		}
		return m, nil
	}
	if err := m.checkV1Controllers(m.res.lib); err != nil {
		return nil, err
	}
	return m, nil
}

// delegated reports whether an unprivileged caller may use the cgroup
// at p: it exists and its cgroup.procs is writable, or the nearest
// existing ancestor is a directory the caller may create in.
func delegated(p string) bool {
	if _, err := os.Stat(p); err == nil {
		return unix.Access(filepath.Join(p, "cgroup.procs"), unix.W_OK) == nil
	}
	for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			return unix.Access(d, unix.W_OK|unix.X_OK) == nil
		}
	}
	return false
}

// None reports whether the container has no cgroup of its own (a
// rootless caller to whom no cgroup is delegated).
func (m *Manager) None() bool {
	if m.mode == ModeV2 {
		return m.dir == ""
	}
	return len(m.paths) == 0
}

// checkRootlessLimits fails, with runc's wording, for a limit whose
// controller is not delegated to the caller: a limit the spec asks
// for is never dropped silently.
func (m *Manager) checkRootlessLimits(r *cgroups.Resources) error {
	for _, w := range limitsAsked(r) {
		have := m.dir != ""
		if m.mode != ModeV2 {
			_, have = m.paths[w.sys]
			if w.sys == "unified" {
				_, have = m.paths[""]
			}
		}
		if !have {
			return fieldErr(w.field, "cannot set %s limit: container could not join or create cgroup (no %s cgroup is delegated to uid %d)", w.sys, w.sys, os.Geteuid())
		}
	}
	return nil
}

type limit struct{ field, sys string }

// limitsAsked lists the limits r sets, with the v1 controller of each.
func limitsAsked(r *cgroups.Resources) []limit {
	var out []limit
	for _, c := range []struct {
		set bool
		limit
	}{
		{r.Memory != 0 || r.MemorySwap != 0 || r.MemoryReservation != 0, limit{"linux.resources.memory", "memory"}},
		{r.PidsLimit != nil, limit{"linux.resources.pids", "pids"}},
		{r.CpuShares != 0 || r.CpuQuota != 0 || r.CpuPeriod != 0 || r.CpuRtRuntime != 0 || r.CpuRtPeriod != 0 || r.CPUIdle != nil, limit{"linux.resources.cpu", "cpu"}},
		{r.CpusetCpus != "" || r.CpusetMems != "", limit{"linux.resources.cpu", "cpuset"}},
		{r.BlkioWeight != 0 || r.BlkioLeafWeight != 0 || len(r.BlkioWeightDevice) > 0 || len(r.BlkioThrottleReadBpsDevice) > 0 ||
			len(r.BlkioThrottleWriteBpsDevice) > 0 || len(r.BlkioThrottleReadIOPSDevice) > 0 || len(r.BlkioThrottleWriteIOPSDevice) > 0,
			limit{"linux.resources.blockIO", "blkio"}},
		{len(r.HugetlbLimit) > 0, limit{"linux.resources.hugepageLimits", "hugetlb"}},
		{r.NetClsClassid != 0, limit{"linux.resources.network.classID", "net_cls"}},
		{len(r.NetPrioIfpriomap) > 0, limit{"linux.resources.network.priorities", "net_prio"}},
		{len(r.Rdma) > 0, limit{"linux.resources.rdma", "rdma"}},
		{len(r.Unified) > 0, limit{"linux.resources.unified", "unified"}},
	} {
		if c.set {
			out = append(out, c.limit)
		}
	}
	return out
}

// checkV1Controllers names the spec field whose controller this v1 host
// lacks, instead of the library's later "cannot set net_cls limit".
// Only optional controllers are checked; the library itself refuses a host
// without the devices hierarchy.
func (m *Manager) checkV1Controllers(r *cgroups.Resources) error {
	// In hybrid mode hugetlb may live in the unified hierarchy instead;
	// Apply checks that.
	optional := map[string]bool{"net_cls": true, "net_prio": true, "rdma": true, "pids": true, "memory": true, "hugetlb": m.mode == ModeV1}
	for _, w := range limitsAsked(r) {
		if _, ok := m.paths[w.sys]; optional[w.sys] && !ok {
			return fieldErr(w.field, "the %s controller is not available on this host", w.sys)
		}
	}
	return nil
}

// newBare picks the layout and file access for a root.
func newBare(root string) (*Manager, error) {
	m := &Manager{devicesV2: cgroups.DevicesSetV2}
	if root == "" || filepath.Clean(root) == hostRoot {
		m.root, m.mode, m.fs = hostRoot, DetectMode(), cgroupfs{}
		return m, nil
	}
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("cgroup root %q: must be absolute", root)
	}
	m.root, m.mode, m.fs = filepath.Clean(root), ModeV2, &dirFS{}
	if _, err := os.Stat(filepath.Join(m.root, "cgroup.controllers")); err != nil {
		// v1 roots cannot be injected: the library finds v1 hierarchies
		// through mountinfo only.
		return nil, fmt.Errorf("cgroup root %q: not a cgroup v2 layout: %w", root, err)
	}
	return m, nil
}

// libCgroup is the library config for a manager that only reads, freezes and
// removes. The library wants non-nil Resources for the freezer.
func libCgroup() *cgroups.Cgroup {
	return &cgroups.Cgroup{Resources: &cgroups.Resources{}}
}

func withoutUnified(r *cgroups.Resources) *cgroups.Resources {
	c := *r
	c.Unified = nil
	return &c
}

// Load re-opens a container's cgroup from its persisted State.
func Load(st State) (*Manager, error) {
	m, err := newBare(st.Root)
	if err != nil {
		return nil, err
	}
	if st.Mode != m.mode {
		// A reboot into another layout loses every cgroup anyway; refuse
		// rather than write v1 files into a v2 tree.
		return nil, fmt.Errorf("load cgroup: state is for cgroup %s, host is %s", st.Mode, m.mode)
	}
	if len(st.Paths) == 0 {
		return m, nil // no cgroup of its own (rootless, none delegated)
	}
	if m.mode == ModeV2 {
		if len(st.Paths) != 1 || st.Paths[""] == "" {
			return nil, fmt.Errorf("load cgroup: v2 state needs exactly one path with key \"\", got %v", st.Paths)
		}
		if err := checkStatePaths(m.root, st.Paths, 1); err != nil {
			return nil, fmt.Errorf("load cgroup: %w", err)
		}
		m.dir = st.Paths[""]
		if m.v2, err = fs2.NewManager(libCgroup(), m.dir); err != nil {
			return nil, fmt.Errorf("load cgroup %q: %w", m.dir, err)
		}
		return m, nil
	}
	if err := checkStatePaths(m.root, st.Paths, 2); err != nil {
		return nil, fmt.Errorf("load cgroup: %w", err)
	}
	m.paths = maps.Clone(st.Paths)
	if m.v1, err = fs.NewManager(libCgroup(), maps.Clone(st.Paths)); err != nil {
		return nil, fmt.Errorf("load cgroup: %w", err)
	}
	return m, nil
}

// State returns what the runtime must persist to Load this Manager later.
func (m *Manager) State() State {
	st := State{Mode: m.mode}
	if m.root != hostRoot {
		st.Root = m.root
	}
	if m.mode == ModeV2 {
		st.Paths = map[string]string{}
		if m.dir != "" {
			st.Paths[""] = m.dir
		}
	} else {
		st.Paths = maps.Clone(m.paths)
	}
	return st
}

// Mode is the host layout this Manager works on.
func (m *Manager) Mode() Mode { return m.mode }

// Path is the container's cgroup directory for a v1 controller ("memory",
// "pids", ...; "" is the unified hierarchy in hybrid mode). On v2 every
// controller shares one directory, returned for any name.
func (m *Manager) Path(controller string) string {
	if m.mode == ModeV2 {
		return m.dir
	}
	return m.paths[controller]
}

// Apply creates the container's cgroup on every hierarchy, applies the
// resources and the device allowlist, and only then moves pid in, so the
// process never runs in the cgroup without its limits. If any step fails,
// it removes the cgroups it created (not ones that already existed, which a
// shared cgroupsPath may name). If pid had already been moved into some of
// them, the removal fails with EBUSY and is reported; the runtime then kills
// the process and calls Destroy.
//
// After Apply the process is in its cgroups but still in the runtime's
// cgroup namespace. The container's init should unshare(CLONE_NEWCGROUP)
// (on a locked OS thread that then execs) only after Apply returned, so that
// its cgroup root is the container's cgroup; a cgroup namespace created by
// clone before Apply would be rooted at the runtime's cgroup instead.
//
// Preconditions: New, not Load, made m (Load does not know the resources).
func (m *Manager) Apply(pid int) (retErr error) {
	if m.res == nil {
		return errors.New("apply cgroup: manager was loaded from state, not created with resources")
	}
	if m.None() {
		return nil
	}
	if m.mode == ModeV2 {
		if err := m.applyV2(pid); err != nil {
			return fmt.Errorf("apply cgroup %q: %w", m.dir, err)
		}
		return nil
	}

	existed := map[string]bool{}
	for k, p := range m.paths {
		existed[k] = dirExists(p)
	}
	defer func() {
		if retErr == nil {
			return
		}
		var errs []error
		for k, p := range m.paths {
			if !existed[k] {
				if err := cgroups.RemovePath(p); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if len(errs) > 0 {
			retErr = fmt.Errorf("%w (cleanup: %w)", retErr, errors.Join(errs...))
		}
	}()

	// -1 creates the directories without moving anything (cpuset parents
	// get their cpus/mems copied on the way).
	if err := m.v1.Apply(-1); err != nil {
		return fmt.Errorf("apply cgroup %q: %w", m.paths["devices"], err)
	}
	if err := m.setV1(m.res); err != nil {
		return fmt.Errorf("apply cgroup %q: %w", m.paths["devices"], err)
	}
	if err := m.v1.AddPid("", pid); err != nil {
		return fmt.Errorf("apply cgroup %q: add pid %d: %w", m.paths["devices"], pid, err)
	}
	return nil
}

func (m *Manager) applyV2(pid int) (retErr error) {
	m.fs.begin()
	created, err := createV2(m.fs, m.root, m.dir, nil)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil && created {
			if err := os.Remove(m.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
				retErr = fmt.Errorf("%w (cleanup: %w)", retErr, err)
			}
		}
	}()
	if err := m.setV2(m.res.lib); err != nil {
		return err
	}
	if err := m.fs.write(m.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
		return fmt.Errorf("add pid %d: %w", pid, err)
	}
	return nil
}

func (m *Manager) setV2(r *cgroups.Resources) error {
	ws, err := v2Writes(r)
	if err != nil {
		return err
	}
	if err := applyWrites(m.fs, m.dir, ws); err != nil {
		return err
	}
	if r.SkipDevices {
		return nil
	}
	if m.devicesV2 == nil {
		return cgroups.ErrDevicesUnsupported
	}
	if err := m.devicesV2(m.dir, r); err != nil {
		return fmt.Errorf("set device allowlist: %w", err)
	}
	return nil
}

// setV1 applies r through the library, then what the library has no field
// for on v1 (kmem.tcp), then, in hybrid mode, what goes to the unified
// hierarchy.
func (m *Manager) setV1(res *resources) error {
	lib := res.lib
	var unified map[string]string
	if m.mode == ModeHybrid {
		unified = maps.Clone(lib.Unified)
		if _, ok := m.paths["hugetlb"]; !ok && len(lib.HugetlbLimit) > 0 {
			// hugetlb is bound to cgroup2 on this host: express the
			// limits as unified keys (they come first, so an explicit
			// unified key still wins).
			if unified == nil {
				unified = map[string]string{}
			}
			for _, h := range lib.HugetlbLimit {
				k := "hugetlb." + h.Pagesize + ".max"
				if _, set := unified[k]; !set {
					unified[k] = strconv.FormatUint(h.Limit, 10)
				}
			}
			c := *lib
			c.HugetlbLimit = nil
			lib = &c
		}
	}
	if err := m.v1.Set(withoutUnified(lib)); err != nil {
		return err
	}
	if res.kernelTCP != nil {
		if err := m.setKernelTCP(*res.kernelTCP); err != nil {
			return err
		}
	}
	if len(unified) > 0 {
		if err := m.setHybridUnified(unified); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) setKernelTCP(v int64) error {
	dir := m.paths["memory"]
	if dir == "" {
		return fieldErr("linux.resources.memory.kernelTCP", "the memory controller is not available on this host")
	}
	const file = "memory.kmem.tcp.limit_in_bytes"
	if _, err := os.Stat(filepath.Join(dir, file)); errors.Is(err, os.ErrNotExist) {
		// Kernels without kmem accounting have no such file; as with v2,
		// TCP buffers are then charged to the memory limit.
		return nil
	}
	if err := m.fs.write(dir, file, strconv.FormatInt(v, 10)); err != nil {
		return fmt.Errorf("set %s: %w", file, err)
	}
	return nil
}

// setHybridUnified writes unified keys into the container's cgroup in the
// hybrid host's cgroup2 hierarchy (created and joined by the library).
func (m *Manager) setHybridUnified(u map[string]string) error {
	dir := m.paths[""]
	if dir == "" {
		return fieldErr("linux.resources.unified", "this host has no unified hierarchy")
	}
	root := filepath.Join(m.root, "unified")
	avail, err := m.fs.read(root, "cgroup.controllers")
	if err != nil {
		return fmt.Errorf("read unified controllers: %w", err)
	}
	have := map[string]bool{"cgroup": true}
	for _, c := range strings.Fields(avail) {
		have[c] = true
	}
	var need []string
	for k := range u {
		c := controllerOf(k)
		if !have[c] {
			return fieldErr(fmt.Sprintf("linux.resources.unified[%q]", k),
				"controller %q is not in this hybrid host's cgroup2 hierarchy (it has: %s)", c, strings.TrimSpace(avail))
		}
		if c != "cgroup" && !contains(need, c) {
			need = append(need, c)
		}
	}
	if _, err := createV2(m.fs, root, dir, need); err != nil {
		return err
	}
	return applyWrites(m.fs, dir, unifiedWrites(u))
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Set changes the limits of a live container (tirith update). Only what r
// holds changes; devices change only if r lists device rules (and then the
// allowlist is rebuilt: deny all, r's rules, the defaults).
func (m *Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m.None() {
		return errNone("update")
	}
	res, err := convertResources(r, m.mode, len(r.Devices) > 0)
	if err != nil {
		return err
	}
	m.fs.begin()
	if m.mode == ModeV2 {
		err = m.setV2(res.lib)
	} else {
		err = m.setV1(res)
	}
	if err != nil {
		return fmt.Errorf("update cgroup %q: %w", m.Path("devices"), err)
	}
	return nil
}

// Pids lists every process in the container's cgroup and its sub-cgroups.
func (m *Manager) Pids() ([]int, error) {
	var (
		pids []int
		err  error
	)
	if m.None() {
		return nil, errNone("list processes")
	}
	if m.mode == ModeV2 {
		pids, err = cgroups.GetAllPids(m.dir)
	} else {
		pids, err = m.v1.GetAllPids()
	}
	if err != nil {
		return nil, fmt.Errorf("list pids of cgroup %q: %w", m.Path("devices"), err)
	}
	return pids, nil
}

func (m *Manager) freeze(s cgroups.FreezerState) error {
	if m.None() {
		return errNone("freeze")
	}
	var err error
	if m.mode == ModeV2 {
		err = m.v2.Freeze(s)
	} else {
		err = m.v1.Freeze(s)
	}
	if err != nil {
		return fmt.Errorf("set cgroup %q to %s: %w", m.Path("freezer"), strings.ToLower(string(s)), err)
	}
	return nil
}

// Freeze stops every process in the cgroup; it returns once the kernel
// reports the cgroup frozen.
func (m *Manager) Freeze() error { return m.freeze(cgroups.Frozen) }

// Thaw resumes a frozen cgroup.
func (m *Manager) Thaw() error { return m.freeze(cgroups.Thawed) }

// Frozen reports whether the cgroup is frozen.
func (m *Manager) Frozen() (bool, error) {
	var (
		s   cgroups.FreezerState
		err error
	)
	if m.None() {
		return false, nil
	}
	if m.mode == ModeV2 {
		s, err = m.v2.GetFreezerState()
	} else {
		s, err = m.v1.GetFreezerState()
	}
	if err != nil {
		return false, fmt.Errorf("read freezer state of cgroup %q: %w", m.Path("freezer"), err)
	}
	return s == cgroups.Frozen, nil
}

// Stats reads the cgroup's counters, in the shape of runc's events --stats.
func (m *Manager) Stats() (*Stats, error) {
	var (
		s   *cgroups.Stats
		err error
	)
	if m.None() {
		return nil, errNone("read stats")
	}
	if m.mode == ModeV2 {
		s, err = m.v2.GetStats()
	} else {
		s, err = m.v1.GetStats()
	}
	if err != nil {
		return nil, fmt.Errorf("read stats of cgroup %q: %w", m.Path("memory"), err)
	}
	return convertStats(s), nil
}

// OOMKillCount is how many processes the kernel's OOM killer has killed in
// the cgroup (v1: memory.oom_control oom_kill, v2: memory.events oom_kill).
func (m *Manager) OOMKillCount() (uint64, error) {
	var (
		n   uint64
		err error
	)
	if m.None() {
		return 0, errNone("count OOM kills")
	}
	if m.mode == ModeV2 {
		n, err = m.v2.OOMKillCount()
	} else {
		n, err = m.v1.OOMKillCount()
	}
	if err != nil {
		return 0, fmt.Errorf("read oom kill count of cgroup %q: %w", m.Path("memory"), err)
	}
	return n, nil
}

// Destroy removes the container's cgroup (and any sub-cgroups) from every
// hierarchy. It kills nothing: a cgroup that still has processes cannot be
// removed, and Destroy then fails after the library's retries. Removing an
// already removed cgroup succeeds. Parents such as /tirith stay; other
// containers share them.
func (m *Manager) Destroy() error {
	if m.None() {
		return nil
	}
	var errs []error
	if m.mode == ModeV2 {
		if err := cgroups.RemovePath(m.dir); err != nil {
			errs = append(errs, err)
		}
	} else {
		// RemovePath per path rather than the library's Destroy, which
		// forgets removed paths and so could not be retried from the same
		// Manager after a partial failure.
		for _, p := range m.paths {
			if err := cgroups.RemovePath(p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy cgroup %q: %w", m.Path("devices"), err)
	}
	return nil
}

// Exists reports whether the container's cgroup is still there. On v1 the
// devices hierarchy decides, as in the library: it is the one hierarchy a
// container cannot run without.
func (m *Manager) Exists() bool {
	if m.mode != ModeV2 && m.paths["devices"] == "" {
		for _, p := range m.paths { // rootless: no devices hierarchy
			return dirExists(p)
		}
	}
	return dirExists(m.Path("devices"))
}

// ErrNoCgroup is what needs a cgroup fails with when the container has
// none (a rootless caller to whom no cgroup is delegated).
var ErrNoCgroup = errors.New("container has no cgroup of its own (rootless, and no cgroup is delegated to this user)")

func errNone(what string) error { return fmt.Errorf("cannot %s: %w", what, ErrNoCgroup) }

func dirExists(p string) bool {
	if p == "" {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// fileWrite is one write to a cgroup v2 interface file.
type fileWrite struct {
	file, value string
	// optional means a missing file is not an error: the kernel lacks the
	// feature (memory.swap.max without swap accounting, hugetlb.*.rsvd.max
	// before 5.7, io.bfq.weight without BFQ) and the write is either a
	// no-op there or a refinement that the kernel cannot give.
	optional bool
	// fallback is written instead when file does not exist (io.weight when
	// the BFQ scheduler's io.bfq.weight is absent).
	fallback *fileWrite
}

// numToStr renders a v2 limit: 0 is "leave unset", -1 is "max".
func numToStr(v int64) string {
	switch v {
	case 0:
		return ""
	case -1:
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// v2Writes lists the interface files to write for r, in the order fs2 uses
// (pids, memory, io, cpu, cpuset, hugetlb, rdma, then the unified map, so a
// unified key can override a converted value). Devices and the freezer are
// not files and are left to the caller.
func v2Writes(r *cgroups.Resources) ([]fileWrite, error) {
	var ws []fileWrite
	add := func(file, value string) { ws = append(ws, fileWrite{file: file, value: value}) }

	if r.PidsLimit != nil {
		v := "max"
		if l := *r.PidsLimit; l > 0 {
			v = strconv.FormatInt(l, 10)
		} else if l == 0 {
			// Same as the library: systemd cannot express 0, so both drivers
			// write 1, which in practice behaves the same.
			v = "1"
		}
		add("pids.max", v)
	}

	if r.Memory != 0 || r.MemoryReservation != 0 || r.MemorySwap != 0 {
		// The spec's swap is memory+swap (v1 memsw); v2's memory.swap.max is
		// swap alone.
		swap, err := cgroups.ConvertMemorySwapToCgroupV2Value(r.MemorySwap, r.Memory)
		if err != nil {
			return nil, fmt.Errorf("memory.swap.max: %w", err)
		}
		s := numToStr(swap)
		if s == "" && r.MemorySwap > 0 {
			// memory+swap == memory: no swap at all, which must be written
			// as 0 rather than left at the default "max".
			s = "0"
		}
		if s != "" {
			// Without swap accounting the file is absent; "max" and "0" then
			// already hold, anything else must fail.
			ws = append(ws, fileWrite{file: "memory.swap.max", value: s, optional: s == "max" || s == "0"})
		}
		// swap.max goes first, as in fs2, so that lowering memory.max
		// never briefly leaves more room in swap than configured.
		if v := numToStr(r.Memory); v != "" {
			add("memory.max", v)
		}
		if v := numToStr(r.MemoryReservation); v != "" {
			add("memory.low", v)
		}
	}

	if r.BlkioWeight != 0 {
		// BFQ takes the v1 weight range as is; io.weight needs converting.
		ws = append(ws, fileWrite{
			file: "io.bfq.weight", value: strconv.FormatUint(uint64(r.BlkioWeight), 10),
			fallback: &fileWrite{file: "io.weight", value: strconv.FormatUint(cgroups.ConvertBlkIOToIOWeightValue(r.BlkioWeight), 10)},
		})
	}
	for _, wd := range r.BlkioWeightDevice {
		// Only BFQ has per-device weights; without it the library drops
		// them too.
		ws = append(ws, fileWrite{file: "io.bfq.weight", value: wd.WeightString(), optional: true})
	}
	for _, t := range []struct {
		key string
		tds []*cgroups.ThrottleDevice
	}{
		{"rbps", r.BlkioThrottleReadBpsDevice},
		{"wbps", r.BlkioThrottleWriteBpsDevice},
		{"riops", r.BlkioThrottleReadIOPSDevice},
		{"wiops", r.BlkioThrottleWriteIOPSDevice},
	} {
		for _, td := range t.tds {
			add("io.max", td.StringName(t.key))
		}
	}

	if r.CPUIdle != nil {
		add("cpu.idle", strconv.FormatInt(*r.CPUIdle, 10))
	}
	if r.CpuWeight != 0 {
		add("cpu.weight", strconv.FormatUint(r.CpuWeight, 10))
	}
	if r.CpuQuota != 0 || r.CpuPeriod != 0 {
		v := "max"
		if r.CpuQuota > 0 {
			v = strconv.FormatInt(r.CpuQuota, 10)
		}
		period := r.CpuPeriod
		if period == 0 {
			period = 100000 // the kernel's default period
		}
		add("cpu.max", v+" "+strconv.FormatUint(period, 10))
	}
	if r.CpuBurst != nil {
		// After cpu.max: the kernel refuses a burst larger than the quota.
		add("cpu.max.burst", strconv.FormatUint(*r.CpuBurst, 10))
	}

	if r.CpusetCpus != "" {
		add("cpuset.cpus", r.CpusetCpus)
	}
	if r.CpusetMems != "" {
		add("cpuset.mems", r.CpusetMems)
	}

	for _, h := range r.HugetlbLimit {
		v := strconv.FormatUint(h.Limit, 10)
		add("hugetlb."+h.Pagesize+".max", v)
		// Reservations (5.7+) also count pages reserved but not yet
		// faulted in; limiting only usage would let mmap succeed and the
		// process die with SIGBUS later.
		ws = append(ws, fileWrite{file: "hugetlb." + h.Pagesize + ".rsvd.max", value: v, optional: true})
	}

	devs := make([]string, 0, len(r.Rdma))
	for d := range r.Rdma {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, d := range devs {
		l := r.Rdma[d]
		v := d
		if l.HcaHandles != nil {
			v += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			v += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		add("rdma.max", v)
	}

	ws = append(ws, unifiedWrites(r.Unified)...)
	return ws, nil
}

// unifiedWrites lists the spec's unified map in key order, so that the
// result does not depend on map iteration.
func unifiedWrites(u map[string]string) []fileWrite {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ws := make([]fileWrite, 0, len(keys))
	for _, k := range keys {
		ws = append(ws, fileWrite{file: k, value: u[k]})
	}
	return ws
}

// fsys reads and writes cgroup interface files. cgroupfs goes through the
// library's hardened helpers; dirFS is a plain directory (an injected root).
type fsys interface {
	read(dir, file string) (string, error)
	write(dir, file, data string) error
	// begin starts one operation (Apply or Set); see dirFS.
	begin()
}

type cgroupfs struct{}

func (cgroupfs) read(dir, file string) (string, error) { return cgroups.ReadFile(dir, file) }

func (cgroupfs) write(dir, file, data string) error {
	// By line: a unified value may hold several lines (io.max for two
	// devices), and the kernel takes one per write.
	return cgroups.WriteFileByLine(dir, file, data)
}

func (cgroupfs) begin() {}

// dirFS is a plain directory laid out like cgroupfs. Files are never created
// (O_CREAT is not used), so writing a file the kernel would not have fails as
// it would on cgroupfs. Keyed files such as io.max merge several writes in
// the kernel; here the first write of an operation truncates and later ones
// append, one value per line, so no write is hidden.
type dirFS struct {
	written map[string]bool
}

func (d *dirFS) begin() { d.written = map[string]bool{} }

func (d *dirFS) read(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, filepath.Clean("/"+file)))
	return string(b), err
}

func (d *dirFS) write(dir, file, data string) error {
	p := filepath.Join(dir, filepath.Clean("/"+file))
	flags := os.O_WRONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if d.written == nil {
		d.begin()
	}
	if d.written[p] {
		flags |= os.O_APPEND
	} else {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(p, flags, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		d.written[p] = true
	}
	return err
}

// applyWrites writes ws into dir.
func applyWrites(fs fsys, dir string, ws []fileWrite) error {
	for _, w := range ws {
		err := fs.write(dir, w.file, w.value)
		if err != nil && errors.Is(err, os.ErrNotExist) {
			switch {
			case w.fallback != nil:
				w = *w.fallback
				err = fs.write(dir, w.file, w.value)
			case w.optional:
				err = nil
			}
		}
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				// The usual cause: the controller is not enabled for this
				// cgroup or not built into the kernel.
				return fmt.Errorf("set %s to %q: controller %q not available: %w", w.file, w.value, controllerOf(w.file), err)
			}
			return fmt.Errorf("set %s to %q: %w", w.file, w.value, err)
		}
	}
	return nil
}

func controllerOf(file string) string {
	c, _, _ := strings.Cut(file, ".")
	return c
}

// createV2 makes dir (and any missing parents) below root and enables the
// controllers of root's cgroup.controllers in each ancestor's
// cgroup.subtree_control, so that dir gets them. It returns whether it
// created dir itself (so a failed Apply removes only what it made).
//
// Like fs2, failures to enable a controller are not fatal here: a limit that
// needs it fails later with an error naming the file.
func createV2(fs fsys, root, dir string, only []string) (created bool, _ error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false, fmt.Errorf("cgroup %q is not below %q", dir, root)
	}
	ctrls := only
	if ctrls == nil {
		avail, err := fs.read(root, "cgroup.controllers")
		if err != nil {
			return false, fmt.Errorf("read available controllers: %w", err)
		}
		ctrls = strings.Fields(avail)
	}
	current := root
	for _, e := range strings.Split(rel, "/") {
		if len(ctrls) > 0 {
			enable := "+" + strings.Join(ctrls, " +")
			if err := fs.write(current, "cgroup.subtree_control", enable); err != nil {
				// One at a time, so one unavailable controller (e.g. cpuset
				// in use by a realtime task) does not block the others.
				for _, c := range ctrls {
					_ = fs.write(current, "cgroup.subtree_control", "+"+c)
				}
			}
		}
		current = filepath.Join(current, e)
		err := os.Mkdir(current, 0o755)
		switch {
		case err == nil:
			created = current == dir
		case errors.Is(err, os.ErrExist):
		default:
			return false, fmt.Errorf("create cgroup %q: %w", current, err)
		}
	}
	return created, nil
}

package cgroups

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// helperEnv makes the test binary act as a small program instead of running
// tests (a re-exec, as in runc's integration tests). Every helper first
// waits for stdin to close, so the test can move it into a cgroup before it
// does anything.
const helperEnv = "TIRITH_CGROUPS_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "memhog":
		_, _ = io.Copy(io.Discard, os.Stdin)
		// Touch every page of 512 MiB so it is really charged.
		var keep [][]byte
		for range 512 {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("survived", len(keep))
		os.Exit(0)
	case "opendev":
		_, _ = io.Copy(io.Discard, os.Stdin)
		for _, p := range strings.Split(os.Getenv(helperEnv+"_ARGS"), ",") {
			f, err := os.OpenFile(p, os.O_RDONLY, 0)
			if err != nil {
				fmt.Printf("%s %v\n", p, errors.Unwrap(err))
				continue
			}
			f.Close()
			fmt.Printf("%s ok\n", p)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown helper")
		os.Exit(2)
	}
}

// requireRoot skips without root, or fails if TIRITH_TEST_ROOT=1 says root
// tests must run (CONTRIBUTING.md, "Rules").
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("TIRITH_TEST_ROOT") == "1" {
		t.Fatal("requires root, and TIRITH_TEST_ROOT=1 makes that fatal")
	}
	t.Skip("requires root (run as root, or set TIRITH_TEST_ROOT=1 to make this fatal)")
}

// child is a process started outside the cgroup, held until release.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   strings.Builder
}

func startChild(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	c := &child{cmd: cmd}
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = &c.out, &c.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return c
}

func helper(name string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), helperEnv+"="+name), env...)
	return cmd
}

// newRootManager makes a Manager on this host with a unique id and makes
// sure the cgroup is gone when the test ends, killing what is left in it.
func newRootManager(t *testing.T, r *specs.LinuxResources) *Manager {
	t.Helper()
	id := fmt.Sprintf("test-%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), os.Getpid())
	m, err := New(Config{ID: id, Resources: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killAll(t, m)
		if err := m.Destroy(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return m
}

// killAll kills every process in the cgroup until none is left.
func killAll(t *testing.T, m *Manager) {
	t.Helper()
	for range 100 {
		pids, err := m.Pids()
		if err != nil || len(pids) == 0 {
			return
		}
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Error("processes left in the cgroup after 2s of SIGKILL")
}

// limitFile is the kernel file and expected content for a limit, per mode.
func readLimit(t *testing.T, m *Manager, v1ctrl, v1file, v2file string) string {
	t.Helper()
	var p string
	if m.Mode() == ModeV2 {
		p = filepath.Join(m.Path(""), v2file)
	} else {
		p = filepath.Join(m.Path(v1ctrl), v1file)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestRootLifecycle(t *testing.T) {
	requireRoot(t)
	m := newRootManager(t, &specs.LinuxResources{
		Pids:   &specs.LinuxPids{Limit: i64(10)},
		Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(64 * mib)},
	})
	c := startChild(t, exec.Command("sleep", "60"))
	pid := c.cmd.Process.Pid
	if err := m.Apply(pid); err != nil {
		t.Fatal(err)
	}
	if !m.Exists() {
		t.Fatal("Exists = false after Apply")
	}

	if got := readLimit(t, m, "pids", "pids.max", "pids.max"); got != "10" {
		t.Errorf("pids.max = %q, want 10", got)
	}
	if got := readLimit(t, m, "memory", "memory.limit_in_bytes", "memory.max"); got != strconv.Itoa(64*mib) {
		t.Errorf("memory limit = %q, want %d", got, 64*mib)
	}
	if m.Mode() != ModeV2 {
		if _, err := os.Stat(filepath.Join(m.Path("memory"), "memory.memsw.limit_in_bytes")); err == nil {
			if got := readLimit(t, m, "memory", "memory.memsw.limit_in_bytes", ""); got != strconv.Itoa(64*mib) {
				t.Errorf("memory.memsw.limit_in_bytes = %q, want %d (swap is memory+swap)", got, 64*mib)
			}
		}
		// The kernel's own view of the allowlist: deny-all-but-defaults.
		got := strings.Fields(strings.ReplaceAll(readLimit(t, m, "devices", "devices.list", ""), "\n", ","))
		list := strings.Split(strings.Join(got, " "), ",")
		for i := range list {
			list[i] = strings.TrimSpace(list[i])
		}
		want := slices.Clone(defaultRuleStrings)
		slices.Sort(list)
		slices.Sort(want)
		if !slices.Equal(list, want) {
			t.Errorf("devices.list = %q, want %q", list, want)
		}
	}

	pids, err := m.Pids()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, pid) {
		t.Errorf("Pids() = %v, want it to include %d", pids, pid)
	}
	procCgroup, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for k, p := range m.State().Paths {
		rel := strings.TrimPrefix(p, "/sys/fs/cgroup/")
		if m.Mode() != ModeV2 {
			rel = rel[strings.Index(rel, "/"):] // drop the hierarchy's mount dir
		} else {
			rel = "/" + rel
		}
		if !strings.Contains(string(procCgroup), ":"+rel+"\n") {
			t.Errorf("/proc/%d/cgroup does not show %q (controller %q):\n%s", pid, rel, k, procCgroup)
		}
	}
	if m.Mode() == ModeHybrid {
		if _, ok := m.State().Paths[""]; !ok {
			t.Error("hybrid host: the process was not placed in the unified hierarchy")
		}
	}

	// Freeze and thaw.
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if fz, err := m.Frozen(); err != nil || !fz {
		t.Errorf("Frozen() = %v, %v after Freeze", fz, err)
	}
	if m.Mode() != ModeV2 {
		if got := readLimit(t, m, "freezer", "freezer.state", ""); got != "FROZEN" {
			t.Errorf("freezer.state = %q", got)
		}
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if fz, err := m.Frozen(); err != nil || fz {
		t.Errorf("Frozen() = %v, %v after Thaw", fz, err)
	}

	// Stats, through State/Load as the runtime would after a restart.
	b, err := json.Marshal(m.State())
	if err != nil {
		t.Fatal(err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	l, err := Load(st)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids.Current < 1 || s.Pids.Limit != 10 {
		t.Errorf("pids stats %+v", s.Pids)
	}
	// Usage may be 0: v1 does not move a process's earlier charges with it.
	if s.Memory.Usage.Limit != 64*mib {
		t.Errorf("memory stats %+v", s.Memory.Usage)
	}
	if n, err := l.OOMKillCount(); err != nil || n != 0 {
		t.Errorf("OOMKillCount() = %d, %v", n, err)
	}
	if err := l.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(20)}}); err != nil {
		t.Fatal(err)
	}
	if got := readLimit(t, m, "pids", "pids.max", "pids.max"); got != "20" {
		t.Errorf("pids.max after Set = %q, want 20", got)
	}

	// Destroy fails while a process lives (it kills nothing) ... This
	// takes about a second per hierarchy: the library retries on EBUSY.
	if !testing.Short() {
		if err := l.Destroy(); err == nil {
			t.Error("Destroy succeeded with a live process in the cgroup")
		}
	}
	// ... and removes everything once the runtime has killed it.
	killAll(t, m)
	if err := l.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m)
	if err := l.Destroy(); err != nil {
		t.Errorf("second Destroy: %v", err)
	}
}

// assertGone checks no directory of the container is left on any hierarchy.
func assertGone(t *testing.T, m *Manager) {
	t.Helper()
	if m.Exists() {
		t.Error("Exists = true after Destroy")
	}
	for k, p := range m.State().Paths {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q (%q) still there: %v", p, k, err)
		}
	}
	base := filepath.Base(m.Path("devices"))
	left, err := filepath.Glob(filepath.Join("/sys/fs/cgroup/*/tirith", base))
	if err != nil {
		t.Fatal(err)
	}
	left2, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/tirith", base))
	if left = append(left, left2...); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestRootForkBombIsCapped(t *testing.T) {
	requireRoot(t)
	const limit = 10
	m := newRootManager(t, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(limit)}})
	c := startChild(t, exec.Command("sh", "-c",
		`read x; i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done; wait`))
	if err := m.Apply(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	c.stdin.Close()

	// Wait until the shell has tried all 60 forks: the count stops growing.
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for prev := -1; time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var err error
		if pids, err = m.Pids(); err != nil {
			t.Fatal(err)
		}
		if len(pids) == prev && len(pids) > 1 {
			break
		}
		prev = len(pids)
	}
	if len(pids) > limit {
		t.Errorf("%d processes in a cgroup with pids.max %d", len(pids), limit)
	}
	if len(pids) < limit-1 {
		t.Errorf("only %d processes: the bomb did not reach the limit, so the test proves nothing", len(pids))
	}
	// The kernel counts refused forks in pids.events ("max N").
	ev := readLimit(t, m, "pids", "pids.events", "pids.events")
	if !strings.HasPrefix(ev, "max ") || ev == "max 0" {
		t.Errorf("pids.events = %q, want refused forks counted", ev)
	}
	killAll(t, m)
	_ = c.cmd.Wait()
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m)
}

func TestRootMemoryHogIsOOMKilled(t *testing.T) {
	requireRoot(t)
	m := newRootManager(t, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(64 * mib)},
	})
	c := startChild(t, helper("memhog"))
	if err := m.Apply(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	before, err := m.OOMKillCount()
	if err != nil {
		t.Fatal(err)
	}
	c.stdin.Close()
	err = c.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("memory hog exited with %v, output %q; want it killed", err, c.out.String())
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("memory hog ended with %v, want SIGKILL from the OOM killer", err)
	}
	after, err := m.OOMKillCount()
	if err != nil {
		t.Fatal(err)
	}
	if after <= before {
		t.Errorf("OOMKillCount() %d -> %d, want it to grow", before, after)
	}
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m)
}

// TestRootDeviceAllowlistEnforced checks in the kernel that a default device
// opens and a device outside the allowlist does not.
func TestRootDeviceAllowlistEnforced(t *testing.T) {
	requireRoot(t)
	for _, p := range []string{"/dev/null", "/dev/kmsg"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs %s on the host: %v", p, err)
		}
	}
	m := newRootManager(t, &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}})
	c := startChild(t, helper("opendev", helperEnv+"_ARGS=/dev/null,/dev/kmsg"))
	if err := m.Apply(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	c.stdin.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v: %s", err, c.out.String())
	}
	out := c.out.String()
	if !strings.Contains(out, "/dev/null ok") {
		t.Errorf("default device /dev/null not usable:\n%s", out)
	}
	if !strings.Contains(out, "/dev/kmsg operation not permitted") {
		t.Errorf("/dev/kmsg (c 1:11) not denied:\n%s", out)
	}
}

// TestRootHybridHugetlbGoesToUnified checks that on a hybrid host whose
// hugetlb controller is bound to cgroup2, hugepage limits are written into
// the unified hierarchy.
func TestRootHybridHugetlbGoesToUnified(t *testing.T) {
	requireRoot(t)
	if DetectMode() != ModeHybrid {
		t.Skipf("requires a hybrid cgroup host (this host is %s)", DetectMode())
	}
	ctrls, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if !slices.Contains(strings.Fields(string(ctrls)), "hugetlb") {
		t.Skip("requires hugetlb in /sys/fs/cgroup/unified/cgroup.controllers")
	}
	if _, err := os.Stat("/sys/kernel/mm/hugepages/hugepages-2048kB"); err != nil {
		t.Skip("requires 2MB huge pages")
	}
	m := newRootManager(t, &specs.LinuxResources{
		HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}},
		Unified:        map[string]string{"hugetlb.1GB.max": "0"},
	})
	if _, ok := m.State().Paths["hugetlb"]; ok {
		t.Skip("hugetlb is a v1 hierarchy here")
	}
	c := startChild(t, exec.Command("sleep", "60"))
	if err := m.Apply(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"hugetlb.2MB.max", "hugetlb.1GB.max"} {
		b, err := os.ReadFile(filepath.Join(m.Path(""), f))
		if err != nil || strings.TrimSpace(string(b)) != "0" {
			t.Errorf("%s = %q, %v; want 0", f, b, err)
		}
	}
	killAll(t, m)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m)
}

func TestRootV2Only(t *testing.T) {
	requireRoot(t)
	if DetectMode() != ModeV2 {
		t.Skipf("requires a pure cgroup v2 host (/sys/fs/cgroup is %s here)", DetectMode())
	}
	m := newRootManager(t, &specs.LinuxResources{
		Pids:   &specs.LinuxPids{Limit: i64(10)},
		Memory: &specs.LinuxMemory{Limit: i64(64 * mib), Swap: i64(64 * mib)},
		CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(50000)},
	})
	c := startChild(t, exec.Command("sleep", "60"))
	if err := m.Apply(c.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"pids.max": "10", "memory.max": strconv.Itoa(64 * mib), "cpu.weight": "100", "cpu.max": "50000 100000"} {
		if got := readLimit(t, m, "", "", f); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	if got, err := os.ReadFile(filepath.Join(m.Path(""), "memory.swap.max")); err == nil && strings.TrimSpace(string(got)) != "0" {
		t.Errorf("memory.swap.max = %q, want 0", got)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if fz, err := m.Frozen(); err != nil || !fz {
		t.Errorf("Frozen() = %v, %v", fz, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	killAll(t, m)
	if err := m.Destroy(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, m)
}

// TestRootApplyFailureLeavesNothing gives the kernel a value it refuses (a
// cpuset with a CPU that does not exist) and checks that Apply removes the
// cgroups it created on every hierarchy and never moved the process.
func TestRootApplyFailureLeavesNothing(t *testing.T) {
	requireRoot(t)
	m := newRootManager(t, &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "4095"}})
	c := startChild(t, exec.Command("sleep", "60"))
	err := m.Apply(c.cmd.Process.Pid)
	if err == nil {
		t.Fatal("Apply accepted cpuset.cpus 4095")
	}
	if !strings.HasPrefix(err.Error(), "apply cgroup ") {
		t.Errorf("error %q does not say what failed", err)
	}
	assertGone(t, m)
	own, _ := os.ReadFile("/proc/self/cgroup")
	child, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.cmd.Process.Pid))
	if string(own) != string(child) {
		t.Errorf("the process was moved although Apply failed:\n%s", child)
	}
}

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
)

// Wall 6: the limits are enforced by the kernel, not only written.

func v1Path(controller, id string) string {
	return filepath.Join("/sys/fs/cgroup", controller, cgroups.DefaultParent, id)
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	must(t, err)
	return n
}

// requireV1 skips, naming what is missing, unless each controller's cgroup
// v1 hierarchy is mounted at /sys/fs/cgroup/<controller>: the test reads
// that hierarchy's own files (pids.events, memory.oom_control,
// cpuacct.usage ...). A pure v2 host has none of them (there
// TestResourcesOnPureV2 runs); a v1 or hybrid host may lack one.
func requireV1(t *testing.T, controllers ...string) {
	t.Helper()
	mode := cgroups.DetectMode()
	for _, c := range controllers {
		dir := filepath.Join("/sys/fs/cgroup", c)
		var st unix.Statfs_t
		if err := unix.Statfs(dir, &st); err != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			t.Skipf("needs the cgroup v1 %s controller mounted at %s, which this host (cgroup mode %s) lacks: the test reads v1 %s files", c, dir, mode, c)
		}
	}
}

func TestForkBombIsCapped(t *testing.T) {
	requireV1(t, "pids")
	e := newEnv(t)
	limit := int64(64)
	b := e.bundle(func(s *specs.Spec) {
		s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit}
	}, "sh", "-c", "bomb() { bomb | bomb & }; bomb; sleep 1000")
	id := e.running(b)
	// The bomb hits the limit: the kernel refuses forks beyond it.
	waitFor(t, "refused forks", func() bool {
		data, _ := os.ReadFile(filepath.Join(v1Path("pids", id), "pids.events"))
		return strings.Contains(string(data), "max ") && !strings.Contains(string(data), "max 0")
	})
	if cur := readInt(t, filepath.Join(v1Path("pids", id), "pids.current")); cur > limit {
		t.Fatalf("pids.current %d exceeds the limit %d", cur, limit)
	}
	// The host still starts processes.
	done := make(chan error, 1)
	go func() { done <- exec.Command("true").Run() }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the host could not start a process while the bomb ran")
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

func TestMemoryHogIsOOMKilledInsideOnly(t *testing.T) {
	requireV1(t, "memory")
	e := newEnv(t)
	mem := int64(64 << 20)
	b := e.bundle(func(s *specs.Spec) {
		s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem, Swap: &mem}
	}, "sh", "-c", "sleep 0.3; dd if=/dev/zero of=/dev/null bs=200M count=1; sleep 1000")
	id := e.running(b)
	// events reports the kill as it happens.
	ev := e.runcAsync("events", "--interval", "100ms", id)
	waitFor(t, "an OOM kill", func() bool {
		return readInt(t, filepath.Join(v1Path("memory", id), "memory.limit_in_bytes")) == mem &&
			strings.Contains(string(must2(os.ReadFile(filepath.Join(v1Path("memory", id), "memory.oom_control")))), "oom_kill 1")
	})
	// Only dd died: the container's init (sleep after dd) lives on.
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("container status %s after its hog was killed", st.Status)
	}
	sawOOM := func() bool {
		for _, line := range strings.Split(ev.output(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["type"] == "oom" && m["id"] == id {
				return true
			}
		}
		return false
	}
	waitFor(t, "events to report the OOM kill", sawOOM)
	e.ok("delete", "--force", id)
	// The stream ends with the container.
	ev.wait(t)
	e.assertGone(id, b)
}

func TestCPUQuotaHalfACore(t *testing.T) {
	requireV1(t, "cpu", "cpuacct")
	e := newEnv(t)
	quota, period := int64(50000), uint64(100000)
	b := e.bundle(func(s *specs.Spec) {
		s.Linux.Resources.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}, "sh", "-c", "while :; do :; done")
	id := e.running(b)
	usage := filepath.Join(v1Path("cpuacct", id), "cpuacct.usage")
	time.Sleep(300 * time.Millisecond)
	u0, t0 := readInt(t, usage), time.Now()
	time.Sleep(2 * time.Second)
	u1, t1 := readInt(t, usage), time.Now()
	share := float64(u1-u0) / float64(t1.Sub(t0).Nanoseconds())
	t.Logf("busy loop used %.2f of one CPU under a 0.5 CPU quota", share)
	// The cap is what is tested: without the quota a busy loop takes a
	// whole core. Below 0.5 only means other work on the machine got
	// the CPU; the loop must still have run.
	if share > 0.7 || share < 0.02 {
		t.Fatalf("CPU share %.2f, want at most about 0.5", share)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

func TestDeviceAllowlist(t *testing.T) {
	e := newEnv(t)
	// /dev/net/tun opens without any capability, so only the device
	// cgroup can refuse it.
	mode := os.FileMode(0o666)
	tun := specs.LinuxDevice{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200, FileMode: &mode}
	major, minor := int64(10), int64(200)
	for _, tc := range []struct {
		name  string
		allow bool
	}{{"denied without a rule", false}, {"allowed with a rule", true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				s.Linux.Devices = append(s.Linux.Devices, tun)
				if tc.allow {
					s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
						specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rw"})
				}
			}, "sh", "-c", "dd if=/dev/net/tun of=/dev/null count=0 2>&1 && echo OPENED")
			r := e.runc("run", "--bundle", b, e.id())
			opened := strings.Contains(r.stdout, "OPENED")
			if opened != tc.allow {
				t.Fatalf("device opened=%v, want %v; output %q", opened, tc.allow, r.stdout)
			}
			if !tc.allow && !strings.Contains(r.stdout, "not permitted") {
				t.Fatalf("denial was not the device cgroup's EPERM: %q", r.stdout)
			}
		})
	}
}

func TestPauseResumeAndUpdate(t *testing.T) {
	requireV1(t, "freezer", "pids", "memory")
	e := newEnv(t)
	out := t.TempDir()
	testutilOpen(t, out)
	b := e.bundle(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/out", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
		delete(s.Annotations, landlock.Annotation) // /out is not among its writable paths
	}, "sh", "-c", "i=0; while true; i=$((i+1)); do echo $i > /out/count; sleep 0.02; done")
	id := e.running(b)
	count := func() int64 {
		data, _ := os.ReadFile(filepath.Join(out, "count"))
		n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		return n
	}
	waitFor(t, "the counter", func() bool { return count() > 3 })

	e.ok("pause", id)
	if st := e.state(id); st.Status != "paused" {
		t.Fatalf("after pause: %s", st.Status)
	}
	c0 := count()
	time.Sleep(300 * time.Millisecond)
	if c1 := count(); c1 != c0 {
		t.Fatalf("a paused container kept counting: %d -> %d", c0, c1)
	}
	e.fails("pause", id)
	e.ok("resume", id)
	waitFor(t, "counting to resume", func() bool { return count() > c0 })
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("after resume: %s", st.Status)
	}

	// update changes a live limit, and the kernel enforces it.
	e.ok("update", "--pids-limit", "3", id)
	if got := readInt(t, filepath.Join(v1Path("pids", id), "pids.max")); got != 3 {
		t.Fatalf("pids.max %d after update, want 3", got)
	}
	r := e.runc("exec", id, "sh", "-c", "sleep 5 & sleep 5 & sleep 5 & wait")
	if r.code == 0 {
		t.Fatalf("exec forked past the updated pids limit: %+v", r)
	}
	e.ok("update", "--memory", "96m", "--memory-swap", "96m", id)
	if got := readInt(t, filepath.Join(v1Path("memory", id), "memory.limit_in_bytes")); got != 96<<20 {
		t.Fatalf("memory limit %d after update", got)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// update reads sizes as run does (Docker's units: fractions, any case),
// and a size it cannot read is the flag's error with the limit unchanged.
func TestUpdateMemoryTakesDockerSizes(t *testing.T) {
	e := newEnv(t)
	id := e.running(e.bundle(nil, "sleep", "1000"))
	limit := filepath.Join(v1PathOrV2("memory", id), "memory.limit_in_bytes")
	if cgroups.DetectMode() == cgroups.ModeV2 {
		limit = filepath.Join(v1PathOrV2("memory", id), "memory.max")
	}
	e.ok("update", "--memory", "1.5g", id)
	if got := readInt(t, limit); got != 1610612736 {
		t.Fatalf("%s = %d after --memory 1.5g, want 1610612736", limit, got)
	}
	e.ok("update", "--memory", "256M", id)
	if got := readInt(t, limit); got != 256<<20 {
		t.Fatalf("%s = %d after --memory 256M, want %d", limit, got, 256<<20)
	}
	stderr := e.fails("update", "--memory", "1.5x", id)
	if !strings.Contains(stderr, "--memory") || !strings.Contains(stderr, `"1.5x"`) {
		t.Fatalf("--memory 1.5x: stderr %q does not name the flag and the value", stderr)
	}
	if got := readInt(t, limit); got != 256<<20 {
		t.Fatalf("%s = %d after a refused update, want it unchanged", limit, got)
	}
}

// The same runtime on a pure cgroup v2 host: limits land in the unified
// files. Unit tests in internal/cgroups cover the v2 writer everywhere.
func TestResourcesOnPureV2(t *testing.T) {
	if cgroups.DetectMode() != cgroups.ModeV2 {
		t.Skip("requires a pure cgroup v2 host (this one is " + string(cgroups.DetectMode()) + ")")
	}
	e := newEnv(t)
	limit := int64(42)
	b := e.bundle(func(s *specs.Spec) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &limit} }, "sleep", "1000")
	id := e.running(b)
	if got := readInt(t, filepath.Join("/sys/fs/cgroup", cgroups.DefaultParent, id, "pids.max")); got != limit {
		t.Fatalf("pids.max %d, want %d", got, limit)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

func must2[T any](v T, err error) T {
	if err != nil {
		var zero T
		return zero
	}
	return v
}

func testutilOpen(t *testing.T, dir string) {
	t.Helper()
	must(t, os.Chmod(dir, 0o777))
}

// async is a tirith command running in the background.
type async struct {
	cmd  *exec.Cmd
	out  *os.File
	done chan struct{}
}

func (e *env) runcAsync(args ...string) *async {
	e.t.Helper()
	f, err := os.CreateTemp(e.t.TempDir(), "async")
	must(e.t, err)
	cmd := exec.Command(runcBin, append([]string{"--root", e.root}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	must(e.t, cmd.Start())
	a := &async{cmd: cmd, out: f, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(a.done) }()
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); <-a.done; f.Close() })
	return a
}

// output returns what the command printed so far.
func (a *async) output() string {
	data, _ := os.ReadFile(a.out.Name())
	return string(data)
}

// wait waits (up to 20 s) for the command to end and returns its output.
func (a *async) wait(t *testing.T) string {
	t.Helper()
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("background tirith command did not end")
	}
	data, _ := os.ReadFile(a.out.Name())
	return string(data)
}

// Even with CAP_MKNOD, a container cannot make a disk node, and a host
// disk bind-mounted in cannot be opened: the device cgroup refuses both.
func TestDiskDeviceDenied(t *testing.T) {
	disk := ""
	for _, d := range []string{"/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/xvda"} {
		if _, err := os.Stat(d); err == nil {
			disk = d
			break
		}
	}
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, "CAP_MKNOD")
		c.Effective = append(c.Effective, "CAP_MKNOD")
		c.Permitted = append(c.Permitted, "CAP_MKNOD")
		if disk != "" {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hostdisk", Type: "bind", Source: disk, Options: []string{"bind", "ro"}})
		}
	}, "sh", "-c", "mknod /dev/sdx b 8 0 2>&1 || echo MKNOD-REFUSED; "+
		"test -e /hostdisk && (dd if=/hostdisk of=/dev/null count=1 2>&1 || echo OPEN-REFUSED); true")
	out := e.ok("run", "--bundle", b, e.id())
	if !strings.Contains(out, "MKNOD-REFUSED") {
		t.Errorf("mknod of a disk succeeded inside the container: %s", out)
	}
	if disk != "" && !strings.Contains(out, "OPEN-REFUSED") {
		t.Errorf("the host disk %s bind-mounted in could be read: %s", disk, out)
	}
}

// The container sees its cgroup read-only (the default spec's cgroup
// mount): it cannot raise its own limits.
func TestContainerCannotWriteItsLimits(t *testing.T) {
	requireV1(t, "pids")
	e := newEnv(t)
	b := e.bundle(nil, "sh", "-c", "echo max > /sys/fs/cgroup/pids/pids.max && echo RAISED; cat /sys/fs/cgroup/pids/pids.max")
	out := e.ok("run", "--bundle", b, e.id())
	if strings.Contains(out, "RAISED") || !strings.Contains(out, "1024") {
		t.Fatalf("the container changed its own pids limit: %q", out)
	}
}

// A runtime killed between making the cgroup and starting the payload
// leaves nothing that `delete --force` cannot remove.
func TestKilledCreateIsCleanedByDeleteForce(t *testing.T) {
	e := newEnv(t)
	block := filepath.Join(t.TempDir(), "block.sh")
	must(t, os.WriteFile(block, []byte("#!/bin/sh\nexec sleep 987654\n"), 0o755))
	b := e.bundle(func(s *specs.Spec) {
		// The create blocks in this hook: cgroup made, init waiting.
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: block}}}
	}, "true")
	id := e.id()
	e.cleanup(id)
	cmd := exec.Command(runcBin, "--root", e.root, "create", "--bundle", b, id)
	must(t, cmd.Start())
	waitFor(t, "the cgroup", func() bool {
		_, err := os.Stat(v1PathOrV2("pids", id))
		return err == nil
	})
	must(t, cmd.Process.Kill())
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(e.root, id)); err != nil {
		t.Fatalf("no state was left to clean up (the test did not hit the window): %v", err)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
	// The hook's sleep was the runtime's child, not the container's.
	_ = exec.Command("pkill", "-f", "sleep 987654").Run()
}

func v1PathOrV2(controller, id string) string {
	if cgroups.DetectMode() == cgroups.ModeV2 {
		return filepath.Join("/sys/fs/cgroup", cgroups.DefaultParent, id)
	}
	return v1Path(controller, id)
}

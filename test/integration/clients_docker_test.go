package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/testutil"
)

// Docker (Debian's docker.io 20.10) with --add-runtime tirith=tirith-runc:
// the same scenario with --runtime tirith and --runtime runc. dockerd
// runs on private paths (data root, exec root, pid file, socket, the
// containerd it starts under them, its own containerd namespace), with
// no iptables and no bridge; containers use --network none.
func TestClientDocker(t *testing.T) {
	testutil.RequireRoot(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	for _, bin := range []string{"dockerd", "docker", "containerd", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install docker.io; .ci/run does)", bin)
		}
	}
	rts := clientRuntimes(t)
	d := startDockerd(t, rts)
	d.ok("load", "-i", clientImageArchive(t, d.dir, "example.com/clients/busybox:1"))
	for name := range rts {
		t.Run(name, func(t *testing.T) { dockerScenario(t, d, name) })
	}
}

type dockerd struct {
	t        *testing.T
	dir, env string
}

func startDockerd(t *testing.T, rts map[string]string) *dockerd {
	t.Helper()
	dir := clientDir(t, "tirith-dockerd-")
	d := &dockerd{t: t, dir: dir, env: "DOCKER_HOST=unix://" + filepath.Join(dir, "docker.sock")}
	// The containers' cgroups go below a parent of the test's own (not
	// Docker's /docker), removed at the end.
	parent := fmt.Sprintf("/tirith-it-docker-%d", os.Getpid())
	args := []string{"--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"), "-H", "unix://" + filepath.Join(dir, "docker.sock"),
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver", "vfs",
		"--containerd-namespace", "tirith-it", "--containerd-plugins-namespace", "tirith-it-plugins",
		"--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", parent}
	for name, bin := range rts {
		if name != "runc" { // runc is dockerd's own default runtime
			args = append(args, "--add-runtime", name+"="+bin)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	must(t, err)
	cmd := exec.Command("dockerd", args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	t.Cleanup(func() {
		if r := d.run(time.Minute, "", "rm", "-f", "-v", "c1", "c2", "c3"); r.code != 0 && !strings.Contains(r.stderr, "No such container") {
			t.Logf("docker rm -f: %s", r.stderr)
		}
		// dockerd stops the containerd it started, which stops the shims.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("dockerd log (last 4 kB):\n%s", tail(b, 4096))
			}
		}
		removeCgroupTree(t, parent)
	})
	deadline := time.Now().Add(60 * time.Second)
	for d.run(10*time.Second, "", "version").code != 0 {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("dockerd did not come up in 60s:\n%s", tail(b, 4096))
		}
		time.Sleep(300 * time.Millisecond)
	}
	return d
}

func (d *dockerd) run(timeout time.Duration, stdin string, args ...string) cmdResult {
	d.t.Helper()
	return runClient(d.t, timeout, stdin, []string{d.env}, append([]string{"docker"}, args...)...)
}

func (d *dockerd) ok(args ...string) string {
	d.t.Helper()
	r := d.run(2*time.Minute, "", args...)
	if r.code != 0 {
		d.t.Fatalf("docker %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func dockerScenario(t *testing.T, d *dockerd, runtime string) {
	const img = "example.com/clients/busybox:1"
	run := func(args ...string) []string {
		return append([]string{"run", "--runtime", runtime, "--network", "none"}, args...)
	}
	tt := d.t
	d.t = t
	defer func() { d.t = tt }()
	rm := func(names ...string) { _ = d.run(time.Minute, "", append([]string{"rm", "-f"}, names...)...) }
	t.Cleanup(func() { rm("c1", "c2", "c3") })

	if r := d.run(time.Minute, "", run("--rm", img, "sh", "-c", "echo hi from $(id -u); exit 3")...); r.code != 3 || strings.TrimSpace(r.stdout) != "hi from 0" {
		t.Errorf("run --rm: exit %d, stdout %q, stderr %q; want 3 and \"hi from 0\"", r.code, r.stdout, r.stderr)
	}
	if out := d.ok(run("--rm", img)...); out != "hello from the image" {
		t.Errorf("run of the image's command: %q", out)
	}
	// Docker reads the runtime's words for these exit codes.
	if r := d.run(time.Minute, "", run("--rm", img, "/nonexist")...); r.code != 127 {
		t.Errorf("run of a missing command: exit %d, want 127\nstderr: %s", r.code, r.stderr)
	}
	if r := d.run(time.Minute, "", run("--rm", img, "/etc/hello")...); r.code != 126 {
		t.Errorf("run of a file that is not executable: exit %d, want 126\nstderr: %s", r.code, r.stderr)
	}

	// -d, exec, logs, pause/unpause, update --memory, stop, rm.
	d.ok(run("-d", "--name", "c1", img, "sh", "-c", `echo started; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done`)...)
	if out := d.ok("exec", "c1", "sh", "-c", "echo exec $((6*7)) $(id -u)"); out != "exec 42 0" {
		t.Errorf("exec: %q, want \"exec 42 0\"", out)
	}
	if r := d.run(time.Minute, "", "exec", "c1", "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("exec exit code %d, want 5 (stderr %q)", r.code, r.stderr)
	}
	// Docker 20.10 reports 126 for an exec whose command is missing,
	// with runc as well (run reports 127).
	if r := d.run(time.Minute, "", "exec", "c1", "/nonexist"); r.code != 126 {
		t.Errorf("exec of a missing command: exit %d, want 126 as with runc (stderr %q)", r.code, r.stderr)
	}
	if r := d.run(time.Minute, "", "exec", "c1", "/etc/hello"); r.code != 126 {
		t.Errorf("exec of a file that is not executable: exit %d, want 126 (stderr %q)", r.code, r.stderr)
	}
	waitFor(t, "the log to hold the first line", func() bool { return strings.Contains(d.ok("logs", "c1"), "started") })
	d.ok("pause", "c1")
	// Docker refuses exec in a paused container itself; the runtime's
	// word for it is runc's.
	if r := d.run(time.Minute, "", "exec", "c1", "true"); r.code == 0 {
		t.Errorf("exec in a paused container succeeded")
	}
	if st := d.ok("inspect", "-f", "{{.State.Status}}", "c1"); st != "paused" {
		t.Errorf("after pause: %q", st)
	}
	d.ok("unpause", "c1")
	if st := d.ok("inspect", "-f", "{{.State.Status}}", "c1"); st != "running" {
		t.Errorf("after unpause: %q", st)
	}
	d.ok("update", "--memory", "64m", "--memory-swap", "64m", "c1")
	if lim := d.ok("exec", "c1", "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"); lim != "67108864" {
		t.Errorf("memory limit after update --memory 64m: %q, want 67108864", lim)
	}
	start := time.Now()
	d.ok("stop", "-t", "20", "c1")
	if dur := time.Since(start); dur > 15*time.Second {
		t.Errorf("stop took %s: SIGTERM did not stop the container", dur)
	}
	if st := d.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "c1"); st != "exited 0" {
		t.Errorf("after stop: %q, want \"exited 0\"", st)
	}
	if out := d.ok("logs", "c1"); !strings.Contains(out, "bye") {
		t.Errorf("logs after stop: %q, want the trap's \"bye\"", out)
	}
	d.ok("rm", "c1")

	// A container that ignores SIGTERM: stop -t 1 kills it.
	d.ok(run("-d", "--name", "c2", img, "sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`)...)
	d.ok("stop", "-t", "1", "c2")
	if st := d.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "c2"); st != "exited 137" {
		t.Errorf("after stop of a container ignoring SIGTERM: %q, want \"exited 137\"", st)
	}
	d.ok("rm", "c2")

	// --read-only, --cap-drop ALL, a seccomp profile file.
	if r := d.run(time.Minute, "", run("--rm", "--read-only", img, "touch", "/x")...); r.code == 0 {
		t.Errorf("--read-only: touch /x succeeded")
	}
	if out := d.ok(run("--rm", "--cap-drop", "ALL", img, "grep", "CapEff", "/proc/self/status")...); !strings.Contains(out, "0000000000000000") {
		t.Errorf("--cap-drop ALL: %q, want no effective capability", out)
	}
	prof := filepath.Join(t.TempDir(), "seccomp.json")
	must(t, os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}`), 0o644))
	r := d.run(time.Minute, "", run("--rm", "--security-opt", "seccomp="+prof, img, "sh", "-c", "mkdir /tmp/d && echo made")...)
	if r.code == 0 || strings.Contains(r.stdout, "made") || !strings.Contains(r.stderr+r.stdout, "not permitted") {
		t.Errorf("seccomp profile denying mkdir: exit %d, stdout %q, stderr %q; want EPERM", r.code, r.stdout, r.stderr)
	}
	if out := d.ok(run("--rm", "--security-opt", "seccomp="+prof, img, "sh", "-c", "echo allowed")...); out != "allowed" {
		t.Errorf("seccomp profile: other calls: %q", out)
	}

	// An OOM kill is reported as Docker reports it with runc.
	r = d.run(2*time.Minute, "", run("--name", "c3", "--memory", "32m", "--memory-swap", "32m", img, "sh", "-c", `x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived`)...)
	if oom := d.ok("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "c3"); r.code != 137 || oom != "true 137" {
		t.Errorf("OOM: exit %d, inspect %q; want 137 and \"true 137\" (stdout %q)", r.code, oom, r.stdout)
	}
	d.ok("rm", "c3")

	// -it through a pseudo-terminal (script(1)).
	if _, err := exec.LookPath("script"); err == nil {
		cmd := append([]string{"docker"}, run("--rm", "-it", img, "sh", "-c", "sleep 1; test -t 0 && test -t 1 && echo tty-yes")...)
		r := runClient(t, time.Minute, "", []string{d.env}, "script", "-qec", shellJoin(cmd), "/dev/null")
		if r.code != 0 || !strings.Contains(r.stdout, "tty-yes") {
			t.Errorf("run -it: exit %d, stdout %q, stderr %q; want the process on a terminal", r.code, r.stdout, r.stderr)
		}
	}
}

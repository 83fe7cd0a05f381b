package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/testutil"
)

// podman (Debian's) with --runtime: the same scenario with Tirith and
// with runc. podman runs on private paths (--root, --runroot, --tmpdir
// under a temp dir), cgroupfs and the file events backend (no systemd
// here), and every container gets nofile and nproc limits within this
// sandbox's hard limits (podman's defaults exceed them; runc fails the
// same way without).
func TestClientPodman(t *testing.T) {
	testutil.RequireRoot(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	podman, err := exec.LookPath("podman")
	if err != nil {
		t.Skip("podman is not installed (apt-get install podman; .ci/run does)")
	}
	if _, err := exec.LookPath("conmon"); err != nil {
		t.Skip("conmon is not installed (Debian's podman depends on it)")
	}
	for name, rt := range clientRuntimes(t) {
		t.Run(name, func(t *testing.T) { podmanScenario(t, podman, rt) })
	}
}

type podmanEnv struct {
	t    *testing.T
	dir  string
	base []string
	// wrap runs podman in a private mount namespace with dir/etc over
	// /etc (for --userns=auto's /etc/subuid), when set.
	wrap bool
}

func (p *podmanEnv) run(timeout time.Duration, args ...string) cmdResult {
	p.t.Helper()
	argv := append(append([]string{}, p.base...), args...)
	if p.wrap {
		argv = append([]string{"unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
			`mount --bind "$0" /etc && exec "$@"`, filepath.Join(p.dir, "etc")}, argv...)
	}
	return runClient(p.t, timeout, "", nil, argv...)
}

func (p *podmanEnv) ok(args ...string) string {
	p.t.Helper()
	r := p.run(2*time.Minute, args...)
	if r.code != 0 {
		p.t.Fatalf("podman %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func podmanScenario(t *testing.T, podman, runtime string) {
	dir := clientDir(t, "tirith-podman-")
	p := &podmanEnv{t: t, dir: dir, base: []string{podman,
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "run"), "--tmpdir", filepath.Join(dir, "tmp"),
		"--storage-driver", "vfs", "--runtime", runtime, "--cgroup-manager", "cgroupfs", "--events-backend", "file"}}
	// The containers' (and conmon's) cgroups go below a parent of the
	// test's own (not podman's /libpod_parent), removed after
	// the containers (cleanups run last first).
	parent := fmt.Sprintf("/tirith-it-podman-%d-%s", os.Getpid(), filepath.Base(runtime))
	t.Cleanup(func() { removeCgroupTree(t, parent) })
	t.Cleanup(func() {
		// Containers a failed step left: removed through the runtime
		// (delete --force), so that their cgroups go too.
		p.wrap = false
		if r := p.run(time.Minute, "rm", "-af", "-t", "0"); r.code != 0 {
			t.Logf("podman rm -af: %s", r.stderr)
		}
	})
	const img = "example.com/clients/busybox:1"
	p.ok("load", "-i", clientImageArchive(t, dir, img))
	limits := []string{"--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--cgroup-parent", parent}
	run := func(args ...string) []string { return append(append([]string{"run"}, limits...), args...) }

	// run --rm: output and the process's exit code.
	if r := p.run(time.Minute, run("--rm", img, "sh", "-c", "echo hi from $(id -u); exit 3")...); r.code != 3 || strings.TrimSpace(r.stdout) != "hi from 0" {
		t.Errorf("run --rm: exit %d, stdout %q, stderr %q; want 3 and \"hi from 0\"", r.code, r.stdout, r.stderr)
	}
	// The image's own command.
	if out := p.ok(run("--rm", img)...); strings.TrimSpace(out) != "hello from the image" {
		t.Errorf("run of the image's command: %q", out)
	}
	// podman reads the runtime's words for these exit codes.
	if r := p.run(time.Minute, run("--rm", img, "/nonexist")...); r.code != 127 {
		t.Errorf("run of a missing command: exit %d, want 127\nstderr: %s", r.code, r.stderr)
	}
	if r := p.run(time.Minute, run("--rm", img, "/etc/hello")...); r.code != 126 {
		t.Errorf("run of a file that is not executable: exit %d, want 126\nstderr: %s", r.code, r.stderr)
	}

	// -d, exec, logs, stop (the payload exits on SIGTERM), rm.
	p.ok(run("-d", "--name", "c1", img, "sh", "-c", `echo started; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done`)...)
	if out := p.ok("exec", "c1", "sh", "-c", "echo exec $((6*7)) $(id -u)"); strings.TrimSpace(out) != "exec 42 0" {
		t.Errorf("exec: %q, want \"exec 42 0\"", out)
	}
	if r := p.run(time.Minute, "exec", "c1", "sh", "-c", "exit 5"); r.code != 5 {
		t.Errorf("exec exit code %d, want 5 (stderr %q)", r.code, r.stderr)
	}
	if r := p.run(time.Minute, "exec", "c1", "/nonexist"); r.code != 127 {
		t.Errorf("exec of a missing command: exit %d, want 127 (stderr %q)", r.code, r.stderr)
	}
	waitFor(t, "the log to hold the first line", func() bool { return strings.Contains(p.ok("logs", "c1"), "started") })
	start := time.Now()
	p.ok("stop", "-t", "20", "c1")
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stop took %s: SIGTERM did not stop the container, podman waited for its SIGKILL", d)
	}
	if st := strings.TrimSpace(p.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "c1")); st != "exited 0" {
		t.Errorf("after stop: %q, want \"exited 0\"", st)
	}
	if out := p.ok("logs", "c1"); !strings.Contains(out, "bye") {
		t.Errorf("logs after stop: %q, want the trap's \"bye\"", out)
	}
	p.ok("rm", "c1")
	if out := p.ok("ps", "-aq"); strings.TrimSpace(out) != "" {
		t.Errorf("containers left after rm: %q", out)
	}

	// A container that ignores SIGTERM: stop -t 1 kills it.
	p.ok(run("-d", "--name", "c2", img, "sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`)...)
	p.ok("stop", "-t", "1", "c2")
	if st := strings.TrimSpace(p.ok("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "c2")); st != "exited 137" {
		t.Errorf("after stop of a container ignoring SIGTERM: %q, want \"exited 137\"", st)
	}
	p.ok("rm", "c2")

	// -it through a pseudo-terminal: script(1) gives podman one; the
	// container's console comes through conmon's console socket. The
	// process waits a second: podman may attach after a process that
	// exits at once has written (with runc too).
	if _, err := exec.LookPath("script"); err == nil {
		cmd := append(append([]string{}, p.base...), run("--rm", "-it", img, "sh", "-c", "sleep 1; test -t 0 && test -t 1 && echo tty-yes")...)
		r := runClient(t, time.Minute, "", nil, "script", "-qec", shellJoin(cmd), "/dev/null")
		if r.code != 0 || !strings.Contains(r.stdout, "tty-yes") {
			t.Errorf("run -it: exit %d, stdout %q, stderr %q; want the process on a terminal", r.code, r.stdout, r.stderr)
		}
	} else {
		t.Log("script(1) is not installed (util-linux): run -it not tested")
	}

	// --userns=auto: podman picks a range of the "containers" entry of
	// /etc/subuid; the test gives it one in a private copy of /etc.
	must(t, exec.Command("cp", "-a", "/etc", filepath.Join(dir, "etc")).Run())
	for _, f := range []string{"subuid", "subgid"} {
		must(t, os.WriteFile(filepath.Join(dir, "etc", f), []byte("containers:300000:200000\n"), 0o644))
	}
	p.wrap = true
	out := p.ok(run("--rm", "--userns=auto", img, "cat", "/proc/self/uid_map")...)
	f := strings.Fields(out)
	if len(f) < 3 || f[0] != "0" || !inRange(f[1], 300000, 500000) {
		t.Errorf("--userns=auto: uid_map %q, want container root mapped into 300000-499999", out)
	}
	p.wrap = false
}

func inRange(s string, lo, hi int) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= lo && n < hi
}

// shellJoin quotes argv for sh -c.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

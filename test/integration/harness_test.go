// Package integration drives the built tirith binary the way containerd,
// podman or a person would: real namespaces, cgroups, mounts, as root.
// The OCI runtime is called as runc's clients call it, through a
// tirith-runc symlink (runcBin); the front end as tirith (tirithBin).
// Every test builds its own bundle from Debian's busybox-static and the
// static test/probe binary.
package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/probe"
	"github.com/tirith-project/tirith/internal/spec"
	"github.com/tirith-project/tirith/internal/testutil"
)

var (
	tirithBin string // the binary under test; under this name, the front end
	runcBin   string // a tirith-runc symlink to it: the OCI runtime
	probeBin  string // static in-container probe
	busybox   string
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tirith-it-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tirithBin = filepath.Join(dir, "tirith")
	runcBin = filepath.Join(dir, "tirith-runc")
	probeBin = filepath.Join(dir, "probe")
	buildErr = build(tirithBin, "./cmd/tirith", nil)
	if buildErr == nil {
		// As the README installs it for containerd and podman.
		buildErr = os.Symlink("tirith", runcBin)
	}
	if buildErr == nil {
		buildErr = build(probeBin, "./test/probe", []string{"CGO_ENABLED=0"})
	}
	busybox, _ = exec.LookPath("busybox")
	code := m.Run()
	for _, f := range exitFuncs {
		f()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// exitFuncs run after every test, for what tests share (image stores).
var (
	exitMu    sync.Mutex
	exitFuncs []func()
)

func atExit(f func()) {
	exitMu.Lock()
	exitFuncs = append(exitFuncs, f)
	exitMu.Unlock()
}

func build(out, pkg string, env []string) error {
	cmd := exec.Command("go", "build", "-tags", "netgo,osusergo", "-o", out, pkg)
	cmd.Dir = testutil.ModuleRoot()
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// env is one test's runtime: its own --root, so tests never see each
// other's containers.
type env struct {
	t    *testing.T
	root string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testutil.RequireRoot(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if busybox == "" {
		t.Fatal("busybox not found: install Debian's busybox-static (.ci/run does)")
	}
	// No unmounting here: the runtime leaves no mount under --root, and
	// t.TempDir's removal fails the test if it does.
	return &env{t: t, root: t.TempDir()}
}

var idSeq atomic.Int64

// id returns a container id unique across concurrently running test
// binaries (cgroup paths are host-global).
func (e *env) id() string {
	name := strings.NewReplacer("/", "-", "_", "-").Replace(e.t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("it-%s-%d-%d", strings.ToLower(name), os.Getpid(), idSeq.Add(1))
}

// bundle makes a bundle: busybox and the probe in a rootfs, Tirith's
// default spec without a terminal, running args (default: the probe),
// then mutate.
func (e *env) bundle(mutate func(*specs.Spec), args ...string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	testutil.OpenToAll(e.t, dir)
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "run", "etc", "mnt"} {
		must(e.t, os.MkdirAll(filepath.Join(rootfs, d), 0o755))
	}
	copyFile(e.t, busybox, filepath.Join(rootfs, "bin", "busybox"))
	copyFile(e.t, probeBin, filepath.Join(rootfs, "bin", "probe"))
	for _, a := range []string{"sh", "ls", "cat", "echo", "sleep", "id", "ps", "true", "false", "mkdir", "touch", "hostname", "grep", "stat", "readlink", "mount", "umount", "kill", "env", "pwd", "head", "wc", "ulimit", "mknod", "domainname", "nproc", "test", "chmod", "rm", "ln", "date", "dd", "tr", "cp", "seq"} {
		must(e.t, os.Symlink("busybox", filepath.Join(rootfs, "bin", a)))
	}
	must(e.t, os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644))
	must(e.t, os.WriteFile(filepath.Join(rootfs, "etc", "group"), []byte("root:x:0:\nnobody:x:65534:\n"), 0o644))
	s := spec.Default(false)
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/probe"}
	if len(args) > 0 {
		s.Process.Args = args
	}
	if mutate != nil {
		mutate(s)
	}
	writeSpec(e.t, dir, s)
	return dir
}

func writeSpec(t *testing.T, dir string, s *specs.Spec) {
	t.Helper()
	data, err := json.MarshalIndent(s, "", " ")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644))
}

type result struct {
	stdout, stderr string
	code           int
}

// runc runs the OCI runtime (tirith-runc) with this env's --root.
func (e *env) runc(args ...string) result {
	e.t.Helper()
	return e.runBin(runcBin, "", nil, args...)
}

// runcIn runs the OCI runtime in dir with stdin.
func (e *env) runcIn(dir string, stdin []byte, args ...string) result {
	e.t.Helper()
	return e.runBin(runcBin, dir, stdin, args...)
}

// frontEnd runs the front end (tirith) with this env's --root.
func (e *env) frontEnd(stdin []byte, args ...string) result {
	e.t.Helper()
	return e.runBin(tirithBin, "", stdin, args...)
}

// runBin runs bin with this env's --root, in dir, with stdin.
func (e *env) runBin(bin, dir string, stdin []byte, args ...string) result {
	e.t.Helper()
	cmd := exec.Command(bin, append([]string{"--root", e.root}, args...)...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return runTimed(e.t, cmd, 60*time.Second)
}

// runTimed runs cmd (its stdout and stderr into files, not pipes: a
// detached container inherits its stdio, and a pipe it held open would
// keep Wait from returning) and fails the test if it takes longer than
// timeout.
func runTimed(t *testing.T, cmd *exec.Cmd, timeout time.Duration) result {
	t.Helper()
	outF, err := os.CreateTemp(t.TempDir(), "stdout")
	must(t, err)
	errF, err := os.CreateTemp(t.TempDir(), "stderr")
	must(t, err)
	defer outF.Close()
	defer errF.Close()
	cmd.Stdout, cmd.Stderr = outF, errF
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	timedOut := false
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		timedOut = true
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	if timedOut {
		t.Fatalf("%s %v: timed out\nstdout: %s\nstderr: %s", filepath.Base(cmd.Path), cmd.Args[1:], out, errb)
	}
	return result{stdout: string(out), stderr: string(errb), code: cmd.ProcessState.ExitCode()}
}

// ok runs the OCI runtime and fails the test unless it exits 0.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.runc(args...)
	if r.code != 0 {
		e.t.Fatalf("tirith-runc %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// fails runs the OCI runtime, expects a non-zero exit, and returns
// stderr.
func (e *env) fails(args ...string) string {
	e.t.Helper()
	r := e.runc(args...)
	if r.code == 0 {
		e.t.Fatalf("tirith-runc %v: succeeded, want failure\nstdout: %s", args, r.stdout)
	}
	return r.stderr
}

// runProbe runs a container from bundle in the foreground and decodes the
// probe's report.
func (e *env) runProbe(bundle string) *probe.Report {
	e.t.Helper()
	out := e.ok("run", "--bundle", bundle, e.id())
	var r probe.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("probe output: %v\n%s", err, out)
	}
	return &r
}

// state returns a container's state JSON.
func (e *env) state(id string) specs.State {
	e.t.Helper()
	var s specs.State
	must(e.t, json.Unmarshal([]byte(e.ok("state", id)), &s))
	return s
}

// created creates a container from bundle (its process waits for
// start), removed when the test ends.
func (e *env) created(bundle string) string {
	e.t.Helper()
	id := e.id()
	e.cleanup(id)
	e.ok("create", "--bundle", bundle, id)
	return id
}

// running runs a container from bundle detached, removed when the test
// ends.
func (e *env) running(bundle string) string {
	e.t.Helper()
	id := e.id()
	e.cleanup(id)
	e.ok("run", "--detach", "--bundle", bundle, id)
	return id
}

// cleanup registers a forced delete, so a failing test leaves nothing.
func (e *env) cleanup(id string) {
	e.t.Cleanup(func() {
		_ = exec.Command(runcBin, "--root", e.root, "delete", "--force", id).Run()
	})
}

// assertGone checks that nothing of container id is left: state dir,
// cgroups on any hierarchy, mounts of the bundle, processes.
func (e *env) assertGone(id, bundle string) {
	e.t.Helper()
	if _, err := os.Stat(filepath.Join(e.root, id)); err == nil {
		e.t.Errorf("state dir of %s left behind", id)
	}
	matches, _ := filepath.Glob("/sys/fs/cgroup/*/tirith/" + id)
	if m2, _ := filepath.Glob("/sys/fs/cgroup/tirith/" + id); len(m2) > 0 {
		matches = append(matches, m2...)
	}
	if len(matches) > 0 {
		e.t.Errorf("cgroups of %s left behind: %v", id, matches)
	}
	if bundle != "" {
		mi, err := os.ReadFile("/proc/self/mountinfo")
		must(e.t, err)
		if strings.Contains(string(mi), bundle) {
			e.t.Errorf("mounts under %s left behind on the host", bundle)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	must(t, err)
	must(t, os.WriteFile(dst, data, 0o755))
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

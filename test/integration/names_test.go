package integration

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/probe"
)

// One grammar per name: the name the binary is invoked by decides, never
// the arguments, the working directory or the image store.

// A ./config.json beside `tirith run IMAGE` changes nothing: the image
// runs (its probe), not the bundle, and no OCI container named after the
// image appears. (It used to be an OCI run of a container named IMAGE.)
func TestNamesConfigJSONBesideRunImage(t *testing.T) {
	t.Parallel()
	f := privateFE(t) // its own store: the container is found by listing
	b := f.bundle(nil, "echo", "from-the-bundle")
	r := f.runBin(tirithBin, b, nil, "--storage", f.storage, "run", f.image)
	rows := f.rows()
	for _, row := range rows {
		f.feOK("rm", "-f", row.ID)
	}
	if r.code != 0 {
		t.Fatalf("tirith run IMAGE beside config.json: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var rep probe.Report
	if strings.Contains(r.stdout, "from-the-bundle") || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("tirith run IMAGE beside config.json ran %q, want the image's probe", r.stdout)
	}
	if len(rows) != 1 || rows[0].Status != "exited" {
		t.Fatalf("front-end containers after run: %+v, want the one exited", rows)
	}
	if out := f.ok("list", "-q"); out != "" {
		t.Fatalf("OCI containers left: %q", out)
	}
	// The bundle is run with runc's grammar, by id, from its directory.
	id := f.id()
	f.cleanup(id)
	if r := f.runcIn(b, nil, "run", id); r.code != 0 || r.stdout != "from-the-bundle\n" {
		t.Fatalf("tirith-runc run ID in the bundle: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
}

// tirith-runc has runc's verbs only: a front-end verb is an unknown
// command (exit 3, as runc's), and --storage an unknown flag.
func TestNamesRuncHasNoFrontEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := filepath.Join(t.TempDir(), "storage")
	for _, args := range [][]string{{"images"}, {"pull", "busybox"}, {"rm", "-f", "x"}, {"seccomp", "check", "default"}, {"runtime", "list"}} {
		r := e.runc(args...)
		if r.code != 3 || !strings.Contains(r.stderr, `unknown command "`+args[0]+`"`) || r.stdout != "" {
			t.Errorf("tirith-runc %v: exit %d, stdout %q, stderr %q; want exit 3 naming the command", args, r.code, r.stdout, r.stderr)
		}
	}
	if r := e.runc("--storage", st, "list"); r.code == 0 || !strings.Contains(r.stderr, "--storage") {
		t.Errorf("tirith-runc --storage: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(st); err == nil {
		t.Error("tirith-runc made a store")
	}
	// runc's verbs work, and under the name runc too.
	runc := filepath.Join(t.TempDir(), "runc")
	must(t, os.Symlink(tirithBin, runc))
	if r := e.runBin(runc, "", nil, "list", "-q"); r.code != 0 || r.stdout != "" {
		t.Errorf("runc list: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := e.runBin(runc, "", nil, "images"); r.code != 3 {
		t.Errorf("runc images: exit %d %q", r.code, r.stderr)
	}
}

// A copy of the binary renamed as users rename downloads is the front
// end: run in the foreground and detached (the monitor is a re-exec),
// ps, exec, rm.
func TestNamesRenamedBinaryIsFrontEnd(t *testing.T) {
	t.Parallel()
	f := newFE(t)
	bin := filepath.Join(t.TempDir(), "tirith-linux-amd64")
	copyFile(t, tirithBin, bin)
	run := func(args ...string) string {
		t.Helper()
		r := f.runBin(bin, "", nil, append([]string{"--storage", f.storage}, args...)...)
		if r.code != 0 {
			t.Fatalf("tirith-linux-amd64 %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	if out := run("run", "--rm", f.image, "echo", "front-end"); out != "front-end\n" {
		t.Fatalf("renamed run: %q", out)
	}
	n := f.name()
	f.cleanupFE(n)
	id := strings.TrimSpace(run("run", "-d", "--name", n, f.image, "sleep", "1000"))
	if out := run("exec", n, "echo", "in"); out != "in\n" {
		t.Fatalf("renamed exec: %q", out)
	}
	if out := run("ps"); !strings.Contains(out, n) {
		t.Fatalf("renamed ps does not list %s:\n%s", n, out)
	}
	run("rm", "-f", n)
	f.assertFEGone(id)
	// The OCI runtime is under `runtime`, not beside the front end.
	if r := f.runBin(bin, "", nil, "create", "--bundle", f.bundle(nil), f.id()); r.code != 3 || !strings.Contains(r.stderr, `unknown command "create"`) {
		t.Fatalf("renamed create: exit %d %q, want unknown command", r.code, r.stderr)
	}
}

// Installed with the file named runc (or tirith-runc) and tirith a
// symlink to it, the front end still works: its detached monitor, a
// re-exec of the file, must not come up with runc's grammar.
func TestNamesFrontEndThroughSymlinkToRuncFile(t *testing.T) {
	t.Parallel()
	f := newFE(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "runc")
	copyFile(t, tirithBin, file)
	link := filepath.Join(dir, "tirith")
	must(t, os.Symlink("runc", link))
	n := f.name()
	f.cleanupFE(n)
	r := f.runBin(link, "", nil, "--storage", f.storage, "run", "-d", "--name", n, f.image, "sleep", "1000")
	if r.code != 0 {
		t.Fatalf("run -d through a tirith symlink to a runc file: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if row := f.row(n); row == nil || row.Status != "running" {
		t.Fatalf("record: %+v, want running", row)
	}
	f.feOK("rm", "-f", n)
	f.assertFEGone(strings.TrimSpace(r.stdout))
}

// Under tirith, runc's grammar is `tirith runtime`, global flags before
// or after it; its defaults are runc's (kill: SIGTERM), the front end's
// its own (kill: SIGKILL).
func TestNamesRuntimeSubcommand(t *testing.T) {
	t.Parallel()
	f := newFE(t)
	help := f.frontEnd(nil, "runtime", "--help")
	for _, v := range []string{"create", "start", "run", "state", "kill", "delete", "list", "ps", "exec", "spec", "features", "pause", "resume", "update", "events"} {
		if !strings.Contains(help.stdout, "\n  "+v+" ") {
			t.Errorf("tirith runtime --help does not list %s:\n%s", v, help.stdout)
		}
	}
	b := f.bundle(nil)
	id := f.id()
	f.cleanup(id)
	// runBin puts --root first; repeat it after runtime, as a client would.
	r := f.runBin(tirithBin, "", nil, "runtime", "--root", f.root, "run", "--bundle", b, id)
	var rep probe.Report
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
		t.Fatalf("tirith runtime --root R run --bundle B ID: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	f.assertGone(id, b)

	// kill's default signal depends on the grammar, not on what the
	// store knows: a TERM-trapping OCI container exits 7 on runtime kill.
	// /tmp/ready says the trap is set: a TERM before it would be
	// ignored by the container's pid 1.
	tb := f.bundle(nil, "sh", "-c", "trap 'exit 7' TERM; touch /tmp/ready; while :; do sleep 0.1; done")
	tid := f.id()
	f.cleanup(tid)
	// Not runBin: a goroutine must not stop the test (t.Fatal).
	run := exec.Command(tirithBin, "--root", f.root, "runtime", "run", "--bundle", tb, tid)
	run.Stdout, run.Stderr = io.Discard, io.Discard
	must(t, run.Start())
	done := make(chan int, 1)
	go func() { _ = run.Wait(); done <- run.ProcessState.ExitCode() }()
	t.Cleanup(func() { _ = run.Process.Kill() })
	waitFor(t, "the TERM trap to be set", func() bool {
		return f.runc("exec", tid, "test", "-e", "/tmp/ready").code == 0
	})
	// The front end does not know OCI ids: its kill refuses one.
	if r := f.fe("kill", tid); r.code == 0 {
		t.Errorf("front-end kill of an OCI container id succeeded")
	}
	if r := f.frontEnd(nil, "runtime", "kill", tid); r.code != 0 {
		t.Fatalf("tirith runtime kill: exit %d %s", r.code, r.stderr)
	}
	select {
	case code := <-done:
		if code != 7 {
			t.Errorf("tirith runtime run after runtime kill: exit %d, want 7 (the trap of SIGTERM)", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("tirith runtime kill: the container still runs after 30 s")
	}

	n := f.name()
	f.cleanupFE(n)
	f.feOK("run", "-d", "--name", n, f.image, "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
	f.feOK("kill", n)
	if out := f.feOK("wait", n).stdout; out != "137\n" {
		t.Errorf("front-end kill without -s: wait %q, want 137 (SIGKILL)", out)
	}
}

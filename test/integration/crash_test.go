package integration

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/runtime"
)

// Crashes (issue #7): TIRITH_TEST_CRASH_AT=<step> makes tirith kill
// itself with SIGKILL at one of the crash points of internal/runtime's
// crashpoint.go. After each, the next command must read a consistent
// state, and `delete --force` (OCI), `rm -f` or `system prune` (front
// end) must remove everything: mounts, cgroups, state and container
// dirs, idmapped layer mounts, processes. A bystander container keeps
// running throughout and the image still runs afterwards.

// crashed runs the OCI runtime with the crash hook at step and requires
// that it died of SIGKILL.
func (e *env) crashed(step string, args ...string) {
	e.t.Helper()
	e.crashedAs(runcBin, step, args...)
}

// crashedAs is crashed for bin (the OCI runtime or the front end).
func (e *env) crashedAs(bin, step string, args ...string) {
	e.t.Helper()
	cmd := exec.Command(bin, append([]string{"--root", e.root}, args...)...)
	cmd.Env = append(os.Environ(), runtime.CrashEnv+"="+step)
	// Files, not pipes: a container left running inherits them.
	out, err := os.CreateTemp(e.t.TempDir(), "out")
	must(e.t, err)
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	must(e.t, cmd.Start())
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		e.t.Fatalf("tirith %v with %s=%s: timed out", args, runtime.CrashEnv, step)
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		b, _ := os.ReadFile(out.Name())
		e.t.Fatalf("tirith %v with %s=%s: %v, want killed by SIGKILL (crash point not reached?)\n%s", args, runtime.CrashEnv, step, cmd.ProcessState, b)
	}
}

// cgroupProcs lists the live host processes whose cgroup path names
// tirith/<id> (id may be a prefix: a front-end short id). Zombies, dead
// and waiting for whoever inherited them to reap them, do not count.
func cgroupProcs(id string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte("/tirith/"+id)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); err == nil && i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue
		}
		out = append(out, filepath.Base(filepath.Dir(p)))
	}
	return out
}

// assertNoProcs fails if any process is still in the container's cgroup.
func assertNoProcs(t *testing.T, id string) {
	t.Helper()
	if ps := cgroupProcs(id); len(ps) > 0 {
		t.Errorf("processes of %s left behind: %v", id, ps)
	}
}

// ociStatus returns the container's status from `list --format json`
// ("" when it is not listed) and checks that `list` works.
func (e *env) ociStatus(id string) specs.ContainerState {
	e.t.Helper()
	var states []specs.State
	must(e.t, json.Unmarshal([]byte(e.ok("list", "--format", "json")), &states))
	for _, s := range states {
		if s.ID == id {
			return s.Status
		}
	}
	return ""
}

func TestCrashRuntime(t *testing.T) {
	e := newEnv(t)
	// The bystander runs through every crash and cleanup.
	bb := e.bundle(nil, "sleep", "1000")
	by := e.id()
	e.cleanup(by)
	e.ok("create", "--bundle", bb, by)
	e.ok("start", by)

	b := e.bundle(nil, "sleep", "1000")
	// A create killed at step: the state reads consistently (the
	// container is listed as creating or stopped, or, with no state
	// written yet, not at all) and delete --force removes it all.
	for _, tc := range []struct {
		step string
		want []specs.ContainerState
	}{
		{"after-state-dir", []specs.ContainerState{""}},
		{"after-state-saved", []specs.ContainerState{runtime.Creating}},
		{"after-fifo", []specs.ContainerState{runtime.Creating}},
		{"after-cgroup", []specs.ContainerState{runtime.Creating}},
		{"after-init-started", []specs.ContainerState{runtime.Creating}},
		{"before-ready-save", []specs.ContainerState{runtime.Creating}},
	} {
		t.Run("create/"+tc.step, func(t *testing.T) {
			e := &env{t: t, root: e.root}
			id := e.id()
			e.cleanup(id)
			e.crashed(tc.step, "create", "--bundle", b, id)
			if st := e.ociStatus(id); !slices.Contains(tc.want, st) {
				t.Fatalf("list: %s is %q, want one of %q", id, st, tc.want)
			}
			if r := e.runc("state", id); r.code == 0 {
				var s specs.State
				must(t, json.Unmarshal([]byte(r.stdout), &s))
				if s.Status != runtime.Creating {
					t.Fatalf("state: %+v", s)
				}
			} else if !strings.Contains(r.stderr, "does not exist") {
				t.Fatalf("state: exit %d: %s", r.code, r.stderr)
			}
			// A second create of the id is refused, not confused.
			if msg := e.fails("create", "--bundle", b, id); !strings.Contains(msg, "already exists") {
				t.Fatalf("create again: %s", msg)
			}
			e.ok("delete", "--force", id)
			e.assertGone(id, b)
			assertNoProcs(t, id)
			// The id is free again.
			e.ok("create", "--bundle", b, id)
			e.ok("delete", "--force", id)
			e.assertGone(id, b)
		})
	}

	// A start killed after the payload was let go: the container reads
	// as running (not created, though the fifo is still there), cannot
	// be started twice, and delete --force removes it.
	t.Run("start/after-fifo-write", func(t *testing.T) {
		e := &env{t: t, root: e.root}
		id := e.id()
		e.cleanup(id)
		e.ok("create", "--bundle", b, id)
		e.crashed("after-fifo-write", "start", id)
		waitFor(t, "the payload", func() bool { return e.state(id).Status == runtime.Running })
		if st := e.ociStatus(id); st != runtime.Running {
			t.Fatalf("list: %s", st)
		}
		if msg := e.fails("start", id); !strings.Contains(msg, "running") {
			t.Fatalf("start again: %s", msg)
		}
		e.ok("delete", "--force", id)
		e.assertGone(id, b)
		assertNoProcs(t, id)
	})

	// A delete killed half-way: the container reads as stopped and a
	// second delete finishes the job.
	for _, step := range []string{"after-kill", "after-cgroup-destroy"} {
		t.Run("delete/"+step, func(t *testing.T) {
			e := &env{t: t, root: e.root}
			id := e.id()
			e.cleanup(id)
			e.ok("create", "--bundle", b, id)
			e.ok("start", id)
			e.crashed(step, "delete", "--force", id)
			if st := e.state(id).Status; st != runtime.Stopped {
				t.Fatalf("state after the crash: %s", st)
			}
			if st := e.ociStatus(id); st != runtime.Stopped {
				t.Fatalf("list after the crash: %s", st)
			}
			e.ok("delete", id) // stopped: no --force needed
			e.assertGone(id, b)
			assertNoProcs(t, id)
		})
	}

	if st := e.state(by).Status; st != runtime.Running {
		t.Fatalf("bystander is %s", st)
	}
	e.ok("delete", "--force", by)
	e.assertGone(by, bb)
}

// privateFE is a front-end env with an image store of its own (pulled
// from a registry of its own), so that prune and leak checks see only
// this test's containers.
func privateFE(t *testing.T) *feEnv {
	t.Helper()
	e := newEnv(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	data, err := feLayer()
	must(t, err)
	layer, err := tarball.LayerFromReader(bytes.NewReader(data))
	must(t, err)
	img, err := oneLayerImage(layer, v1.Config{Cmd: []string{"/bin/probe"}, Env: []string{"PATH=/bin"}, WorkingDir: "/"}, time.Time{})
	must(t, err)
	host := testRegistry(t)
	ref := host + "/it/private:1"
	push(t, ref, img)
	storage := t.TempDir()
	f := &feEnv{env: e, storage: storage, image: ref}
	f.feOK("pull", "-q", ref)
	t.Cleanup(func() {
		// Whatever a failed test left: mounts first, deepest first.
		for _, m := range slices.Backward(mountsBelow(storage)) {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
	return f
}

// mountsBelow lists the host's mount points under dir, in mountinfo
// order.
func mountsBelow(dir string) []string {
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// assertStoreClean checks that nothing of any container is left in the
// store or the runtime root: container dirs, mounts (overlays, idmapped
// layers, secrets), runtime state dirs, cgroups and processes of ids.
func (f *feEnv) assertStoreClean(ids ...string) {
	f.t.Helper()
	ents, _ := os.ReadDir(filepath.Join(f.storage, "containers"))
	for _, d := range ents {
		if d.IsDir() {
			f.t.Errorf("container dir %s left behind", d.Name())
		}
	}
	if ms := mountsBelow(f.storage); len(ms) > 0 {
		f.t.Errorf("mounts left behind: %v", ms)
	}
	states, _ := os.ReadDir(f.root)
	for _, d := range states {
		if !strings.HasPrefix(d.Name(), ".") {
			f.t.Errorf("runtime state dir %s left behind", d.Name())
		}
	}
	for _, id := range ids {
		if cg, _ := filepath.Glob("/sys/fs/cgroup/*/tirith/" + id + "*"); len(cg) > 0 {
			f.t.Errorf("cgroups left behind: %v", cg)
		}
		assertNoProcs(f.t, id)
	}
}

// rows is `ps -a --format json`, which must work.
func (f *feEnv) rows() []feRow {
	f.t.Helper()
	var rows []feRow
	must(f.t, json.Unmarshal([]byte(f.feOK("ps", "-a", "--format", "json").stdout), &rows))
	return rows
}

// feCrashed runs a front-end command that must die at step.
func (f *feEnv) feCrashed(step string, args ...string) {
	f.t.Helper()
	f.crashedAs(tirithBin, step, append([]string{"--storage", f.storage}, args...)...)
}

func TestCrashFrontEnd(t *testing.T) {
	f := privateFE(t)
	by := f.name()
	f.cleanupFE(by)
	byID := strings.TrimSpace(f.feOK("run", "-d", "--name", by, f.image, "sleep", "1000").stdout)

	// A run killed at step: ps -a lists the container as created (or
	// running, once its payload was let go) and rm -f removes all of it.
	for _, tc := range []struct{ step, want string }{
		{"after-record", "created"},
		{"after-idmapped-layers", "created"},
		{"after-overlay", "created"},
		{"after-bundle", "created"},
		{"after-create", "created"},
		{"after-start", "created"},
	} {
		t.Run("run/"+tc.step, func(t *testing.T) {
			f := f.sub(t)
			n := f.name()
			f.cleanupFE(n)
			f.feCrashed(tc.step, "run", "--name", n, f.image, "sleep", "1000")
			r := f.row(n)
			if r == nil || r.Status != tc.want {
				t.Fatalf("ps -a: %+v, want status %s", r, tc.want)
			}
			if tc.step == "after-idmapped-layers" && len(mountsBelow(filepath.Join(f.storage, "containers", r.ID, "layers"))) == 0 {
				t.Fatal("no idmapped layer mounts to clean up: the step is not where it claims")
			}
			if tc.step == "after-start" && len(cgroupProcs(r.ID[:12])) == 0 {
				t.Fatal("the payload of the crashed run is not running")
			}
			// The name stays taken until the container is removed.
			if res := f.fe("run", "--name", n, f.image, "true"); res.code != 125 || !strings.Contains(res.stderr, "already in use") {
				t.Fatalf("run with the same name: exit %d: %s", res.code, res.stderr)
			}
			f.feOK("rm", "-f", n)
			if f.row(n) != nil {
				t.Fatal("still listed after rm -f")
			}
			f.assertFEGone(r.ID)
			assertNoProcs(t, r.ID[:12])
		})
	}

	// An rm killed half-way: ps -a still lists the container (exited)
	// and a second rm -f finishes the job.
	for _, step := range []string{"after-runtime-delete", "after-unmount"} {
		t.Run("rm/"+step, func(t *testing.T) {
			f := f.sub(t)
			n := f.name()
			f.cleanupFE(n)
			id := strings.TrimSpace(f.feOK("run", "-d", "--name", n, f.image, "sleep", "1000").stdout)
			f.feCrashed(step, "rm", "-f", n)
			if r := f.row(n); r == nil || r.Status != "exited" {
				t.Fatalf("ps -a after the crash: %+v", r)
			}
			f.feOK("rm", "-f", n)
			f.assertFEGone(id)
			assertNoProcs(t, id[:12])
		})
	}

	// A detached container's monitor killed with kill -9: the container
	// runs on (and reads as running); once it dies, nobody records its
	// exit, and it reads as exited (-1) at once instead of running
	// forever: wait returns and rm -f does not wait in vain.
	t.Run("monitor-killed", func(t *testing.T) {
		f := f.sub(t)
		n := f.name()
		f.cleanupFE(n)
		id := strings.TrimSpace(f.feOK("run", "-d", "--name", n, f.image, "sleep", "1000").stdout)
		var rec struct{ Pid, MonitorPid int }
		b, err := os.ReadFile(filepath.Join(f.storage, "containers", id, "meta.json"))
		must(t, err)
		must(t, json.Unmarshal(b, &rec))
		if rec.Pid == 0 || rec.MonitorPid == 0 {
			t.Fatalf("record: %s", b)
		}
		must(t, syscall.Kill(rec.MonitorPid, syscall.SIGKILL))
		waitFor(t, "the monitor to die", func() bool { return syscall.Kill(rec.MonitorPid, 0) != nil })
		if r := f.row(n); r == nil || r.Status != "running" {
			t.Fatalf("ps -a with the monitor gone, the container running: %+v", r)
		}
		must(t, syscall.Kill(rec.Pid, syscall.SIGKILL))
		waitFor(t, "the container to die", func() bool { return len(cgroupProcs(id[:12])) == 0 })
		if r := f.row(n); r == nil || r.Status != "exited" || r.ExitCode != -1 {
			t.Fatalf("ps -a with the container dead and nobody to record it: %+v", r)
		}
		f.feOK("wait", n)
		start := time.Now()
		f.feOK("rm", "-f", n)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("rm -f took %v", d)
		}
		f.assertFEGone(id)
	})

	if r := f.row(by); r == nil || r.Status != "running" || len(cgroupProcs(byID[:12])) == 0 {
		t.Fatalf("bystander: %+v", r)
	}
	if out := f.runOut(nil, "echo", "still runs"); out != "still runs\n" {
		t.Fatalf("the image after the crashes: %q", out)
	}
	f.feOK("rm", "-f", by)
	f.assertStoreClean(byID[:12])
}

// `system prune` removes stopped containers and every kind of debris a
// crash leaves, reports it like docker, and leaves running containers
// and images alone.
func TestSystemPrune(t *testing.T) {
	f := privateFE(t)
	by := f.name()
	f.cleanupFE(by)
	byID := strings.TrimSpace(f.feOK("run", "-d", "--name", by, f.image, "sleep", "1000").stdout)

	exited := f.name()
	f.feOK("run", "--name", exited, f.image, "true")
	var crashedIDs []string
	for _, step := range []string{"after-idmapped-layers", "after-overlay", "after-create", "after-start"} {
		n := f.name()
		f.feCrashed(step, "run", "--name", n, f.image, "sleep", "1000")
		crashedIDs = append(crashedIDs, f.row(n).ID)
	}
	exitedID := f.row(exited).ID
	// A container dir without a record (a create killed inside
	// newRecord) with a stray mount in it.
	orphan := filepath.Join(f.storage, "containers", strings.Repeat("ab", 32))
	must(t, os.MkdirAll(filepath.Join(orphan, "rootfs"), 0o700))
	must(t, syscall.Mount("tmpfs", filepath.Join(orphan, "rootfs"), "tmpfs", 0, "size=1m"))
	// A runtime state dir without state (an OCI create killed early).
	oci := f.id()
	f.crashed("after-state-dir", "create", "--bundle", f.bundle(nil), oci)
	// A temp file of an interrupted pull.
	tmp := filepath.Join(f.storage, "tmp", "blob-0123456789ab-1")
	must(t, os.WriteFile(tmp, bytes.Repeat([]byte("x"), 4096), 0o600))

	out := f.feOK("system", "prune", "-f").stdout
	if !strings.HasPrefix(out, "Deleted Containers:\n") || !strings.Contains(out, "\nTotal reclaimed space: ") {
		t.Fatalf("prune output:\n%s", out)
	}
	for _, id := range append([]string{exitedID}, crashedIDs...) {
		if !strings.Contains(out, id+"\n") {
			t.Errorf("prune did not report container %s:\n%s", id, out)
		}
		f.assertFEGone(id)
		assertNoProcs(t, id[:12])
	}
	for _, d := range []string{orphan, filepath.Join(f.root, oci)} {
		if !strings.Contains(out, d+"\n") {
			t.Errorf("prune did not report %s:\n%s", d, out)
		}
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left behind", d)
		}
	}
	if strings.Contains(out, byID) {
		t.Errorf("prune removed the running bystander:\n%s", out)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Error("store temp file left behind")
	}
	if rows := f.rows(); len(rows) != 1 || rows[0].ID != byID || rows[0].Status != "running" {
		t.Fatalf("ps -a after prune: %+v", rows)
	}
	if out := f.runOut(nil, "echo", "ok"); out != "ok\n" {
		t.Fatalf("the image after prune: %q", out)
	}
	// Nothing left to prune: a second prune says so.
	if out := f.feOK("system", "prune").stdout; out != "Total reclaimed space: 0B\n" {
		t.Fatalf("second prune:\n%s", out)
	}
	f.feOK("rm", "-f", by)
	f.assertStoreClean(byID[:12])
}

// A container without a process (a create killed before the init's pid
// was saved, or a stopped container) has "pid": 0 in state and list
// --format json, as runc prints it: clients (containerd's go-runc, runc's
// own types) parse an integer and treat a missing pid as a broken state.
func TestStatePidWithoutProcess(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "true")
	pidOf := func(what, js string) {
		t.Helper()
		var s map[string]any
		must(t, json.Unmarshal([]byte(js), &s))
		if pid, ok := s["pid"].(float64); !ok || pid != 0 {
			t.Errorf("%s: \"pid\" is %#v, want the integer 0:\n%s", what, s["pid"], js)
		}
	}
	listed := func(id string) string {
		t.Helper()
		var states []json.RawMessage
		must(t, json.Unmarshal([]byte(e.ok("list", "--format", "json")), &states))
		for _, s := range states {
			var v struct{ ID string }
			must(t, json.Unmarshal(s, &v))
			if v.ID == id {
				return string(s)
			}
		}
		t.Fatalf("list does not show %s", id)
		return ""
	}
	id := e.id()
	e.cleanup(id)
	e.crashed("after-state-saved", "create", "--bundle", b, id)
	if st := e.state(id).Status; st != runtime.Creating {
		t.Fatalf("state after the crash: %s, want creating", st)
	}
	pidOf("state of a creating container", e.ok("state", id))
	pidOf("list of a creating container", listed(id))
	e.ok("delete", "--force", id)
	e.assertGone(id, b)

	id = e.id()
	e.cleanup(id)
	e.ok("create", "--bundle", b, id)
	e.ok("start", id)
	waitFor(t, "the container to stop", func() bool { return e.state(id).Status == runtime.Stopped })
	pidOf("state of a stopped container", e.ok("state", id))
	pidOf("list of a stopped container", listed(id))
	e.ok("delete", id)
	e.assertGone(id, b)
}

package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestLifecycleCreateStartStateDelete(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "sh", "-c", "sleep 1000")
	id := e.id()
	e.cleanup(id)
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.ok("create", "--bundle", b, "--pid-file", pidFile, id)

	st := e.state(id)
	if st.Status != specs.StateCreated || st.Pid <= 0 || st.Bundle != b || st.ID != id {
		t.Fatalf("after create: state %+v", st)
	}
	data, err := os.ReadFile(pidFile)
	must(t, err)
	if strings.TrimSpace(string(data)) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q, state pid %d", data, st.Pid)
	}
	// The created container's init is waiting, not yet the payload.
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(st.Pid) + "/exe"); strings.Contains(exe, "busybox") {
		t.Fatalf("payload ran before start: %s", exe)
	}

	e.ok("start", id)
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("after start: status %s", st.Status)
	}
	if msg := e.fails("start", id); !strings.Contains(msg, "cannot start an already running container") {
		t.Errorf("second start: %q, want runc's words", msg)
	}
	if msg := e.fails("delete", id); !strings.Contains(msg, "cannot delete container "+id+" that is not stopped: running") {
		t.Errorf("delete of a running container: %q, want runc's words", msg)
	}
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("failed delete changed the container: %s", st.Status)
	}

	e.ok("kill", id, "KILL")
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	// containerd's shim reads these words as "already exited": crictl
	// stop sends SIGTERM, the container exits, then its kill gets this.
	if r := e.runc("kill", id, "TERM"); r.code != 1 || !strings.Contains(r.stderr, "container not running") {
		t.Errorf("kill of a stopped container: exit %d, %q; want 1 and runc's \"container not running\"", r.code, r.stderr)
	}
	e.ok("kill", "--all", id, "KILL")
	e.ok("delete", id)
	e.assertGone(id, b)
	if r := e.runc("kill", id, "TERM"); r.code != 1 || !strings.Contains(r.stderr, "container does not exist") {
		t.Errorf("kill of a deleted container: exit %d, %q; want 1 and runc's \"container does not exist\"", r.code, r.stderr)
	}
	if msg := e.fails("state", id); !strings.Contains(msg, "does not exist") {
		t.Errorf("state after delete: %q", msg)
	}
}

// As runc, delete removes a created container without --force:
// containerd deletes a container that never started (crictl rm of a
// created one) without it.
func TestDeleteCreated(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "true")
	id := e.created(b)
	pid := e.state(id).Pid
	e.ok("delete", id)
	e.assertGone(id, b)
	if data, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline")); err == nil && len(data) > 0 {
		t.Errorf("delete left the created container's init %d: %q", pid, data)
	}
}

func TestRunExitCode(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"true"}, 0},
		{"exit 3", []string{"sh", "-c", "exit 3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(nil, tc.args...)
			id := e.id()
			r := e.runc("run", "--bundle", b, id)
			if r.code != tc.want {
				t.Fatalf("exit %d, want %d (stderr %s)", r.code, tc.want, r.stderr)
			}
			e.assertGone(id, b)
		})
	}
}

func TestListAndPs(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "sh", "-c", "sleep 1000 & sleep 1000")
	id := e.running(b)
	var list []specs.State
	must(t, json.Unmarshal([]byte(e.ok("list", "--format", "json")), &list))
	if len(list) != 1 || list[0].ID != id || list[0].Status != specs.StateRunning {
		t.Fatalf("list: %+v", list)
	}
	if out := e.ok("list"); !strings.Contains(out, id) || !strings.Contains(out, "running") {
		t.Fatalf("list table: %s", out)
	}
	// The shell may exec the last sleep itself: two or three processes.
	waitFor(t, "two processes", func() bool {
		var pids []int
		_ = json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids)
		return len(pids) >= 2
	})
	if out := e.ok("ps", id); !strings.Contains(out, "sleep 1000") {
		t.Fatalf("ps table: %s", out)
	}
	e.ok("kill", "--all", id, "9")
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	e.ok("delete", id)
	e.assertGone(id, b)
}

func TestKillSignalForms(t *testing.T) {
	e := newEnv(t)
	for _, sig := range []string{"TERM", "SIGTERM", "15"} {
		t.Run(sig, func(t *testing.T) {
			// The shell reports the signal it trapped, so the test sees
			// which signal arrived, not only that one did.
			b := e.bundle(nil, "sh", "-c", "trap 'echo got-term > /tmp/sig; exit 0' TERM; while true; do sleep 0.05; done")
			id := e.id()
			e.cleanup(id)
			e.ok("run", "--detach", "--bundle", b, id)
			// The shell is pid 1 of its namespace: a signal it has no
			// handler for yet (still starting up) is dropped, so send
			// until the trap has caught one.
			waitFor(t, "container to stop", func() bool {
				if e.state(id).Status == specs.StateStopped {
					return true
				}
				e.runc("kill", id, sig)
				time.Sleep(50 * time.Millisecond)
				return false
			})
			e.ok("delete", id)
		})
	}
	e2 := newEnv(t)
	if msg := e2.fails("kill", "nope", "KILL"); !strings.Contains(msg, "does not exist") {
		t.Errorf("kill of a missing container: %q", msg)
	}
}

// A container killed from outside while `run` waits in the foreground
// makes `run` exit 128+9, like a shell.
func TestRunForegroundKilled(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	id := e.id()
	e.cleanup(id)
	done := make(chan result, 1)
	go func() { done <- e.runc("run", "--bundle", b, id) }()
	waitFor(t, "container to run", func() bool {
		r := e.runc("state", id)
		return r.code == 0 && strings.Contains(r.stdout, `"running"`)
	})
	e.ok("kill", id, "KILL")
	r := <-done
	if r.code != 137 {
		t.Fatalf("run exit %d, want 137 (stderr %s)", r.code, r.stderr)
	}
	e.assertGone(id, b)
}

// A foreground `run` passes the signals it receives to the container: the
// payload traps them and says which arrived.
func TestRunForwardsSignals(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "sh", "-c", "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done")
	id := e.id()
	e.cleanup(id)
	out, err := os.CreateTemp(t.TempDir(), "out")
	must(t, err)
	defer out.Close()
	cmd := exec.Command(runcBin, "--root", e.root, "run", "--bundle", b, id)
	cmd.Stdout, cmd.Stderr = out, out
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	read := func() string { data, _ := os.ReadFile(out.Name()); return string(data) }
	waitFor(t, "the payload's traps", func() bool { return strings.Contains(read(), "ready") })
	waitFor(t, "SIGUSR1 to reach the payload", func() bool {
		_ = cmd.Process.Signal(syscall.SIGUSR1)
		time.Sleep(20 * time.Millisecond)
		return strings.Contains(read(), "got-usr1")
	})
	must(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("run did not end after SIGTERM; output %q", read())
	}
	if code := cmd.ProcessState.ExitCode(); code != 7 || !strings.Contains(read(), "got-term") {
		t.Fatalf("run after SIGTERM: exit %d, output %q; want the payload's trap (exit 7)", code, read())
	}
	e.assertGone(id, b)
}

package runtime

import (
	"os"
	"os/exec"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/procfs"
)

// Clients read runc's error texts, not only its exit code: containerd's
// shim treats a kill that says "container not running" as a process that
// has already exited (anything else is "unknown error after kill", and
// `crictl stop` fails), a kill or delete that says "does not exist" as a
// container that is gone; podman's state check reads "does not exist".
// These pin Tirith's words to runc's (libcontainer's) for each.
func TestRuncWordsStopped(t *testing.T) {
	// A pid whose start time is not the recorded one: the init is gone.
	c := &Container{dir: t.TempDir(), State: State{ID: "c1", Pid: os.Getpid(), InitStart: 1, Config: &specs.Spec{}}}
	if st := c.Status(); st != Stopped {
		t.Fatalf("status %s, want stopped", st)
	}
	for _, tc := range []struct {
		what string
		err  error
		want string
	}{
		{"kill", c.Kill(unix.SIGTERM, false), "container not running"},
		{"start", c.Start(), "cannot start a container that has stopped"},
		{"pause", c.Pause(), "container not running"},
		{"resume", c.Resume(), "container not paused"},
		{"exec", func() error {
			_, err := c.Exec(ExecOptions{Process: &specs.Process{Args: []string{"true"}, Cwd: "/"}})
			return err
		}(), "cannot exec in a stopped container: container not running"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s of a stopped container: %v, want %q (runc's words)", tc.what, tc.err, tc.want)
		}
	}
	// runc 1.2: kill --all of a stopped container is no error (the shim
	// sends it to clean up a container without its own pid namespace).
	if err := c.Kill(unix.SIGKILL, true); err != nil {
		t.Errorf("kill --all of a stopped container: %v, want no error", err)
	}
}

func TestRuncWordsRunning(t *testing.T) {
	cmd := exec.Command("sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	start, err := procfs.StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	c := &Container{dir: t.TempDir(), State: State{ID: "c2", Pid: cmd.Process.Pid, InitStart: start, Config: &specs.Spec{}}}
	if st := c.Status(); st != Running {
		t.Fatalf("status %s, want running", st)
	}
	for _, tc := range []struct {
		what string
		err  error
		want string
	}{
		{"start", c.Start(), "cannot start an already running container"},
		{"delete", c.Delete(DeleteOptions{}), "cannot delete container c2 that is not stopped: running"},
		{"resume", c.Resume(), "container not paused"},
	} {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s of a running container: %v, want %q (runc's words)", tc.what, tc.err, tc.want)
		}
	}
	if _, err := os.Stat(c.dir); err != nil {
		t.Errorf("refused delete removed the state dir: %v", err)
	}
	if err := unix.Kill(cmd.Process.Pid, 0); err != nil {
		t.Errorf("refused delete touched the init: %v", err)
	}
}

func TestRuncWordsMissing(t *testing.T) {
	root := t.TempDir()
	_, err := Load(root, "nosuch")
	if err == nil || err.Error() != `container "nosuch": container does not exist` {
		t.Errorf("load of a missing container: %v, want runc's \"container does not exist\"", err)
	}
	if got, want := ErrExist.Error(), "container with given ID already exists"; got != want {
		t.Errorf("ErrExist %q, want %q", got, want)
	}
}

// docker update --memory 64m sends every field, zero where nothing is to
// change (cpu quota 0, blkio weight 0, ...); runc reads zero as "no
// change", and so must Tirith rather than reject quota 0.
func TestUpdateZerosAreUnchanged(t *testing.T) {
	i, u, w, lim := int64(0), uint64(0), uint16(0), int64(64<<20)
	pl := int64(0)
	r := UnchangedZeros(&specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: &lim, Swap: &lim, Reservation: &i, Kernel: &i, KernelTCP: &i},
		CPU:     &specs.LinuxCPU{Shares: &u, Quota: &i, Period: &u, RealtimeRuntime: &i, RealtimePeriod: &u},
		BlockIO: &specs.LinuxBlockIO{Weight: &w},
		Pids:    &specs.LinuxPids{Limit: &pl},
	})
	m, c := r.Memory, r.CPU
	if m.Limit == nil || *m.Limit != lim || m.Swap == nil || m.Reservation != nil || m.Kernel != nil || m.KernelTCP != nil {
		t.Errorf("memory %+v: want limit and swap kept, zeros cleared", m)
	}
	if c.Shares != nil || c.Quota != nil || c.Period != nil || c.RealtimeRuntime != nil || c.RealtimePeriod != nil {
		t.Errorf("cpu %+v: want zeros cleared", c)
	}
	if r.BlockIO.Weight != nil || r.Pids != nil {
		t.Errorf("blkio %+v, pids %+v: want zeros cleared", r.BlockIO, r.Pids)
	}
}

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// procStatus reads the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	must(t, err)
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

func kib(t *testing.T, v string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSuffix(v, " kB"))
	must(t, err)
	return n
}

// The process that waits for `start` is the lean init (the C waiter):
// one thread, no Go runtime, about 1 MB resident; it already holds the
// payload's credentials and no_new_privs, and the seccomp filter is not
// yet loaded (it goes on after the wait, just before execve).
func TestLeanInitWaitsSmall(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "/bin/probe")
	id := e.created(b)
	st := procStatus(t, e.state(id).Pid)
	if st["Threads"] != "1" {
		t.Errorf("the waiting init has %s threads, want 1 (the lean waiter, not the Go init)", st["Threads"])
	}
	if rss := kib(t, st["VmRSS"]); rss > 4096 {
		t.Errorf("the waiting init's VmRSS is %d kB, want at most 4096", rss)
	}
	if st["NoNewPrivs"] != "1" || st["Seccomp"] != "0" {
		t.Errorf("waiting init: NoNewPrivs %s, Seccomp %s; want 1 and 0 (the filter is loaded after start)", st["NoNewPrivs"], st["Seccomp"])
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)

	// The same walls reach the payload as through the Go init (Landlock
	// behind the lean init: TestFrontendDefaultWalls and the
	// landlock_default tests, which go through it).
	r := e.runProbe(e.bundle(nil))
	if r.Seccomp != 2 || !r.NoNewPrivs || len(r.CapBnd) == 0 || len(r.CapBnd) > 14 {
		t.Errorf("payload behind the lean init: seccomp mode %d, no_new_privs %v, bounding %v", r.Seccomp, r.NoNewPrivs, r.CapBnd)
	}
}

// Where the lean init cannot do what the Go init does after the wait,
// the Go init waits itself: a startContainer hook, or no_new_privs off.
func TestLeanInitFallsBackToGo(t *testing.T) {
	e := newEnv(t)
	for name, mutate := range map[string]func(*specs.Spec){
		"startContainer hook": func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
		},
		"no_new_privs off": func(s *specs.Spec) { s.Process.NoNewPrivileges = false },
		// No pid namespace of its own: other processes could name the
		// waiter during the instant its exec leaves it dumpable.
		"host pid namespace": func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.PIDNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := e.bundle(mutate, "true")
			id := e.created(b)
			if th := procStatus(t, e.state(id).Pid)["Threads"]; th == "1" {
				t.Errorf("%s: the waiting init has one thread; want the Go init", name)
			}
			e.ok("start", id)
			waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
			e.ok("delete", id)
			e.assertGone(id, b)
		})
	}
}

// A created container dies of SIGTERM as it did with the Go init (a pid 1
// without handlers would ignore it), and a payload that vanished between
// create and start fails start's exec with the Go init's wording and the
// shell's 127.
func TestLeanInitSignalsAndLateFailure(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "true")
	id := e.created(b)
	e.ok("kill", id, "TERM")
	waitFor(t, "created container to die of SIGTERM", func() bool { return e.state(id).Status == specs.StateStopped })
	e.ok("delete", id)

	b = e.bundle(nil, "/bin/victim")
	copyFile(t, busybox, filepath.Join(b, "rootfs", "bin", "victim"))
	id = e.id()
	e.cleanup(id)
	// The init's stderr is create's: a file of ours, read after start.
	errFile := filepath.Join(t.TempDir(), "stderr")
	f, err := os.Create(errFile)
	must(t, err)
	defer f.Close()
	create := exec.Command(runcBin, "--root", e.root, "create", "--bundle", b, id)
	create.Stderr = f
	if err := create.Run(); err != nil {
		t.Fatalf("create: %v", err)
	}
	must(t, os.Remove(filepath.Join(b, "rootfs", "bin", "victim")))
	e.ok("start", id)
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	got, _ := os.ReadFile(errFile)
	if want := `tirith init: exec "/bin/victim": no such file or directory`; !strings.Contains(string(got), want) {
		t.Errorf("init's stderr after start: %q, want %q", got, want)
	}
	e.ok("delete", id)
	e.assertGone(id, b)
}

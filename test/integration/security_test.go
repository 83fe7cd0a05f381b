package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// trySyscalls runs `probe --try` for each name in one container and
// returns name -> "ok" or the errno's name.
func (e *env) trySyscalls(mutate func(*specs.Spec), names ...string) map[string]string {
	e.t.Helper()
	script := ""
	for _, n := range names {
		script += "echo " + n + "=$(/bin/probe --try " + n + "); "
	}
	return cfgKV(e.t, e.cfgSh(mutate, script))
}

// The default seccomp profile is on, and it is what refuses the syscalls
// Tirith blocks: with linux.seccomp removed, the same calls reach the
// kernel and get its own answer.
func TestSeccompDefaultProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.runProbe(e.bundle(nil)); r.Seccomp != 2 {
		t.Errorf("probe seccomp mode %d, want 2 (filter)", r.Seccomp)
	}
	if r := e.cfgShResult(nil, `unshare -n true`); r.code == 0 {
		t.Errorf("unshare -n succeeded under the default profile")
	}

	blocked := []string{"keyctl", "io_uring_setup", "userfaultfd"}
	with := e.trySyscalls(nil, append(blocked, "getpid")...)
	without := e.trySyscalls(func(s *specs.Spec) { s.Linux.Seccomp = nil }, append(blocked, "getpid")...)
	for _, n := range blocked {
		if with[n] != "EPERM" {
			t.Errorf("%s under the default profile: %q, want EPERM", n, with[n])
		}
		if without[n] == "" || without[n] == "EPERM" {
			t.Errorf("%s without seccomp: %q, want the kernel's answer (ok/EINVAL/ENOKEY...)", n, without[n])
		}
	}
	if without["io_uring_setup"] != "EINVAL" || without["userfaultfd"] != "EINVAL" {
		t.Errorf("without seccomp: io_uring_setup %q, userfaultfd %q, want EINVAL from the kernel", without["io_uring_setup"], without["userfaultfd"])
	}
	if with["getpid"] != "ok" || without["getpid"] != "ok" {
		t.Errorf("getpid: %q / %q, want ok", with["getpid"], without["getpid"])
	}
	if r := e.runProbe(e.bundle(func(s *specs.Spec) { s.Linux.Seccomp = nil })); r.Seccomp != 0 {
		t.Errorf("without linux.seccomp: seccomp mode %d, want 0", r.Seccomp)
	}
}

// No fd of the runtime's reaches the payload: only stdio, plus the one
// ls opens to list the directory.
func TestNoHostFDLeak(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(nil, `ls /proc/self/fd; echo cwd=$(readlink /proc/self/cwd)`)
	ls := cfgLines(out)
	if len(ls) != 5 || strings.Join(ls[:4], " ") != "0 1 2 3" || ls[4] != "cwd=/" {
		t.Errorf("fds in the container: %q, want 0 1 2 and ls's own 3, cwd /", ls)
	}
	// The probe's view: besides stdio only what the Go runtime and the
	// probe open themselves (cgroup cpu limits, its poller, /proc/self/fd),
	// nothing
	// of the runtime's (its state dir, the bundle, its binary).
	b := e.bundle(nil)
	r := e.runProbe(b)
	for _, fd := range r.OpenFDs {
		n, target, _ := strings.Cut(fd, " -> ")
		switch n {
		case "0", "1", "2":
			continue
		}
		if strings.Contains(target, e.root) || strings.Contains(target, b) || strings.Contains(target, "tirith") ||
			!(target == "" || strings.HasPrefix(target, "/proc/") || strings.HasPrefix(target, "/sys/fs/cgroup/") || strings.HasPrefix(target, "anon_inode:")) {
			t.Errorf("unexpected fd in the container: %s", fd)
		}
	}
	if r.Cwd != "/" {
		t.Errorf("probe cwd %q, want /", r.Cwd)
	}
}

// --preserve-fds 1 passes the caller's fd 3 through, and nothing more.
func TestPreserveFDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	extra := filepath.Join(t.TempDir(), "extra")
	must(t, os.WriteFile(extra, []byte("preserved-content\n"), 0o644))
	f, err := os.Open(extra)
	must(t, err)
	defer f.Close()
	leak, err := os.Open(os.DevNull) // fd 4 in tirith: not preserved
	must(t, err)
	defer leak.Close()

	b := e.bundle(nil, "sh", "-c", `ls /proc/self/fd | tr '\n' ' '; echo; cat <&3`)
	id := e.id()
	e.cleanup(id)
	outF, err := os.Create(filepath.Join(t.TempDir(), "out"))
	must(t, err)
	defer outF.Close()
	var stderr strings.Builder
	cmd := exec.Command(runcBin, "--root", e.root, "run", "--preserve-fds", "1", "--bundle", b, id)
	cmd.Stdout, cmd.Stderr = outF, &stderr
	cmd.ExtraFiles = []*os.File{f, leak}
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run --preserve-fds 1: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("run --preserve-fds 1 timed out")
	}
	data, _ := os.ReadFile(outF.Name())
	ls := cfgLines(string(data))
	// ls's listing: 0-2, the preserved 3, its own dir fd 4 (not our fd 4).
	if len(ls) != 2 || ls[0] != "0 1 2 3 4" || ls[1] != "preserved-content" {
		t.Errorf("container with --preserve-fds 1: %q, want fds 0-3 (+ ls's 4) and fd 3 readable", ls)
	}
	e.assertGone(id, b)
}

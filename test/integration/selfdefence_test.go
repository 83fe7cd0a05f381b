package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CVE-2019-5736: whoever gets a handle on the runtime binary through
// /proc/PID/exe of a process running it (the container's init before
// start, or a payload tricked into exec'ing /proc/self/exe) waits for it
// to exit and reopens the handle for writing. The init runs from a
// read-only mount of the binary, so the reopen fails with EROFS even
// for host root.
func TestRuntimeBinaryCannotBeOverwrittenThroughProcExe(t *testing.T) {
	e := newEnv(t)

	// Control: the same attack against a process run from a plain copy
	// of a binary reopens it for writing.
	plain := filepath.Join(t.TempDir(), "sleep")
	copyFile(t, busybox, plain)
	victim := exec.Command(plain, "1000")
	must(t, victim.Start())
	h, err := os.OpenFile(fmt.Sprintf("/proc/%d/exe", victim.Process.Pid), unix.O_PATH, 0)
	must(t, err)
	_ = victim.Process.Kill()
	_ = victim.Wait()
	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", h.Fd()), os.O_WRONLY, 0)
	h.Close()
	if err != nil {
		t.Fatalf("control: reopening an unsealed binary through /proc/PID/exe for writing: %v (the attack below proves nothing)", err)
	}
	f.Close()

	b := e.bundle(nil, "true")
	id := e.created(b)
	pid := e.state(id).Pid
	h, err = os.OpenFile(fmt.Sprintf("/proc/%d/exe", pid), unix.O_PATH, 0)
	must(t, err)
	defer h.Close()
	e.ok("delete", "--force", id)

	f, err = os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", h.Fd()), os.O_WRONLY, 0)
	if err == nil {
		f.Close()
		t.Fatal("the runtime binary was opened for writing through the container init's /proc/PID/exe")
	}
	if !errors.Is(err, unix.EROFS) {
		t.Fatalf("reopen for writing: %v, want EROFS (read-only mount of the binary)", err)
	}
	// And the binary behind the handle is the runtime itself.
	var a, bst unix.Stat_t
	must(t, unix.Fstat(int(h.Fd()), &a))
	must(t, unix.Stat(tirithBin, &bst))
	if a.Ino != bst.Ino || a.Dev != bst.Dev {
		t.Fatalf("init's exe is not the runtime binary")
	}
}

// evilScript makes the runtime binary the interpreter of /evil: a
// container process that runs it (the init at start, or the process
// `exec` starts) re-executes whatever its /proc/self/exe is, i.e. the
// runtime, now as a dumpable process inside the container.
const evilScript = "#!/proc/self/exe\n"

// withRuntimeLibs copies the runtime binary's shared libraries (and
// loader) into rootfs at their host paths, as a distribution image has
// them: without them the kernel cannot run the binary in the container
// (ENOENT for its ELF interpreter) and the attack below would not start.
func withRuntimeLibs(t *testing.T, rootfs string) {
	t.Helper()
	out, err := exec.Command("ldd", tirithBin).Output()
	if err != nil {
		return // static: nothing to copy
	}
	for _, f := range strings.Fields(string(out)) {
		if !strings.HasPrefix(f, "/") {
			continue
		}
		must(t, os.MkdirAll(filepath.Join(rootfs, filepath.Dir(f)), 0o755))
		copyFile(t, f, filepath.Join(rootfs, f))
	}
}

// attackExe is the in-container half of CVE-2019-5736: hold the binary
// of process P, kill P, and reopen the held binary for writing (writing
// nothing), retrying while the kernel says ETXTBSY: the bind-mounted
// seal is the host binary's inode, busy while any tirith runs on the
// host, as an unsealed binary is. The verdict goes to /result.
func attackExe(pid string) string {
	return fmt.Sprintf(`P=%s
exec 4</proc/$P/exe || { echo OPEN-REFUSED >/result; exit 0; }
kill -9 $P
n=0
while [ $n -lt 200 ]; do
	if ( true >>/proc/self/fd/4 ) 2>/tmp/err; then echo REOPENED >/result; exit 0; fi
	grep -q 'Text file busy' /tmp/err || break
	sleep 0.05; n=$((n+1))
done
echo "REFUSED $(cat /tmp/err)" >/result
`, pid)
}

// attack runs attackExe from a detached exec (no tirith left running on
// the host) and returns its verdict.
func (e *env) attack(id, rootfs, pid string) string {
	e.t.Helper()
	result := filepath.Join(rootfs, "result")
	_ = os.Remove(result)
	e.ok("exec", "--detach", id, "sh", "-c", attackExe(pid))
	var out []byte
	waitFor(e.t, "the attack's verdict", func() bool {
		var err error
		out, err = os.ReadFile(result)
		return err == nil && strings.HasSuffix(string(out), "\n")
	})
	return string(out)
}

// fullPipe returns a pipe whose buffer is full: a process writing to it
// blocks, so the runtime binary run as a payload (which prints an
// error about its arguments) stays alive until killed.
func fullPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	must(t, err)
	t.Cleanup(func() { r.Close(); w.Close() })
	size, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096)
	must(t, err)
	_, err = w.Write(make([]byte, size))
	must(t, err)
	return r, w
}

// containerPid returns the pid of host process pid in its own (the
// container's) pid namespace.
func containerPid(t *testing.T, pid int) string {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	ns := strings.Fields(statusField(string(status), "NSpid"))
	if len(ns) == 0 {
		t.Fatalf("no NSpid for %d", pid)
	}
	return ns[len(ns)-1]
}

// startExec runs `tirith exec` of args in the background with stdout
// and stderr on w, and returns its payload's host pid once it runs.
func (e *env) startExec(id string, w *os.File, args ...string) int {
	e.t.Helper()
	pidFile := filepath.Join(e.t.TempDir(), "pid")
	cmd := exec.Command(runcBin, append([]string{"--root", e.root, "exec", "--pid-file", pidFile, id}, args...)...)
	cmd.Stdout, cmd.Stderr = w, w
	must(e.t, cmd.Start())
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var pid int
	waitFor(e.t, "exec's pid file", func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	return pid
}

// The exec path of CVE-2019-5736 (runc's original exploit): the
// container's /bin/sh is replaced by a script whose interpreter is
// /proc/self/exe, so `exec` runs the runtime binary inside the
// container; another process there holds that binary through
// /proc/PID/exe, kills it and reopens the binary for writing.
func TestRuntimeBinaryCannotBeOverwrittenFromInsideContainerThroughExec(t *testing.T) {
	e := newEnv(t)
	// Landlock (the default policy) already refuses to execute the
	// runtime binary from inside the container: off, so the seal alone
	// is tested.
	b := e.bundle(func(s *specs.Spec) { noLandlock(s); s.Root.Readonly = false }, "sleep", "1000")
	rootfs := filepath.Join(b, "rootfs")
	must(t, os.WriteFile(filepath.Join(rootfs, "evil"), []byte(evilScript), 0o755))
	withRuntimeLibs(t, rootfs)
	copyFile(t, busybox, filepath.Join(rootfs, "plain"))
	id := e.running(b)
	_, w := fullPipe(t)

	// Control: a plain binary of the writable rootfs, attacked the same
	// way, is reopened for writing.
	plain := e.startExec(id, w, "/plain", "sleep", "1000")
	if out := e.attack(id, rootfs, containerPid(t, plain)); !strings.Contains(out, "REOPENED") {
		t.Fatalf("control: the attack does not reopen an unsealed binary: %q", out)
	}

	victim := e.startExec(id, w, "/evil")
	var a, bst unix.Stat_t
	must(t, unix.Stat(fmt.Sprintf("/proc/%d/exe", victim), &a))
	must(t, unix.Stat(tirithBin, &bst))
	if a.Ino != bst.Ino || a.Dev != bst.Dev {
		t.Fatalf("the exec'd /evil does not run the runtime binary")
	}
	out := e.attack(id, rootfs, containerPid(t, victim))
	if !strings.HasPrefix(out, "REFUSED") || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("want the reopen of the runtime binary refused with EROFS, got %q", out)
	}
}

// The create path: the container's init itself runs /evil, so the init
// is the runtime binary; a process exec'd into the container holds its
// /proc/PID/exe, kills it and reopens the binary for writing. Without a
// pid namespace, so that the attacker outlives the init.
func TestRuntimeBinaryCannotBeOverwrittenFromInsideContainerThroughInit(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		noLandlock(s) // as above: the seal alone
		s.Root.Readonly = false
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.PIDNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	}, "/evil")
	must(t, os.WriteFile(filepath.Join(b, "rootfs", "evil"), []byte(evilScript), 0o755))
	withRuntimeLibs(t, filepath.Join(b, "rootfs"))
	_, w := fullPipe(t)
	id := e.id()
	e.cleanup(id)
	create := exec.Command(runcBin, "--root", e.root, "create", "--bundle", b, id)
	create.Stdout, create.Stderr = w, w
	done := make(chan error, 1)
	must(t, create.Start())
	go func() { done <- create.Wait() }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		_ = create.Process.Kill()
		t.Fatal("create timed out")
	}
	pid := e.state(id).Pid
	e.ok("start", id)
	var a, bst unix.Stat_t
	must(t, unix.Stat(tirithBin, &bst))
	// Before start the init runs the runtime too, as `init`: wait for
	// the /evil re-exec (which also makes it dumpable).
	waitFor(t, "the init to run /evil", func() bool {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return strings.Contains(string(cmdline), "/evil")
	})
	must(t, unix.Stat(fmt.Sprintf("/proc/%d/exe", pid), &a))
	if a.Ino != bst.Ino || a.Dev != bst.Dev {
		t.Fatalf("the init running /evil does not run the runtime binary")
	}
	out := e.attack(id, filepath.Join(b, "rootfs"), strconv.Itoa(pid))
	if !strings.HasPrefix(out, "REFUSED") || !strings.Contains(out, "Read-only file system") {
		t.Fatalf("want the reopen of the runtime binary refused with EROFS, got %q", out)
	}
}

// mountsOfRuntime lists the host's mounts under root or of the runtime
// binary itself.
func mountsOfRuntime(t *testing.T, root string) []string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	binTail := "/" + filepath.Base(filepath.Dir(tirithBin)) + "/" + filepath.Base(tirithBin)
	var found []string
	for _, l := range strings.Split(string(mi), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		if f[4] == root || strings.HasPrefix(f[4], root+"/") || strings.HasSuffix(f[3], binTail) {
			found = append(found, l)
		}
	}
	return found
}

// The runtime binary's seal lives as long as the processes started from
// it, not on the host: after create, start, exec and delete, nothing is
// mounted under --root and the state root can be removed.
func TestRuntimeBinarySealLeavesNoMount(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	id := e.created(b)
	if m := mountsOfRuntime(t, e.root); len(m) > 0 {
		t.Errorf("after create, mounts of the runtime on the host:\n%s", strings.Join(m, "\n"))
	}
	e.ok("start", id)
	e.ok("exec", id, "true")
	e.ok("delete", "--force", id)
	if m := mountsOfRuntime(t, e.root); len(m) > 0 {
		t.Fatalf("after delete, mounts of the runtime left on the host:\n%s", strings.Join(m, "\n"))
	}
	if err := os.RemoveAll(e.root); err != nil {
		t.Fatalf("rm -rf of the state root: %v", err)
	}
}

// Upgrade: older versions left a read-only bind mount of their binary
// under --root/.exe for ever; the next create detaches and removes it.
func TestLegacyRuntimeBinarySealIsRemoved(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(e.root, ".exe")
	must(t, os.MkdirAll(dir, 0o700))
	old := filepath.Join(dir, "tirith-803-1234")
	must(t, os.WriteFile(old, nil, 0o500))
	// A copy: the mount must not look like one the runtime under test
	// makes (mountsOfRuntime would see it from other tests).
	oldBin := filepath.Join(t.TempDir(), "tirith-old")
	copyFile(t, tirithBin, oldBin)
	must(t, unix.Mount(oldBin, old, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(old, unix.MNT_DETACH) }) // if the runtime did not
	must(t, unix.Mount("", old, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""))

	b := e.bundle(nil, "true")
	id := e.created(b)
	e.ok("delete", "--force", id)
	if m := mountsOfRuntime(t, e.root); len(m) > 0 {
		t.Fatalf("the old seal (or a new one) is still mounted:\n%s", strings.Join(m, "\n"))
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", dir, err)
	}
	if err := os.RemoveAll(e.root); err != nil {
		t.Fatalf("rm -rf of the state root: %v", err)
	}
}

// The container's init, before start, is not dumpable: a process in the
// container cannot open its /proc/PID/exe or read its memory.
func TestCreatedInitIsNotDumpable(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "true")
	id := e.created(b)
	pid := e.state(id).Pid
	// Host view: a non-dumpable process's /proc files belong to root
	// and its status says so through the ptrace-protected files.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	if !strings.Contains(string(status), "State:") {
		t.Fatalf("no status for init %d", pid)
	}
	// exec into the created container: its processes see the init as
	// pid 1; opening /proc/1/exe must be refused.
	out := e.runc("exec", id, "sh", "-c", "readlink /proc/1/exe && echo READ-OK || echo denied")
	if strings.Contains(out.stdout, "READ-OK") {
		t.Fatalf("a process in the container read the init's exe link: %s", out.stdout)
	}
	if !strings.Contains(out.stdout, "denied") {
		t.Fatalf("exec output: %+v", out)
	}
}

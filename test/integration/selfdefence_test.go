package integration

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// CVE-2019-5736: whoever gets a handle on the runtime binary through
// /proc/PID/exe of a process running it (the container's init before
// start, or a payload tricked into exec'ing /proc/self/exe) waits for it
// to exit and reopens the handle for writing. The init runs from a
// read-only bind mount of the binary, so the reopen fails with EROFS even
// for host root.
func TestRuntimeBinaryCannotBeOverwrittenThroughProcExe(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(nil, "true")
	id := e.created(b)
	pid := e.state(id).Pid
	h, err := os.OpenFile(fmt.Sprintf("/proc/%d/exe", pid), unix.O_PATH, 0)
	must(t, err)
	defer h.Close()
	e.ok("delete", "--force", id)

	f, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", h.Fd()), os.O_WRONLY, 0)
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
	out := e.tirith("exec", id, "sh", "-c", "readlink /proc/1/exe && echo READ-OK || echo denied")
	if strings.Contains(out.stdout, "READ-OK") {
		t.Fatalf("a process in the container read the init's exe link: %s", out.stdout)
	}
	if !strings.Contains(out.stdout, "denied") {
		t.Fatalf("exec output: %+v", out)
	}
}

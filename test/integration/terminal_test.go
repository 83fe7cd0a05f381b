package integration

import (
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var ptsRe = regexp.MustCompile(`/dev/pts/\d+`)

// process.terminal with --console-socket: the runtime sends the pty
// master over the socket (SCM_RIGHTS, as containerd expects); the
// process's stdio is the pty's slave, sized by consoleSize.
func TestTerminalConsoleSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 99}
	}, "sh", "-c", "tty; stty size; echo hi-from-tty")
	applets(t, b, "tty", "stty")
	id := e.id()
	e.cleanup(id)
	cs := newConsoleServer(t)
	e.ok("create", "--bundle", b, "--console-socket", cs.Path, id)
	master := cs.Master(t)
	read := readPty(t, master, "hi-from-tty")
	e.ok("start", id)
	out := read()
	if !ptsRe.MatchString(out) {
		t.Errorf("tty did not print a /dev/pts/N:\n%q", out)
	}
	if !strings.Contains(out, "33 99") {
		t.Errorf("consoleSize not applied (want \"33 99\" from stty size):\n%q", out)
	}
	if !strings.Contains(out, "hi-from-tty") {
		t.Errorf("no output through the pty:\n%q", out)
	}
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	e.ok("delete", id)
	e.assertGone(id, b)
}

// Input written to the master reaches the process.
func TestTerminalInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Terminal = true }, "sh", "-c", "read line; echo got-$line")
	id := e.id()
	e.cleanup(id)
	cs := newConsoleServer(t)
	e.ok("run", "--detach", "--bundle", b, "--console-socket", cs.Path, id)
	master := cs.Master(t)
	read := readPty(t, master, "got-ping")
	if _, err := master.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if out := read(); !strings.Contains(out, "got-ping") {
		t.Fatalf("pty output %q, want got-ping", out)
	}
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	e.ok("delete", id)
	e.assertGone(id, b)
}

// exec --tty --console-socket: the exec'd process gets a pty of its own.
func TestTerminalExec(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, b := e.execContainer(nil)
	cs := newConsoleServer(t)
	done := make(chan result, 1)
	go func() {
		done <- e.runc("exec", "--tty", "--console-socket", cs.Path, id, "sh", "-c", "tty; stty size >/dev/null && echo sized; echo hi-exec; exit 3")
	}()
	master := cs.Master(t)
	out := readPty(t, master, "")()
	r := <-done
	if r.code != 3 {
		t.Errorf("exec --tty: exit %d, want 3 (stderr %q)", r.code, r.stderr)
	}
	if !ptsRe.MatchString(out) || !strings.Contains(out, "hi-exec") {
		t.Errorf("exec --tty output %q, want a /dev/pts/N and hi-exec", out)
	}
	// Without --tty the exec'd process has no terminal.
	if r := e.runc("exec", id, "tty"); r.code == 0 || !strings.Contains(r.stdout, "not a tty") {
		t.Errorf("exec without --tty: exit %d, stdout %q", r.code, r.stdout)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// process.terminal without --console-socket is an error at create (run
// --detach too), naming the flag, and leaves nothing.
func TestTerminalWithoutConsoleSocket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Terminal = true }, "true")
	e.createFails(b, e.id(), "console-socket")
	id := e.id()
	e.cleanup(id)
	if msg := e.fails("run", "--detach", "--bundle", b, id); !strings.Contains(msg, "console-socket") {
		t.Errorf("run --detach with a terminal and no socket: %q", msg)
	}
	e.assertGone(id, b)
	// A socket nobody listens on is named too.
	id = e.id()
	e.cleanup(id)
	if msg := e.fails("create", "--bundle", b, "--console-socket", "/nonexistent/sock", id); !strings.Contains(msg, "/nonexistent/sock") {
		t.Errorf("create with a dead console socket: %q", msg)
	}
	e.assertGone(id, b)
	// exec --tty without a socket is refused when detached.
	id2, b2 := e.execContainer(nil)
	if msg := e.fails("exec", "--detach", "--tty", id2, "true"); !strings.Contains(msg, "console-socket") {
		t.Errorf("exec --detach --tty without a socket: %q", msg)
	}
	e.ok("delete", "--force", id2)
	e.assertGone(id2, b2)
}

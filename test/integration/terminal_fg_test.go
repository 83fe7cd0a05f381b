package integration

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The foreground terminal paths (run -it, exec -it, OCI run with
// process.terminal and no --console-socket): tirith serves the console
// itself and copies between the container's pty and its own terminal.
// These tests give tirith a real terminal, a pty the test opens, as a
// person's shell would.

// ptySession is tirith running with a test-owned pty as its controlling
// terminal and stdio.
type ptySession struct {
	t      *testing.T
	master *os.File
	exited chan int
	cmd    *exec.Cmd

	mu  sync.Mutex
	out []byte
}

// openPty opens a new pty pair the way posix_openpt/grantpt/unlockpt do.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	must(t, err)
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		m.Close()
		t.Fatalf("pty: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}

// ptyStart starts the binary as argv0 (tirith: the front end;
// tirith-runc: the OCI runtime) with args on a fresh pty of size rows x
// cols.
func (e *env) ptyStart(argv0 string, rows, cols uint16, args ...string) *ptySession {
	e.t.Helper()
	master, slave := openPty(e.t)
	must(e.t, unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}))
	cmd := exec.Command(tirithBin, append([]string{"--root", e.root}, args...)...)
	cmd.Args[0] = argv0
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		slave.Close()
		e.t.Fatal(err)
	}
	// Only tirith (and what it starts) holds the slave now: the master
	// reads EIO once they all have exited.
	slave.Close()
	p := &ptySession{t: e.t, master: master, exited: make(chan int, 1), cmd: cmd}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.mu.Lock()
			p.out = append(p.out, buf[:n]...)
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		p.exited <- cmd.ProcessState.ExitCode()
	}()
	e.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		master.Close()
	})
	return p
}

func (p *ptySession) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.out)
}

// shown is the end of the output, for failure messages (a Go crash
// dump would be megabytes).
func (p *ptySession) shown() string {
	s := p.output()
	if len(s) > 3000 {
		s = "..." + s[len(s)-3000:]
	}
	return s
}

// expect waits until the terminal has shown want.
func (p *ptySession) expect(want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.output(), want) {
		if time.Now().After(deadline) {
			p.t.Fatalf("terminal never showed %q; it showed:\n%q", want, p.shown())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// kill SIGKILLs tirith (not what it started) and waits for it to go.
func (p *ptySession) kill() {
	p.t.Helper()
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatal("tirith did not die of SIGKILL")
	}
}

// send types s at the terminal.
func (p *ptySession) send(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil && !errors.Is(err, syscall.EIO) {
		p.t.Fatal(err)
	}
}

// wait returns tirith's exit code.
func (p *ptySession) wait() int {
	p.t.Helper()
	select {
	case code := <-p.exited:
		return code
	case <-time.After(30 * time.Second):
		p.t.Fatalf("tirith did not exit; the terminal showed:\n%q", p.shown())
	}
	return -1
}

// shellSession drives an interactive busybox sh at p: input reaches it,
// its output comes back, it sees the outer terminal's size, and `exit 3`
// is tirith's exit code.
func shellSession(t *testing.T, p *ptySession, prompt string) {
	t.Helper()
	p.expect(prompt)
	// The typed line is echoed as typed; only the shell's arithmetic
	// shows the sum.
	p.send("echo in-$((40+2)); echo size-$(busybox stty size)\n")
	p.expect("in-42")
	p.expect("size-37 101")
	p.send("exit 3\n")
	if code := p.wait(); code != 3 {
		t.Errorf("tirith exit code %d after `exit 3`, want 3; the terminal showed:\n%q", code, p.shown())
	}
}

// run -it --rm IMAGE sh: a shell at our terminal; --rm removes the
// container when the shell exits.
func TestTerminalFrontendRunInteractive(t *testing.T) {
	t.Parallel()
	f := newFE(t)
	n := f.name()
	f.cleanupFE(n)
	p := f.ptyStart("tirith", 37, 101, "--storage", f.storage, "run", "-it", "--rm", "--name", n, f.image, "sh")
	shellSession(t, p, "# ")
	if row := f.row(n); row != nil {
		t.Errorf("run --rm -it: container still listed by ps -a: %+v", *row)
	}
	// Without --rm the record keeps the shell's exit code.
	n2 := f.name()
	f.cleanupFE(n2)
	p = f.ptyStart("tirith", 37, 101, "--storage", f.storage, "run", "-it", "--name", n2, f.image, "sh")
	shellSession(t, p, "# ")
	if row := f.row(n2); row == nil || row.Status != "exited" || row.ExitCode != 3 {
		t.Errorf("run -it: ps -a row %+v, want exited with code 3", row)
	}
}

// exec -it NAME sh: a shell in a running container at our terminal.
func TestTerminalFrontendExecInteractive(t *testing.T) {
	t.Parallel()
	f := newFE(t)
	n := f.name()
	f.cleanupFE(n)
	f.feOK("run", "-d", "--name", n, f.image, "sleep", "1000")
	p := f.ptyStart("tirith", 37, 101, "--storage", f.storage, "exec", "-it", n, "sh")
	shellSession(t, p, "# ")
	// The container itself is untouched.
	if row := f.row(n); row == nil || row.Status != "running" {
		t.Errorf("after exec -it: container row %+v, want running", row)
	}
}

// tirith-runc run with process.terminal and no --console-socket: runc
// serves the console itself in the foreground, and so do we.
func TestTerminalOCIRunForeground(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Terminal = true }, "sh")
	id := e.id()
	e.cleanup(id)
	p := e.ptyStart("tirith-runc", 37, 101, "run", "--bundle", b, id)
	shellSession(t, p, "# ")
	e.assertGone(id, b)
}

// A runtime killed with kill -9 while it served a terminal leaves its
// console socket dir in /tmp; the next foreground terminal removes it
// (the dir names its dead owner), and leaves none of its own.
func TestTerminalConsoleDirOfKilledRuntimeRemoved(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Terminal = true }, "sh")
	id := e.id()
	e.cleanup(id)
	before := consoleDirs(t)
	p := e.ptyStart("tirith-runc", 24, 80, "run", "--bundle", b, id)
	p.expect("# ")
	p.kill()                      // kill -9 of the runtime: its dir stays
	e.ok("delete", "--force", id) // the container outlived its runtime
	var stale []string
	for _, d := range consoleDirs(t) {
		if !slices.Contains(before, d) {
			stale = append(stale, d)
		}
	}
	if len(stale) == 0 {
		t.Fatal("kill -9 left no console dir: nothing to clean, the test proves nothing")
	}
	id2 := e.id()
	e.cleanup(id2)
	shellSession(t, e.ptyStart("tirith-runc", 37, 101, "run", "--bundle", b, id2), "# ")
	for _, d := range stale {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("console dir %s of the killed runtime still there", d)
		}
	}
}

// consoleDirs are the receivers' dirs in the temp dir.
func consoleDirs(t *testing.T) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "tirith-console-*"))
	must(t, err)
	return m
}

package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// Forwarder passes the signals this process receives on to a container's
// process. Subscribing to every signal is a round trip to the Go
// runtime's signal thread per signal, about a millisecond in all (as much
// again to unsubscribe): a command starts the Forwarder before it
// creates the container, so that the subscription overlaps the create,
// and a signal that arrives meanwhile waits for the payload instead of
// killing the runtime half-way. It never unsubscribes: its commands exit
// soon after the wait, and until then a signal is dropped rather than
// stopping their cleanup.
type Forwarder struct {
	sigs  chan os.Signal
	ready chan struct{}
}

// ForwardSignals starts subscribing to every signal.
func ForwardSignals() *Forwarder {
	f := &Forwarder{sigs: make(chan os.Signal, 32), ready: make(chan struct{})}
	go func() {
		signal.Notify(f.sigs)
		close(f.ready)
	}()
	return f
}

// Wait waits for pid, which must be our child (the init of a container we
// created, or an exec'd process: nsenter makes them ours with
// CLONE_PARENT), forwarding the signals we receive to it. It returns the
// shell-style exit code: the status, or 128+signal.
func (f *Forwarder) Wait(pid int) (int, error) {
	<-f.ready
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-f.sigs:
				sig, ok := s.(unix.Signal)
				// SIGCHLD is about our own children; SIGURG is
				// the Go runtime's preemption signal.
				if ok && sig != unix.SIGCHLD && sig != unix.SIGURG && sig != unix.SIGWINCH {
					_ = unix.Kill(pid, sig)
				}
			case <-done:
				return
			}
		}
	}()
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("wait for %d: %w", pid, err)
		}
		switch {
		case ws.Exited():
			return ws.ExitStatus(), nil
		case ws.Signaled():
			return 128 + int(ws.Signal()), nil
		}
	}
}

// Wait is ForwardSignals().Wait(pid), for a caller with nothing to
// overlap the subscription with.
func Wait(pid int) (int, error) { return ForwardSignals().Wait(pid) }

// ConsoleReceiver is a console socket the runtime serves itself, for
// `run` and `exec` with a terminal but without --console-socket: it
// receives the pty master and copies between it and our stdio.
type ConsoleReceiver struct {
	Path string
	dir  string
	ln   int
}

// consolePrefix names the receivers' temp dirs; the owner's pid follows,
// so that a dir left by a runtime killed with kill -9 can be told from a
// live one.
const consolePrefix = "tirith-console-"

// NewConsoleReceiver listens on a fresh socket in a private temp dir,
// after removing the dirs of receivers whose process died without
// closing them.
func NewConsoleReceiver() (*ConsoleReceiver, error) {
	dropDeadConsoles(os.TempDir())
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", consolePrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "console.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		err = unix.Bind(fd, &unix.SockaddrUnix{Name: path})
		if err == nil {
			err = unix.Listen(fd, 1)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &ConsoleReceiver{Path: path, dir: dir, ln: fd}, nil
}

// dropDeadConsoles removes tmp's receiver dirs that are ours (same
// owner) and whose process is gone.
func dropDeadConsoles(tmp string) {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), consolePrefix)
		pidStr, _, ok2 := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || !ok2 || err != nil || pid <= 0 || !e.IsDir() {
			continue
		}
		var st unix.Stat_t
		p := filepath.Join(tmp, e.Name())
		if unix.Lstat(p, &st) != nil || st.Uid != uint32(os.Geteuid()) {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			_ = os.RemoveAll(p)
		}
	}
}

// Close removes the socket.
func (r *ConsoleReceiver) Close() {
	unix.Close(r.ln)
	os.RemoveAll(r.dir)
}

// Attach receives the master and copies I/O until the master closes. Our
// own terminal, if any, goes raw meanwhile; call the returned func when
// the process has exited.
func (r *ConsoleReceiver) Attach() (func(), error) {
	conn, _, err := unix.Accept4(r.ln, unix.SOCK_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("accept", err)
	}
	defer unix.Close(conn)
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := unix.Recvmsg(conn, buf, oob, 0)
	if err != nil {
		return nil, os.NewSyscallError("recvmsg", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, errors.New("console socket: no pty master received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, errors.New("console socket: no pty master received")
	}
	master := os.NewFile(uintptr(fds[0]), "pty-master")
	// Not a named result: the closure returned below calls restoreTerm,
	// and a named result would be that closure itself on return (it
	// recursed until the stack overflowed when the process exited).
	restoreTerm := func() {}
	stopResize := func() {}
	if term.IsTerminal(int(os.Stdin.Fd())) {
		stopResize = followWindowSize(int(os.Stdin.Fd()), master)
		if old, err := term.MakeRaw(int(os.Stdin.Fd())); err == nil {
			restoreTerm = func() { _ = term.Restore(int(os.Stdin.Fd()), old) }
		}
	}
	go func() { _, _ = io.Copy(master, os.Stdin) }()
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(os.Stdout, master)
		close(copied)
	}()
	return func() {
		// The process exited: drain what it wrote, but do not wait
		// for a background process that still holds the pty.
		select {
		case <-copied:
		case <-time.After(2 * time.Second):
		}
		stopResize()
		master.Close()
		restoreTerm()
	}, nil
}

// followWindowSize gives the container's pty our terminal's size now and
// at every SIGWINCH (the terminal was resized), as docker and podman do,
// until the returned stop is called.
func followWindowSize(tty int, master *os.File) (stop func()) {
	resize := func() {
		if ws, err := unix.IoctlGetWinsize(tty, unix.TIOCGWINSZ); err == nil {
			_ = unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, ws)
		}
	}
	resize()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-winch:
				resize()
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		close(done)
	}
}

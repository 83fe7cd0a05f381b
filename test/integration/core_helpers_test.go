package integration

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
)

// Helpers of the OCI-runtime-core tests (bad input, concurrency, hooks,
// exec, terminal, CLI).

// createFails runs `create` of bundle b as id, expects it to fail with an
// error containing every want, and checks that nothing of it is left.
func (e *env) createFails(b, id string, want ...string) string {
	e.t.Helper()
	e.cleanup(id)
	msg := e.fails("create", "--bundle", b, id)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			e.t.Errorf("create error %q does not name %q", strings.TrimSpace(msg), w)
		}
	}
	e.assertGone(id, b)
	return msg
}

// editConfig rewrites bundle b's config.json as generic JSON, so that a
// test can put in what the Go types cannot hold (a field of the wrong
// type, a missing object).
func editConfig(t *testing.T, b string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(b, "config.json")
	data, err := os.ReadFile(path)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	edit(m)
	data, err = json.MarshalIndent(m, "", " ")
	must(t, err)
	must(t, os.WriteFile(path, data, 0o644))
}

// applets adds busybox applet links to bundle b's rootfs.
func applets(t *testing.T, b string, names ...string) {
	t.Helper()
	for _, n := range names {
		p := filepath.Join(b, "rootfs", "bin", n)
		if _, err := os.Lstat(p); err == nil {
			continue
		}
		must(t, os.Symlink("busybox", p))
	}
}

// writeScript writes an executable script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(body), 0o755))
}

// consoleServer is a console socket as containerd's shim serves one: it
// accepts one connection and receives the pty master over SCM_RIGHTS.
type consoleServer struct {
	Path   string
	ln     *net.UnixListener
	master chan *os.File
	errc   chan error
}

func newConsoleServer(t *testing.T) *consoleServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "tirith-it-console-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	must(t, err)
	cs := &consoleServer{Path: path, ln: ln, master: make(chan *os.File, 1), errc: make(chan error, 1)}
	t.Cleanup(func() { ln.Close() })
	go cs.serve()
	return cs
}

func (cs *consoleServer) serve() {
	conn, err := cs.ln.AcceptUnix()
	if err != nil {
		cs.errc <- err
		return
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		cs.errc <- err
		return
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		cs.errc <- errors.New("no control message with the pty master")
		return
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		cs.errc <- errors.New("no single fd in the control message")
		return
	}
	cs.master <- os.NewFile(uintptr(fds[0]), "pty-master")
}

// Master waits for the pty master.
func (cs *consoleServer) Master(t *testing.T) *os.File {
	t.Helper()
	select {
	case m := <-cs.master:
		t.Cleanup(func() { m.Close() })
		return m
	case err := <-cs.errc:
		t.Fatalf("console socket: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("console socket: no pty master received")
	}
	return nil
}

// readPty starts reading a pty master until the slave side is closed by
// every process (EIO) or the output contains until; the returned func
// waits for the output. Reading starts at once: the kernel discards what
// is unread when the last slave closes.
func readPty(t *testing.T, master *os.File, until string) func() string {
	t.Helper()
	done := make(chan string, 1)
	go func() {
		var out []byte
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out = append(out, buf[:n]...)
			if until != "" && strings.Contains(string(out), until) {
				break
			}
			if err != nil {
				if !errors.Is(err, syscall.EIO) && !errors.Is(err, io.EOF) {
					out = append(out, []byte("\n[read error: "+err.Error()+"]")...)
				}
				break
			}
		}
		done <- string(out)
	}()
	return func() string {
		t.Helper()
		select {
		case s := <-done:
			return s
		case <-time.After(20 * time.Second):
			t.Fatal("pty: timed out reading the container's output")
		}
		return ""
	}
}

// hostMounts returns the host's mount table lines, keyed by line.
func hostMounts(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	m := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			// Mount ids change; the mount point, root and options
			// are what matter.
			m[strings.Join(f[3:], " ")] = true
		}
	}
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }

// noLandlock drops the default Landlock annotation, for containers that
// write to a bind mount the tests read (Landlock's default policy keeps
// anything but /tmp, /run and /dev read-only).
func noLandlock(s *specs.Spec) { delete(s.Annotations, landlock.Annotation) }

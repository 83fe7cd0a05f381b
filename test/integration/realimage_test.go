package integration

// The real-image tier: programs nobody here wrote, from Debian's own
// packages, run under the front end's defaults (every wall up; no flag that
// relaxes one). The image is built with mmdebstrap from the package mirror
// apt uses, cached outside the repository keyed by what it contains, and
// imported once per test binary.
//
// Each test was also run by hand under podman 4.3.1 (Debian's, with runc,
// --network none and --read-only to match Tirith's defaults) with the same
// image (`podman import` of the same tar) and the same command, and passes
// there too; the podman command is in the test's comment.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// debianPackages is the real-image tier's package list (the issue's).
var debianPackages = []string{"nginx-light", "postgresql-15", "python3-minimal", "procps", "curl"}

const debianSuite = "bookworm"

var (
	debOnce    sync.Once
	debStorage string
	debErr     error
)

// debianImageName is the name the tier's image is imported under.
const debianImageName = "tirith-test/debian:bookworm"

// debianTar returns the rootfs tarball: $TIRITH_TEST_DEBIAN_TAR, or the
// cache under /var/cache/tirith-test, built with mmdebstrap if missing.
func debianTar() (string, error) {
	if p := os.Getenv("TIRITH_TEST_DEBIAN_TAR"); p != "" {
		return p, nil
	}
	key := sha256.Sum256([]byte(debianSuite + " minbase " + strings.Join(debianPackages, ",")))
	dir := "/var/cache/tirith-test"
	tarPath := filepath.Join(dir, "debian-"+hex.EncodeToString(key[:6])+".tar")
	if _, err := os.Stat(tarPath); err == nil {
		return tarPath, nil
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		return "", fmt.Errorf("the real-image tier needs mmdebstrap to build its Debian image (apt-get install mmdebstrap; .ci/run does), or TIRITH_TEST_DEBIAN_TAR=PATH")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// One build at a time across test binaries.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(tarPath); err == nil {
		return tarPath, nil
	}
	tmp := tarPath + ".tmp.tar"
	cmd := exec.Command("mmdebstrap", "--quiet", "--variant=minbase", "--include="+strings.Join(debianPackages, ","), debianSuite, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("mmdebstrap: %v\n%s", err, out)
	}
	return tarPath, os.Rename(tmp, tarPath)
}

// newDebian is a front-end environment whose image is the Debian one.
func newDebian(t *testing.T) *feEnv {
	t.Helper()
	e := newEnv(t)
	debOnce.Do(func() {
		tarPath, err := debianTar()
		if err != nil {
			debErr = err
			return
		}
		if debStorage, debErr = os.MkdirTemp("", "tirith-it-debian-"); debErr != nil {
			return
		}
		atExit(func() { os.RemoveAll(debStorage) })
		out, err := exec.Command(tirithBin, "--storage", debStorage, "import", tarPath, debianImageName).CombinedOutput()
		if err != nil {
			debErr = fmt.Errorf("tirith import %s: %v\n%s", tarPath, err, out)
		}
	})
	if debErr != nil {
		t.Fatal(debErr)
	}
	return &feEnv{env: e, storage: debStorage, image: debianImageName}
}

// detached runs the image detached under name with flags and a command.
func (f *feEnv) detached(name string, flags []string, cmd ...string) {
	f.t.Helper()
	f.cleanupFE(name)
	args := append(append([]string{"run", "-d", "--name", name}, flags...), f.image)
	f.feOK(append(args, cmd...)...)
}

// eventually retries exec in container name until it exits 0 (a server
// starting up), and returns its stdout.
func (f *feEnv) eventually(name string, cmd ...string) string {
	f.t.Helper()
	var r result
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if r = f.fe(append([]string{"exec", name}, cmd...)...); r.code == 0 {
			return r.stdout
		}
		if row := f.row(name); row != nil && row.Status != "running" {
			break
		}
	}
	logs := f.fe("logs", name)
	f.t.Fatalf("exec %v never succeeded: exit %d\nstdout: %s\nstderr: %s\ncontainer logs:\n%s%s", cmd, r.code, r.stdout, r.stderr, logs.stdout, logs.stderr)
	return ""
}

// nginx from Debian serves its default page on loopback, its workers
// running as www-data (initgroups needs setgroups). Its state and log
// dirs are tmpfs: the rootfs is read-only (wall 7), as with Docker's
// --read-only.
// podman run -d --name ng --read-only --tmpfs /var/lib/nginx --tmpfs /var/log/nginx deb nginx -g 'daemon off;'
// && podman exec ng curl -sf http://127.0.0.1/
func TestRealImageNginx(t *testing.T) {
	f := newDebian(t)
	n := f.name()
	f.detached(n, []string{"--tmpfs", "/var/lib/nginx", "--tmpfs", "/var/log/nginx"}, "nginx", "-g", "daemon off;")
	page := f.eventually(n, "curl", "-sf", "http://127.0.0.1/")
	if !strings.Contains(page, "Welcome to nginx") {
		t.Fatalf("nginx page:\n%s", page)
	}
	users := f.feOK("exec", n, "ps", "-o", "user=", "-C", "nginx").stdout
	if !strings.Contains(users, "www-data") || !strings.Contains(users, "root") {
		t.Fatalf("nginx processes' users (want a root master and www-data workers):\n%s", users)
	}
	f.feOK("stop", n)
	f.feOK("rm", n)
}

// postgres: initdb, start, and a query over 127.0.0.1 (lo must be up),
// all as the image's postgres user; the cluster lives in /tmp (39 MB of
// the 64 MiB tmpfs).
// podman run -d --name pg -u postgres --read-only deb sh -c '...same...'
// && podman exec -u postgres pg psql -h 127.0.0.1 -Atc 'select 6*7'
func TestRealImagePostgres(t *testing.T) {
	f := newDebian(t)
	n := f.name()
	const bin = "/usr/lib/postgresql/15/bin"
	f.detached(n, []string{"-u", "postgres"}, "sh", "-c",
		bin+"/initdb -D /tmp/data >/dev/null && exec "+bin+"/postgres -D /tmp/data -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp")
	if got := strings.TrimSpace(f.eventually(n, "psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "select 6*7")); got != "42" {
		t.Fatalf("select 6*7 = %q", got)
	}
	// exec -u: a second user's session through the same server.
	if got := strings.TrimSpace(f.feOK("exec", "-u", "postgres", n, "psql", "-h", "127.0.0.1", "-Atc", "select current_user").stdout); got != "postgres" {
		t.Fatalf("current_user = %q", got)
	}
	f.feOK("stop", n)
	f.feOK("rm", n)
}

// su and setpriv --init-groups drop to www-data: both call setgroups.
// podman run --rm deb sh -c 'su -s /bin/sh www-data -c id; setpriv ... id'
func TestRealImagePrivilegeDrop(t *testing.T) {
	f := newDebian(t)
	out := f.runOut(nil, "sh", "-c", "su -s /bin/sh www-data -c id && setpriv --reuid=www-data --regid=www-data --init-groups id")
	want := "uid=33(www-data) gid=33(www-data) groups=33(www-data)"
	if strings.Count(out, want) != 2 {
		t.Fatalf("want %q twice (su, then setpriv):\n%s", want, out)
	}
}

// A TCP server and client on 127.0.0.1, and the names the container
// resolves without DNS.
// podman run --rm --network none deb python3 -c '...same...'
func TestRealImageLoopbackTCP(t *testing.T) {
	f := newDebian(t)
	const prog = `
import socket, threading
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def serve():
    c, _ = srv.accept(); c.sendall(c.recv(100).upper()); c.close()
threading.Thread(target=serve).start()
cl = socket.create_connection(srv.getsockname()); cl.sendall(b"ping"); print(cl.recv(100).decode())
print(socket.gethostbyname("localhost"), socket.gethostbyname(socket.gethostname()))
`
	out := f.runOut([]string{"--network", "none", "--hostname", "webapp"}, "python3", "-c", prog)
	if !strings.Contains(out, "PING") {
		t.Fatalf("no reply over 127.0.0.1:\n%s", out)
	}
	// podman maps the hostname to 127.0.0.1, Tirith (as Debian) to
	// 127.0.1.1: both are lo.
	if !strings.Contains(out, "127.0.0.1 127.0.") {
		t.Fatalf("localhost and the hostname should resolve to loopback addresses:\n%s", out)
	}
}

// A script on a read-only volume execs its helper beside it (Landlock
// lets programs from the image and read-only volumes run).
// podman run --rm -v DIR:/app:ro deb /app/entry.sh
func TestRealImageVolumeScript(t *testing.T) {
	f := newDebian(t)
	dir, err := os.MkdirTemp("", "tirith-it-app-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "entry.sh"), []byte("#!/bin/sh\nexec /app/bin/helper \"$@\"\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "bin", "helper"), []byte("#!/bin/sh\necho \"helper ran with $*\"\n"), 0o755))
	out := f.runOut([]string{"-v", dir + ":/app:ro"}, "/app/entry.sh", "x", "y")
	if strings.TrimSpace(out) != "helper ran with x y" {
		t.Fatalf("entry.sh output: %q", out)
	}
}

// exec -u www-data into a running container; ps sees only the
// container's own processes.
// podman run -d --name x deb sleep 300 && podman exec -u www-data x id -un
func TestRealImageExecUser(t *testing.T) {
	f := newDebian(t)
	n := f.name()
	f.detached(n, nil, "sleep", "300")
	if got := strings.TrimSpace(f.feOK("exec", "-u", "www-data", n, "id", "-un").stdout); got != "www-data" {
		t.Fatalf("exec -u www-data: id -un = %q", got)
	}
	ps := f.feOK("exec", n, "ps", "-eo", "pid=,comm=").stdout
	lines := strings.Split(strings.TrimSpace(ps), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "1 sleep") {
		t.Fatalf("ps in the container should show sleep as pid 1 and ps itself:\n%s", ps)
	}
	f.feOK("rm", "-f", n)
}

// stop -t 3 of a program that ignores SIGTERM: SIGKILL after 3 s, and the
// exit code is 137 as Docker reports it.
// podman run -d --name s deb sh -c 'trap "" TERM; while :; do sleep 1; done' && podman stop -t 3 s
func TestRealImageStopIgnoresTERM(t *testing.T) {
	f := newDebian(t)
	n := f.name()
	f.detached(n, nil, "python3", "-c", "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(300)")
	// The handler is in place once it says so.
	for i := 0; !strings.Contains(f.fe("logs", n).stdout, "ready"); i++ {
		if i == 150 {
			t.Fatal("the program never said ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.feOK("stop", "-t", "3", n)
	row := f.row(n)
	if row == nil || row.Status == "running" || row.ExitCode != 137 {
		t.Fatalf("after stop -t 3: %+v, want exited with 137 (SIGKILL)", row)
	}
	f.feOK("rm", n)
}

// An interactive bash through a pseudo-terminal: job control and line
// editing need a real tty, a resize of the terminal reaches it, the exit
// code comes back and --rm removes it.
// podman run --rm -it deb bash (in tmux: echo, then exit 3; podman exits 3)
func TestRealImageInteractiveBash(t *testing.T) {
	f := newDebian(t)
	n := f.name()
	f.cleanupFE(n)
	p := f.ptyStart("tirith", 30, 90, "--storage", f.storage, "run", "--rm", "-it", "--name", n, f.image, "bash")
	p.expect("# ")
	p.send("tty; stty size; echo sum=$((6*7))\r")
	p.expect("sum=42")
	out := p.output()
	if !strings.Contains(out, "/dev/pts/0") || !strings.Contains(out, "30 90") {
		t.Fatalf("bash should see a pty of 30x90:\n%s", p.shown())
	}
	// The terminal is resized (the kernel sends tirith SIGWINCH): the
	// container's pty follows.
	must(t, unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 41, Col: 123}))
	time.Sleep(200 * time.Millisecond)
	p.send("echo resized-$(stty size | tr ' ' x)\r")
	p.expect("resized-41x123")
	p.send("exit 3\r")
	if code := p.wait(); code != 3 {
		t.Fatalf("tirith exit code %d, want 3 (bash's):\n%s", code, p.shown())
	}
	if row := f.row(n); row != nil {
		t.Fatalf("run --rm -it: container still listed: %+v", *row)
	}
}

// --network container:NAME, the sidecar pattern: a second container
// reaches a server the first one listens with on its own 127.0.0.1.
// podman run -d --name web deb python3 -c SERVER &&
// podman run --rm --network container:web deb curl -sf http://127.0.0.1:8000/
func TestRealImageSharedNetwork(t *testing.T) {
	f := newDebian(t)
	web := f.name()
	const server = `import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8000)); s.listen(5)
while True:
    c, _ = s.accept(); c.recv(1000); c.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello from web\n"); c.close()
`
	f.detached(web, nil, "python3", "-c", server)
	f.eventually(web, "curl", "-sf", "-o", "/dev/null", "http://127.0.0.1:8000/")
	r := f.feOK("run", "--rm", "--network", "container:"+web, f.image, "curl", "-sf", "http://127.0.0.1:8000/")
	if !strings.Contains(r.stdout, "hello from web") || !strings.Contains(r.stderr, "network stack") {
		t.Fatalf("the sidecar's curl: stdout %q, stderr %q (want the listing and the wall 5 warning)", r.stdout, r.stderr)
	}
	// Without it, the second container has a loopback of its own.
	if r := f.fe("run", "--rm", f.image, "curl", "-sf", "http://127.0.0.1:8000/"); r.code == 0 {
		t.Fatalf("a container of its own network reached the other's server")
	}
	f.feOK("rm", "-f", web)
	if r := f.fe("run", "--rm", "--network", "container:"+web, f.image, "true"); r.code != 125 || !strings.Contains(r.stderr, "container:"+web) {
		t.Fatalf("--network container: of a removed container: exit %d, %q", r.code, r.stderr)
	}
}

// nginx on the bridge network with a published port: the host
// fetches its page from 127.0.0.1 (nginx binds port 80 as container
// root, which the namespace allows without CAP_NET_BIND_SERVICE), and
// the port is bound on loopback only.
// podman run -d --name ng --network bridge -p 127.0.0.1::80 --read-only --tmpfs /var/lib/nginx --tmpfs /var/log/nginx deb nginx -g 'daemon off;'
// && curl -sf http://127.0.0.1:$(podman port ng 80 | cut -d: -f2)/
func TestRealImageNginxPublished(t *testing.T) {
	f := newDebian(t)
	n := f.name()
	f.detached(n, []string{"--network", "bridge", "-p", "80", "--tmpfs", "/var/lib/nginx", "--tmpfs", "/var/log/nginx"}, "nginx", "-g", "daemon off;")
	hostPort := strings.TrimSpace(f.feOK("port", n, "80").stdout)
	if !strings.HasPrefix(hostPort, "127.0.0.1:") {
		t.Fatalf("tirith port %s 80: %q", n, hostPort)
	}
	var page string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out, err := hostFetch(hostPort, "/"); err == nil && strings.Contains(out, "200 OK") {
			page = out
			break
		}
	}
	if !strings.Contains(page, "Welcome to nginx") {
		t.Fatalf("nginx from the host at %s: %q", hostPort, page)
	}
	p, _ := strconv.Atoi(strings.TrimPrefix(hostPort, "127.0.0.1:"))
	if got := tcpListeners(t, p); got != "0100007F" {
		t.Fatalf("port %d bound on %q, want 127.0.0.1 only", p, got)
	}
	f.feOK("rm", "-f", n)
}

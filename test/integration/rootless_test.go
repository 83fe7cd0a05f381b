package integration

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/runtime"
	"github.com/tirith-project/tirith/internal/subid"
	"github.com/tirith-project/tirith/internal/testutil"
)

// rlUser is the unprivileged user the rootless tests run as: made once
// per test binary with a subordinate id range of its own, removed (with
// its pause process and files) when the tests end.
type rlUser struct {
	name      string
	uid, gid  int
	dir, home string
	bin, runc string // copies of the binary it may run
	subBase   int
}

var (
	rlOnce sync.Once
	rlU    *rlUser
	rlErr  error
)

const rlSubBase = 400000

func rootlessUser(t *testing.T) *rlUser {
	t.Helper()
	testutil.RequireRoot(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	for _, tool := range []string{"useradd", "userdel", "newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: install Debian's passwd and uidmap (.ci/run does)", tool)
		}
	}
	rlOnce.Do(func() { rlU, rlErr = makeRootlessUser() })
	if rlErr != nil {
		t.Fatal(rlErr)
	}
	return rlU
}

func makeRootlessUser() (*rlUser, error) {
	u := &rlUser{name: "tirith-rl-it"}
	sh := func(args ...string) error {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v: %s", args, err, out)
		}
		return nil
	}
	// A user left by a killed run goes first, with whatever it runs.
	_ = exec.Command("pkill", "-KILL", "-u", u.name).Run()
	_ = exec.Command("userdel", u.name).Run()
	var err error
	if u.dir, err = os.MkdirTemp("", "tirith-rl-"); err != nil {
		return nil, err
	}
	if err := os.Chmod(u.dir, 0o755); err != nil {
		return nil, err
	}
	u.home = filepath.Join(u.dir, "home")
	r := fmt.Sprintf("%d-%d", rlSubBase, rlSubBase+65535)
	if err := sh("useradd", "-M", "-d", u.home, "-s", "/bin/sh", u.name); err != nil {
		return nil, err
	}
	atExit(func() {
		_ = exec.Command("pkill", "-KILL", "-u", u.name).Run()
		time.Sleep(100 * time.Millisecond)
		_ = exec.Command("usermod", "--del-subuids", r, "--del-subgids", r, u.name).Run()
		_ = exec.Command("userdel", u.name).Run()
		os.RemoveAll(u.dir)
	})
	// Debian's useradd may have given it ranges already; the first is
	// the one the front end maps.
	if sub, ok := subid.First("/etc/subuid", u.name, -1); ok {
		u.subBase = int(sub.Start)
	} else {
		if err := sh("usermod", "--add-subuids", r, "--add-subgids", r, u.name); err != nil {
			return nil, err
		}
		u.subBase = rlSubBase
	}
	out, err := exec.Command("id", "-u", u.name).Output()
	if err != nil {
		return nil, err
	}
	u.uid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	out, err = exec.Command("id", "-g", u.name).Output()
	if err != nil {
		return nil, err
	}
	u.gid, _ = strconv.Atoi(strings.TrimSpace(string(out)))
	for _, d := range []string{u.home, filepath.Join(u.home, "run")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
		if err := os.Chown(d, u.uid, u.gid); err != nil {
			return nil, err
		}
	}
	binDir := filepath.Join(u.dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		return nil, err
	}
	u.bin, u.runc = filepath.Join(binDir, "tirith"), filepath.Join(binDir, "tirith-runc")
	data, err := os.ReadFile(tirithBin)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(u.bin, data, 0o755); err != nil {
		return nil, err
	}
	return u, os.Symlink("tirith", u.runc)
}

// run runs a command as the user, in its home, with XDG_RUNTIME_DIR set
// as a login session would.
func (u *rlUser) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return u.runEnv(t, nil, stdin, args...)
}

// runEnv is run with more environment variables.
func (u *rlUser) runEnv(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = u.home
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + u.home, "XDG_RUNTIME_DIR=" + filepath.Join(u.home, "run")}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}}}
	cmd.Stdin = strings.NewReader(stdin)
	return runTimed(t, cmd, 90*time.Second)
}

func (u *rlUser) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := u.run(t, "", args...)
	if r.code != 0 {
		t.Fatalf("%v as %s: exit %d\nstdout: %s\nstderr: %s", args, u.name, r.code, r.stdout, r.stderr)
	}
	return r
}

// bundle makes a bundle of the user's own with busybox in its rootfs
// and the config.json that spec (tirith-runc or runc) writes with
// --rootless, then sets the process's args.
func (u *rlUser) bundle(t *testing.T, specBin string, wrap []string, args ...string) (dir string, r result) {
	t.Helper()
	dir = filepath.Join(u.home, fmt.Sprintf("bundle-%d", idSeq.Add(1)))
	rootfs := filepath.Join(dir, "rootfs")
	must(t, os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755))
	for _, d := range []string{"proc", "dev", "sys", "tmp", "etc"} {
		must(t, os.Mkdir(filepath.Join(rootfs, d), 0o755))
	}
	copyFile(t, busybox, filepath.Join(rootfs, "bin", "busybox"))
	for _, a := range []string{"sh", "cat", "id", "sleep"} {
		must(t, os.Symlink("busybox", filepath.Join(rootfs, "bin", a)))
	}
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, u.uid, u.gid)
	}))
	r = u.ok(t, append(wrap, specBin, "spec", "--rootless", "--bundle", dir)...)
	editConfig(t, dir, func(m map[string]any) {
		p := m["process"].(map[string]any)
		p["terminal"] = false
		p["args"] = args
	})
	return dir, r
}

// TestRootlessOCI: `tirith-runc spec --rootless` and `tirith-runc run`
// as an unprivileged user, state under $XDG_RUNTIME_DIR/tirith, side by
// side with runc doing the same; and, with a pids cgroup delegated to
// the user (cgroup v1: the directory chowned to it), the limit is kept
// and applied there.
func TestRootlessOCI(t *testing.T) {
	u := rootlessUser(t)
	args := []string{"sh", "-c", "cat /proc/self/uid_map; id -u"}
	tb, spec := u.bundle(t, u.runc, nil, args...)
	got := u.ok(t, u.runc, "run", "--bundle", tb, "rl-oci-1")
	want := fmt.Sprintf("0 %d 1\n0\n", u.uid)
	if norm(got.stdout) != want {
		t.Errorf("tirith-runc run as %s: got %q, want %q", u.name, norm(got.stdout), want)
	}
	cfg := readConfig(t, tb)
	if strings.Contains(spec.stderr, "wall 6 (resources) is down") == (cfg.Linux.Resources.Pids != nil) {
		t.Errorf("spec --rootless: the warning (%q) and the pids limit (%v) disagree", spec.stderr, cfg.Linux.Resources.Pids)
	}
	stateDir := filepath.Join(u.home, "run", "tirith")
	st, err := os.Stat(stateDir)
	if err != nil || st.Mode().Perm() != 0o700 || st.Sys().(*syscall.Stat_t).Uid != uint32(u.uid) {
		t.Fatalf("state dir %s: %v %v: want the user's own, 0700", stateDir, st, err)
	}
	if ents, _ := os.ReadDir(stateDir); len(ents) != 0 {
		t.Errorf("left in %s after run: %v", stateDir, ents)
	}

	// runc, the same way.
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal("runc not found: install Debian's runc (.ci/run does)")
	}
	rb, _ := u.bundle(t, runc, nil, args...)
	rr := u.ok(t, runc, "--root", filepath.Join(u.home, "run", "runc"), "run", "--bundle", rb, "rl-runc-1")
	if norm(rr.stdout) != norm(got.stdout) {
		t.Errorf("runc as %s printed %q, tirith-runc %q", u.name, norm(rr.stdout), norm(got.stdout))
	}
	// The drop-in claim: runc's own rootless bundle (no setgroups
	// annotation: the runtime must deny setgroups itself) under Tirith.
	if tr := u.ok(t, u.runc, "run", "--bundle", rb, "rl-oci-3"); norm(tr.stdout) != norm(rr.stdout) {
		t.Errorf("tirith-runc on runc's rootless bundle printed %q, runc %q", norm(tr.stdout), norm(rr.stdout))
	}

	// A pids cgroup delegated to the user: its own, chowned to it, with
	// the user's processes in it.
	parent := "/sys/fs/cgroup/pids"
	if _, err := os.Stat(filepath.Join(parent, "tasks")); err != nil {
		t.Log("no cgroup v1 pids hierarchy: the delegated case is not exercised on this host")
		return
	}
	deleg := filepath.Join(parent, fmt.Sprintf("tirith-rl-it-%d", os.Getpid()))
	must(t, os.Mkdir(deleg, 0o755))
	t.Cleanup(func() {
		os.Remove(filepath.Join(deleg, "tirith"))
		os.Remove(deleg)
	})
	ents, err := os.ReadDir(deleg)
	must(t, err)
	must(t, os.Chown(deleg, u.uid, u.gid))
	for _, e := range ents {
		must(t, os.Chown(filepath.Join(deleg, e.Name()), u.uid, u.gid))
	}
	wrap := []string{"sh", "-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, deleg}
	db, spec2 := u.bundle(t, u.runc, wrap, "sleep", "60")
	if c := readConfig(t, db); c.Linux.Resources.Pids == nil || c.Linux.Resources.Pids.Limit == nil || *c.Linux.Resources.Pids.Limit != 1024 || spec2.stderr != "" {
		t.Fatalf("spec --rootless in a delegated pids cgroup: pids %v, stderr %q; want 1024 and no warning", c.Linux.Resources.Pids, spec2.stderr)
	}
	u.ok(t, append(wrap, u.runc, "create", "--bundle", db, "rl-oci-2")...)
	defer u.run(t, "", u.runc, "delete", "-f", "rl-oci-2")
	cg := filepath.Join(deleg, "tirith", "rl-oci-2")
	max, err := os.ReadFile(filepath.Join(cg, "pids.max"))
	if err != nil || strings.TrimSpace(string(max)) != "1024" {
		t.Errorf("%s/pids.max: %q %v; want 1024", cg, max, err)
	}
	var state struct{ Pid int }
	must(t, json.Unmarshal([]byte(u.ok(t, u.runc, "state", "rl-oci-2").stdout), &state))
	procs, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
	if !strings.Contains("\n"+string(procs), "\n"+strconv.Itoa(state.Pid)+"\n") {
		t.Errorf("container init %d is not in %s (cgroup.procs: %q)", state.Pid, cg, procs)
	}
	u.ok(t, u.runc, "delete", "-f", "rl-oci-2")
	if _, err := os.Stat(cg); err == nil {
		t.Errorf("%s left after delete -f", cg)
	}
}

// norm collapses the columns of /proc/PID/uid_map.
func norm(s string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestRootlessFrontend: `tirith run` and friends as an unprivileged
// user: the store in ~/.local/share/tirith and the state in
// $XDG_RUNTIME_DIR/tirith, both its own and 0700; image files keep
// their owners (the user's subordinate ids on the host); detached
// containers are reached by later commands; wall 6 being down is said;
// what needs host root (a bridge network) is refused by name.
func TestRootlessFrontend(t *testing.T) {
	u := rootlessUser(t)
	bb, err := os.ReadFile(busybox)
	must(t, err)
	lt := newLayerTar(t)
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "tmp/"} {
		lt.add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	lt.add(&tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	lt.add(&tar.Header{Name: "srv/www/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 33, Gid: 33}, nil)
	lt.add(&tar.Header{Name: "srv/www/index.html", Typeflag: tar.TypeReg, Mode: 0o640, Uid: 33, Gid: 33}, []byte("hi\n"))
	lt.add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range []string{"sh", "cat", "id", "sleep", "stat", "echo", "httpd", "wget"} {
		lt.add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	img := filepath.Join(u.home, "rootfs.tar")
	must(t, os.WriteFile(img, lt.bytes(), 0o644))
	u.ok(t, u.bin, "import", img, "rl:1")

	r := u.ok(t, u.bin, "run", "--rm", "rl:1", "sh", "-c", "id -u; stat -c %u:%g /srv/www; cat /proc/self/uid_map")
	want := "0\n33:33\n0 0 1\n1 1 65536\n"
	if norm(r.stdout) != want {
		t.Errorf("run --rm as %s: got %q, want %q", u.name, norm(r.stdout), want)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("wall 6 (resources): no cgroup is delegated to uid %d: no memory, pids limit", u.uid)) {
		t.Errorf("run as %s: no warning that wall 6 is down: %q", u.name, r.stderr)
	}
	storage := filepath.Join(u.home, ".local", "share", "tirith")
	for _, d := range []string{storage, filepath.Join(u.home, "run", "tirith")} {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm() != 0o700 || st.Sys().(*syscall.Stat_t).Uid != uint32(u.uid) {
			t.Errorf("%s: %v %v: want the user's own, 0700", d, st, err)
		}
	}
	// On the host the image's uid 33 is the user's subordinate id 33.
	layers, _ := filepath.Glob(filepath.Join(storage, "layers", "*", "srv", "www", "index.html"))
	if len(layers) != 1 {
		t.Fatalf("layer file srv/www/index.html: found %v", layers)
	}
	var st syscall.Stat_t
	must(t, syscall.Lstat(layers[0], &st))
	if wantUID := uint32(u.subBase + 32); st.Uid != wantUID || st.Gid != wantUID {
		t.Errorf("%s is owned by %d:%d on the host, want %d:%d", layers[0], st.Uid, st.Gid, wantUID, wantUID)
	}

	u.ok(t, u.bin, "run", "-d", "--name", "rl-d1", "rl:1", "sh", "-c", "echo started; sleep 60")
	if ps := u.ok(t, u.bin, "ps").stdout; !strings.Contains(ps, "rl-d1") || !strings.Contains(ps, "running") {
		t.Errorf("ps as %s: %q", u.name, ps)
	}
	if out := u.ok(t, u.bin, "exec", "rl-d1", "id", "-u").stdout; out != "0\n" {
		t.Errorf("exec as %s: %q", u.name, out)
	}
	waitFor(t, "rl-d1's log", func() bool { return u.run(t, "", u.bin, "logs", "rl-d1").stdout == "started\n" })
	u.ok(t, u.bin, "stop", "-t", "1", "rl-d1")
	u.ok(t, u.bin, "rm", "rl-d1")
	if ps := u.ok(t, u.bin, "ps", "-a").stdout; strings.Contains(ps, "rl-d1") {
		t.Errorf("ps -a after rm: %q", ps)
	}
	// The network namespaces' dir (.netns) may stay, empty.
	if ents, _ := filepath.Glob(filepath.Join(u.home, "run", "tirith", "[^.]*")); len(ents) != 0 {
		t.Errorf("runtime state left after rm: %v", ents)
	}
	if ents, _ := filepath.Glob(filepath.Join(u.home, "run", "tirith", ".netns", "*")); len(ents) != 0 {
		t.Errorf("network namespaces left after rm: %v", ents)
	}

	br := u.run(t, "", u.bin, "run", "--rm", "--network", "bridge", "rl:1", "true")
	if br.code != 125 || !strings.Contains(br.stderr, "bridge networks need host root") {
		t.Errorf("--network bridge as %s: exit %d, %q; want 125 naming host root", u.name, br.code, br.stderr)
	}
	if ents, _ := filepath.Glob(filepath.Join(storage, "containers", "[^.]*")); len(ents) != 0 {
		t.Errorf("containers left in the store: %v", ents)
	}
	rootlessSlirp(t, u)
}

// rootlessSlirp: --network slirp4netns gives a rootless container a
// way out and published ports on the host's loopback, but not the
// host's own loopback services; nothing of it (process, namespace) is
// left after rm.
func rootlessSlirp(t *testing.T, u *rlUser) {
	if _, err := exec.LookPath("slirp4netns"); err != nil {
		t.Fatal("slirp4netns not found: install Debian's slirp4netns (.ci/run does)")
	}
	if r := u.run(t, "", "sh", "-c", "exec 3<>/dev/net/tun"); r.code != 0 {
		t.Skipf("/dev/net/tun is not open to users on this host (%s; Debian's udev makes it 0666, .ci/run does too): slirp4netns cannot run", strings.TrimSpace(r.stderr))
	}
	// A service of the host's own, on its loopback only.
	hostPort := hostService(t, "127.0.0.1:0", "host secret\n")

	// The rootless default network, where it can run.
	if dev := u.ok(t, u.bin, "run", "--rm", "rl:1", "cat", "/proc/net/dev").stdout; !strings.Contains(dev, "tap0:") {
		t.Errorf("rootless run without --network: no tap0 (slirp4netns is the default):\n%s", dev)
	}

	u.ok(t, u.bin, "run", "-d", "--name", "rl-web", "--network", "slirp4netns", "-p", "80", "rl:1", "httpd", "-f", "-p", "80", "-h", "/srv/www")
	defer u.run(t, "", u.bin, "rm", "-f", "rl-web")
	port := strings.TrimSpace(u.ok(t, u.bin, "port", "rl-web").stdout)
	addr, ok := strings.CutPrefix(port, "80/tcp -> ")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("tirith port rl-web: %q; want 80/tcp -> 127.0.0.1:PORT", port)
	}
	var body string
	waitFor(t, "the published port", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /index.html HTTP/1.0\r\n\r\n")
		b, _ := io.ReadAll(c)
		body = string(b)
		return strings.HasSuffix(body, "\r\n\r\nhi\n")
	})
	if r := u.run(t, "", u.bin, "exec", "rl-web", "wget", "-q", "-O-", "-T", "3", fmt.Sprintf("http://%s:%d/", slirpGateway, hostPort)); r.code == 0 || strings.Contains(r.stdout, "host secret") {
		t.Errorf("the container reached the host's loopback service through slirp4netns: exit %d, %q", r.code, r.stdout)
	}
	u.ok(t, u.bin, "rm", "-f", "rl-web")
	if out, _ := exec.Command("pgrep", "-u", u.name, "-x", "slirp4netns").Output(); len(out) > 0 {
		// A zombie is not a leak (its parent is gone); a live one is.
		for _, pid := range strings.Fields(string(out)) {
			if st, _ := os.ReadFile("/proc/" + pid + "/stat"); !strings.Contains(string(st), ") Z ") {
				t.Errorf("slirp4netns %s still runs after rm", pid)
			}
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(u.home, "run", "tirith", ".netns", "*")); len(ents) != 0 {
		t.Errorf("network namespaces left: %v", ents)
	}
}

// slirpGateway is the host as slirp4netns shows it to the container.
const slirpGateway = "10.0.2.2"

// TestRootlessNeedsSubuid: an unprivileged user without a subordinate
// range (nobody) gets one plain message naming what to add, exit 125,
// and nothing is created: no store, no state, no runtime dir.
func TestRootlessNeedsSubuid(t *testing.T) {
	t.Parallel()
	testutil.RequireRoot(t)
	binDir := t.TempDir()
	testutil.OpenToAll(t, binDir)
	bin := filepath.Join(binDir, "tirith")
	copyFile(t, tirithBin, bin)
	play := t.TempDir()
	testutil.OpenToAll(t, play)
	must(t, os.Chmod(play, 0o777))
	for _, args := range [][]string{
		{"run", "--rm", "tirith/demo"},
		{"ps", "-a"},
		{"images"},
		{"system", "prune", "-f"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = play
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + play, "XDG_RUNTIME_DIR=" + filepath.Join(play, "run")}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 125 || !strings.Contains(string(out), "/etc/subuid has no range for nobody") || !strings.Contains(string(out), "usermod --add-subuids") {
			t.Errorf("%v as nobody: exit %d, %q; want 125 naming /etc/subuid", args, cmd.ProcessState.ExitCode(), out)
		}
	}
	if ents, _ := os.ReadDir(play); len(ents) != 0 {
		t.Errorf("created as nobody: %v", ents)
	}
}

func readConfig(t *testing.T, bundle string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	must(t, err)
	var s specs.Spec
	must(t, json.Unmarshal(b, &s))
	if s.Linux == nil || s.Linux.Resources == nil {
		s.Linux = &specs.Linux{Resources: &specs.LinuxResources{}}
	}
	return &s
}

// TestRealImageRootless: Debian's nginx and postgres under the rootless
// front end, as in TestRealImageNginx and TestRealImagePostgres: nginx
// workers drop to www-data and postgres runs as its own user, both ids
// of the user's subordinate range.
func TestRealImageRootless(t *testing.T) {
	u := rootlessUser(t)
	tarPath, err := debianTar()
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(u.home, "debian.tar")
	copyFile(t, tarPath, img)
	must(t, os.Chown(img, u.uid, u.gid))
	u.ok(t, u.bin, "import", img, "deb:rl")
	must(t, os.Remove(img))
	eventually := func(name string, cmd ...string) string {
		t.Helper()
		var r result
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if r = u.run(t, "", append([]string{u.bin, "exec", name}, cmd...)...); r.code == 0 {
				return r.stdout
			}
		}
		logs := u.run(t, "", u.bin, "logs", name)
		t.Fatalf("exec %v never succeeded: exit %d\n%s%s\nlogs:\n%s%s", cmd, r.code, r.stdout, r.stderr, logs.stdout, logs.stderr)
		return ""
	}
	u.ok(t, u.bin, "run", "-d", "--name", "rl-ng", "--tmpfs", "/var/lib/nginx", "--tmpfs", "/var/log/nginx", "deb:rl", "nginx", "-g", "daemon off;")
	defer u.run(t, "", u.bin, "rm", "-f", "rl-ng")
	if page := eventually("rl-ng", "curl", "-sf", "http://127.0.0.1/"); !strings.Contains(page, "Welcome to nginx") {
		t.Fatalf("nginx page:\n%s", page)
	}
	if users := u.ok(t, u.bin, "exec", "rl-ng", "ps", "-o", "user=", "-C", "nginx").stdout; !strings.Contains(users, "www-data") || !strings.Contains(users, "root") {
		t.Fatalf("nginx processes' users (want a root master and www-data workers):\n%s", users)
	}
	const bin = "/usr/lib/postgresql/15/bin"
	u.ok(t, u.bin, "run", "-d", "--name", "rl-pg", "-u", "postgres", "deb:rl", "sh", "-c",
		bin+"/initdb -D /tmp/data >/dev/null && exec "+bin+"/postgres -D /tmp/data -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp")
	defer u.run(t, "", u.bin, "rm", "-f", "rl-pg")
	if got := strings.TrimSpace(eventually("rl-pg", "psql", "-h", "127.0.0.1", "-U", "postgres", "-Atc", "select 6*7")); got != "42" {
		t.Fatalf("select 6*7 = %q", got)
	}
	for _, n := range []string{"rl-ng", "rl-pg"} {
		u.ok(t, u.bin, "stop", n)
		u.ok(t, u.bin, "rm", n)
	}
	u.ok(t, u.bin, "rmi", "deb:rl")
}

// TestRootlessCrash: a rootless run killed with kill -9 at each step
// leaves a container that ps -a lists and rm -f removes whole: its
// directory, its overlay (in the pause process's mount namespace), its
// slirp4netns and network namespace, its processes.
func TestRootlessCrash(t *testing.T) {
	u := rootlessUser(t)
	img := filepath.Join(u.home, "crash.tar")
	must(t, os.WriteFile(img, rootfsTarWith(t, "sleep"), 0o644))
	u.ok(t, u.bin, "import", img, "rl-crash:1")
	network := "none"
	if u.run(t, "", "sh", "-c", "exec 3<>/dev/net/tun").code == 0 {
		network = "slirp4netns"
	}
	for _, step := range []string{"after-record", "after-overlay", "after-network", "after-bundle", "after-create", "after-start"} {
		if step == "after-network" && network == "none" {
			continue
		}
		n := "rl-crash-" + step
		r := u.runEnv(t, []string{runtime.CrashEnv + "=" + step}, "", u.bin, "run", "--name", n, "--network", network, "rl-crash:1", "sleep", "1000")
		if r.code != -1 {
			t.Fatalf("run with %s=%s: exit %d, want killed by SIGKILL\n%s", runtime.CrashEnv, step, r.code, r.stderr)
		}
		if ps := u.ok(t, u.bin, "ps", "-a").stdout; !strings.Contains(ps, n) {
			t.Fatalf("%s: ps -a does not list the crashed container:\n%s", step, ps)
		}
		u.ok(t, u.bin, "rm", "-f", n)
		if ps := u.ok(t, u.bin, "ps", "-a").stdout; strings.Contains(ps, n) {
			t.Fatalf("%s: still listed after rm -f:\n%s", step, ps)
		}
	}
	storage := filepath.Join(u.home, ".local", "share", "tirith")
	if ents, _ := filepath.Glob(filepath.Join(storage, "containers", "[^.]*")); len(ents) != 0 {
		t.Errorf("container dirs left: %v", ents)
	}
	if ents, _ := filepath.Glob(filepath.Join(u.home, "run", "tirith", ".netns", "*")); len(ents) != 0 {
		t.Errorf("network namespaces left: %v", ents)
	}
	// Every process of the user now is the pause process (or a zombie
	// whose parent is gone).
	b, err := os.ReadFile(filepath.Join(u.home, "run", "tirith-pause.pid"))
	must(t, err)
	pause := strings.Fields(string(b))[0]
	mi, err := os.ReadFile("/proc/" + pause + "/mountinfo")
	must(t, err)
	if strings.Contains(string(mi), filepath.Join(storage, "containers")+"/") {
		t.Errorf("mounts left under the store in the pause namespace:\n%s", mi)
	}
	out, _ := exec.Command("pgrep", "-u", u.name).Output()
	for _, pid := range strings.Fields(string(out)) {
		st, _ := os.ReadFile("/proc/" + pid + "/stat")
		if pid != pause && !strings.Contains(string(st), ") Z ") {
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			t.Errorf("process %s of %s left: %q", pid, u.name, cmdline)
		}
	}
	u.ok(t, u.bin, "rmi", "rl-crash:1")
}

// rootfsTarWith is busybox with the given applets.
func rootfsTarWith(t *testing.T, applets ...string) []byte {
	bb, err := os.ReadFile(busybox)
	must(t, err)
	lt := newLayerTar(t)
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "tmp/"} {
		lt.add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	lt.add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range applets {
		lt.add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	return lt.bytes()
}

// TestRootlessPodman: rootless podman (in the user namespace it makes
// itself, where the runtime runs as that namespace's root without one of
// its own) runs the same container with runc and with tirith-runc, and
// both print the same; tirith-runc then serves -d, exec, stop and rm.
func TestRootlessPodman(t *testing.T) {
	u := rootlessUser(t)
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman not found: install Debian's podman (.ci/run does)")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatal("runc not found: install Debian's runc (.ci/run does)")
	}
	lt := newLayerTar(t)
	bb, err := os.ReadFile(busybox)
	must(t, err)
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "tmp/", "srv/"} {
		lt.add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	lt.add(&tar.Header{Name: "srv/www/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 33, Gid: 33}, nil)
	lt.add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range []string{"sh", "cat", "id", "stat", "sleep"} {
		lt.add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	img := filepath.Join(u.home, "podman.tar")
	must(t, os.WriteFile(img, lt.bytes(), 0o644))
	podman := func(args ...string) []string {
		return append([]string{"podman", "--root", filepath.Join(u.home, "podman-root"), "--runroot", filepath.Join(u.home, "run", "podman"),
			"--cgroup-manager", "cgroupfs", "--events-backend", "file"}, args...)
	}
	u.ok(t, podman("import", img, "localhost/rl-podman:1")...)
	defer u.run(t, "", podman("system", "reset", "-f")...)
	script := "id -u; stat -c %u:%g /srv/www; cat /proc/self/uid_map"
	want := fmt.Sprintf("0\n33:33\n0 %d 1\n1 %d 65536\n", u.uid, u.subBase)
	for _, rt := range []string{runc, u.runc} {
		r := u.ok(t, podman("--runtime", rt, "run", "--rm", "--network", "none", "localhost/rl-podman:1", "sh", "-c", script)...)
		if norm(r.stdout) != want {
			t.Errorf("rootless podman --runtime %s: %q, want %q", rt, norm(r.stdout), want)
		}
	}
	p := func(args ...string) []string { return podman(append([]string{"--runtime", u.runc}, args...)...) }
	u.ok(t, p("run", "-d", "--name", "rl-p1", "--network", "none", "localhost/rl-podman:1", "sleep", "60")...)
	if out := u.ok(t, p("exec", "rl-p1", "id", "-u")...).stdout; out != "0\n" {
		t.Errorf("podman exec through tirith-runc: %q", out)
	}
	u.ok(t, p("stop", "-t", "1", "rl-p1")...)
	u.ok(t, p("rm", "rl-p1")...)
}

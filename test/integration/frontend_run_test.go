package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/spec"
	"github.com/tirith-project/tirith/internal/testutil"
)

// TestFrontendDefaultWalls: `tirith run IMAGE` with no flags has every
// wall up, seen from inside by the probe.
func TestFrontendDefaultWalls(t *testing.T) {
	f := newFE(t)
	r := f.fe("run", "--rm", f.image)
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("defaults printed warnings: %s", r.stderr)
	}
	p := f.probeWith()
	if p.PID != 1 {
		t.Errorf("pid %d, want 1", p.PID)
	}
	if p.UID != 0 || !strings.HasPrefix(p.UIDMap, "0 ") || strings.HasPrefix(p.UIDMap, "0 0 ") {
		t.Errorf("wall 1: uid %d uid_map %q: want root mapped to an unprivileged host range", p.UID, p.UIDMap)
	}
	want := slices.Sorted(slices.Values(spec.DefaultCapabilities))
	if !slices.Equal(slices.Sorted(slices.Values(p.CapEff)), want) || !slices.Equal(slices.Sorted(slices.Values(p.CapBnd)), want) {
		t.Errorf("wall 2: caps eff %v bnd %v, want %v", p.CapEff, p.CapBnd, want)
	}
	if !p.NoNewPrivs {
		t.Error("wall 2: no_new_privs off")
	}
	if p.Seccomp != 2 {
		t.Errorf("wall 3: seccomp mode %d, want 2", p.Seccomp)
	}
	if landlock.ABI() > 0 && p.LandlockExec != "refused" {
		t.Errorf("wall 4: exec of a file written to %q: %q, want refused", p.LandlockExecDir, p.LandlockExec)
	}
	if off := f.probeWith("--security-opt", "landlock=off"); off.LandlockExec != "allowed" {
		t.Errorf("wall 4 off: exec of a file written to %q: %q, want allowed (else the probe cannot tell)", off.LandlockExecDir, off.LandlockExec)
	}
	for _, ns := range []string{"net", "user", "pid", "mnt", "ipc", "uts", "cgroup"} {
		self, _ := os.Readlink("/proc/self/ns/" + ns)
		if p.Namespaces[ns] == "" || p.Namespaces[ns] == self {
			t.Errorf("wall 5: namespace %s not private (%q)", ns, p.Namespaces[ns])
		}
	}
	if len(p.Hostname) != 12 {
		t.Errorf("hostname %q, want the short container id", p.Hostname)
	}
	if p.PidsMax != "1024" {
		t.Errorf("wall 6: pids.max %q, want 1024", p.PidsMax)
	}
	if !p.RootRO {
		t.Error("wall 7: root not read-only")
	}
	for path, m := range p.Masked {
		if !m {
			t.Errorf("wall 7: %s not masked", path)
		}
	}
	// Network: the default bridge network, loopback and one veth
	// (with --network none only loopback: TestFrontendNetworkNone).
	out := f.runOut(nil, "cat", "/proc/net/dev")
	var ifs []string
	for _, l := range strings.Split(out, "\n")[2:] {
		if n, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			ifs = append(ifs, n)
		}
	}
	slices.Sort(ifs)
	if !slices.Equal(ifs, []string{"eth0", "lo"}) {
		t.Errorf("wall 5: interfaces %v, want lo and eth0 (the default bridge network)", ifs)
	}
	// Memory: 512 MiB by default.
	if out := f.runOut(nil, "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"); strings.TrimSpace(out) != "536870912" {
		t.Errorf("wall 6: memory limit %q, want 536870912", out)
	}
	// Landlock: nothing written can be executed, even where writable.
	if r := f.fe("run", "--rm", "--tmpfs", "/x:exec", f.image, "sh", "-c", "cp /bin/busybox /x/bb && /x/bb true"); r.code == 0 {
		t.Error("wall 4: a file written to a tmpfs could be executed")
	}
}

func TestFrontendFlags(t *testing.T) {
	f := newFE(t)
	t.Run("env", func(t *testing.T) {
		f := f.sub(t)
		envFile := filepath.Join(t.TempDir(), "env")
		must(t, os.WriteFile(envFile, []byte("# comment\nB=from-file\nA=overridden\n"), 0o644))
		r := f.feOK("run", "--rm", "--env-file", envFile, "-e", "A=1", "-e", "API_TOKEN=x", f.image, "env")
		for _, want := range []string{"FROM_IMAGE=yes", "A=1", "B=from-file", "HOSTNAME=", "PATH=/bin"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("env lacks %s:\n%s", want, r.stdout)
			}
		}
		if !strings.Contains(r.stderr, "tirith: warning: --env API_TOKEN: looks like a secret") {
			t.Errorf("no secret warning: %q", r.stderr)
		}
	})
	t.Run("workdir", func(t *testing.T) {
		f := f.sub(t)
		if out := f.runOut([]string{"-w", "/data"}, "pwd"); out != "/data\n" {
			t.Errorf("pwd %q", out)
		}
		if r := f.fe("run", "--rm", "-w", "rel", f.image, "pwd"); r.code != 125 || !strings.Contains(r.stderr, "--workdir") {
			t.Errorf("relative workdir: exit %d %s", r.code, r.stderr)
		}
	})
	t.Run("user", func(t *testing.T) {
		f := f.sub(t)
		if out := f.runOut([]string{"-u", "app"}, "id"); !strings.Contains(out, "uid=1000") || !strings.Contains(out, "gid=1000") || !strings.Contains(out, "2000") {
			t.Errorf("-u app: %q", out)
		}
		if out := f.runOut([]string{"-u", "1234:5678"}, "id"); !strings.HasPrefix(out, "uid=1234 gid=5678") {
			t.Errorf("-u 1234:5678: %q", out)
		}
		p := f.probeWith("-u", "app")
		if len(p.CapEff) != 0 || len(p.CapPrm) != 0 {
			t.Errorf("non-root user has caps: %v %v", p.CapEff, p.CapPrm)
		}
		if r := f.fe("run", "--rm", "-u", "nosuch", f.image, "true"); r.code != 125 || !strings.Contains(r.stderr, "nosuch") {
			t.Errorf("unknown user: exit %d %s", r.code, r.stderr)
		}
	})
	t.Run("entrypoint", func(t *testing.T) {
		f := f.sub(t)
		if out := f.runOut(nil, "echo", "a", "b"); out != "a b\n" {
			t.Errorf("cmd: %q", out)
		}
		if out := f.runOut([]string{"--entrypoint", "/bin/echo"}, "hi"); out != "hi\n" {
			t.Errorf("entrypoint + cmd: %q", out)
		}
		// --entrypoint resets the image's Cmd (/bin/probe).
		if out := f.runOut([]string{"--entrypoint", "/bin/echo"}); out != "\n" {
			t.Errorf("entrypoint alone: %q", out)
		}
		// A program outside the default Landlock program dirs runs.
		if out := f.runOut([]string{"--entrypoint", "/app/busybox"}, "echo", "from-app"); out != "from-app\n" {
			t.Errorf("/app/busybox: %q", out)
		}
	})
	t.Run("volume", func(t *testing.T) {
		f := f.sub(t)
		// The container's mapped root must reach the host dir.
		dir := t.TempDir()
		testutil.OpenToAll(t, dir)
		must(t, os.Chmod(dir, 0o777))
		must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("host\n"), 0o644))
		if out := f.runOut([]string{"-v", dir + ":/mnt/v:ro"}, "cat", "/mnt/v/f"); out != "host\n" {
			t.Errorf("ro volume: %q", out)
		}
		if r := f.fe("run", "--rm", "-v", dir+":/mnt/v:ro", f.image, "touch", "/mnt/v/x"); r.code == 0 {
			t.Error("wrote to a read-only volume")
		}
		r := f.feOK("run", "--rm", "-v", dir+":/mnt/v", f.image, "sh", "-c", "echo c > /mnt/v/new")
		if !strings.Contains(r.stderr, "tirith: warning: --volume") {
			t.Errorf("no warning for a rw volume: %q", r.stderr)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "new")); string(b) != "c\n" {
			t.Errorf("rw volume: %q", b)
		}
	})
	t.Run("tmpfs", func(t *testing.T) {
		f := f.sub(t)
		out := f.runOut([]string{"--tmpfs", "/scratch:size=1m"}, "sh", "-c", "echo x > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/mounts")
		if !strings.HasPrefix(out, "x\n") || !strings.Contains(out, "size=1024k") || !strings.Contains(out, "noexec") {
			t.Errorf("tmpfs: %q", out)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		f := f.sub(t)
		if r := f.fe("run", "--rm", f.image, "touch", "/newfile"); r.code == 0 || !strings.Contains(r.stderr, "Read-only") {
			t.Errorf("default root writable: exit %d %s", r.code, r.stderr)
		}
		r := f.feOK("run", "--rm", "--read-only=false", f.image, "sh", "-c", "touch /newfile && echo y > /data/file && cat /data/file")
		if r.stdout != "y\n" || !strings.Contains(r.stderr, "--read-only=false") {
			t.Errorf("--read-only=false: %q %q", r.stdout, r.stderr)
		}
	})
	t.Run("caps", func(t *testing.T) {
		f := f.sub(t)
		p := f.probeWith("--cap-drop", "CHOWN", "--cap-add", "NET_ADMIN")
		if slices.Contains(p.CapEff, "CAP_CHOWN") || !slices.Contains(p.CapEff, "CAP_NET_ADMIN") {
			t.Errorf("caps %v", p.CapEff)
		}
		r := f.feOK("run", "--rm", "--cap-add", "net_admin", f.image, "true")
		if !strings.Contains(r.stderr, "tirith: warning: --cap-add: wall 2 (privileges): CAP_NET_ADMIN") {
			t.Errorf("no warning: %q", r.stderr)
		}
		if r := f.fe("run", "--rm", "--cap-add", "FOO", f.image, "true"); r.code != 125 || !strings.Contains(r.stderr, "--cap-add") {
			t.Errorf("bad cap: exit %d %s", r.code, r.stderr)
		}
	})
	t.Run("security-opt", func(t *testing.T) {
		f := f.sub(t)
		r := f.feOK("run", "--rm", "--security-opt", "seccomp=unconfined", f.image)
		if !strings.Contains(r.stderr, "tirith: warning: --security-opt seccomp=unconfined") {
			t.Errorf("no warning: %q", r.stderr)
		}
		if !strings.Contains(r.stdout, `"seccomp":0`) {
			t.Errorf("seccomp still on: %s", r.stdout)
		}
		p := f.probeWith("--security-opt", "no-new-privileges=false")
		if p.NoNewPrivs {
			t.Error("no-new-privileges=false: nnp still on")
		}
		if r := f.fe("run", "--rm", "--security-opt", "bogus=1", f.image); r.code != 125 {
			t.Errorf("bogus security-opt: exit %d", r.code)
		}
	})
	t.Run("privileged", func(t *testing.T) {
		f := f.sub(t)
		r := f.feOK("run", "--rm", "--privileged", f.image)
		if !strings.Contains(r.stderr, "tirith: warning: --privileged") {
			t.Errorf("no warning: %q", r.stderr)
		}
		if !strings.Contains(r.stdout, "CAP_SYS_ADMIN") || !strings.Contains(r.stdout, `"seccomp":0`) {
			t.Errorf("privileged: %s", r.stdout)
		}
	})
	t.Run("resources", func(t *testing.T) {
		f := f.sub(t)
		out := f.runOut([]string{"--memory", "64m", "--pids-limit", "50", "--cpus", "0.5", "--cpu-shares", "512"},
			"cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.shares")
		if strings.Fields(out)[0] != "67108864" || strings.Fields(out)[1] != "50" || strings.Fields(out)[2] != "50000" || strings.Fields(out)[3] != "512" {
			t.Errorf("cgroup limits: %q", out)
		}
		if r := f.fe("run", "--rm", "--memory", "lots", f.image); r.code != 125 || !strings.Contains(r.stderr, "--memory") {
			t.Errorf("bad --memory: exit %d %s", r.code, r.stderr)
		}
	})
	t.Run("device", func(t *testing.T) {
		f := f.sub(t)
		r := f.feOK("run", "--rm", "--device", "/dev/null:/dev/mynull", f.image, "sh", "-c", "echo x > /dev/mynull && stat -c %t,%T /dev/mynull")
		if r.stdout != "1,3\n" || !strings.Contains(r.stderr, "--device") {
			t.Errorf("device: %q %q", r.stdout, r.stderr)
		}
	})
	t.Run("hostname-ulimit", func(t *testing.T) {
		f := f.sub(t)
		out := f.runOut([]string{"--hostname", "box", "--ulimit", "nofile=100:200"}, "sh", "-c", "hostname; ulimit -n; ulimit -Hn")
		if out != "box\n100\n200\n" {
			t.Errorf("hostname/ulimit: %q", out)
		}
	})
}

func TestFrontendExitCodes(t *testing.T) {
	f := newFE(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{f.image, "true"}, 0},
		{[]string{f.image, "sh", "-c", "exit 3"}, 3},
		{[]string{"--memory", "nonsense", f.image}, 125},
		{[]string{"--no-such-flag", f.image}, 125},
		{[]string{"example.invalid/not/pulled:1"}, 125},
		{[]string{f.image, "/bin/notexec"}, 126},
		{[]string{f.image, "/data"}, 126},
		{[]string{f.image, "nonexist"}, 127},
		{[]string{f.image, "/bin/nonexist"}, 127},
		// Killed by the OOM killer: 137, as Docker.
		{[]string{"--memory", "16m", f.image, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"}, 137},
	} {
		r := f.fe(append([]string{"run", "--rm"}, tc.args...)...)
		if r.code != tc.code {
			t.Errorf("run %v: exit %d, want %d\nstderr: %s", tc.args, r.code, tc.code, r.stderr)
		}
	}
	// Nothing is left of any of them.
	ents, _ := os.ReadDir(filepath.Join(f.storage, "containers"))
	for _, e := range ents {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(f.root, e.Name())); err == nil {
				t.Errorf("runtime state of %s left behind", e.Name())
			}
		}
	}
}

// TestFrontendOOMRecorded: an OOM-killed container's record says so.
func TestFrontendOOMRecorded(t *testing.T) {
	f := newFE(t)
	n := f.name()
	f.cleanupFE(n)
	r := f.fe("run", "--name", n, "--memory", "16m", f.image, "sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1")
	if r.code != 137 {
		t.Fatalf("exit %d, want 137: %s", r.code, r.stderr)
	}
	row := f.row(n)
	if row == nil || !row.OOMKilled || row.ExitCode != 137 || row.Status != "exited" {
		t.Errorf("record: %+v", row)
	}
}

func TestFrontendBuiltinImage(t *testing.T) {
	f := newFE(t)
	st := t.TempDir()
	testutil.OpenToAll(t, st)
	r := f.frontEnd(nil, "--storage", st, "run", "--rm", "tirith/demo")
	if r.code != 0 || !strings.Contains(r.stdout, "seccomp mode 2") {
		t.Fatalf("tirith run tirith/demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The README's first command reports all seven walls, each up.
	for w := 1; w <= 7; w++ {
		if w == 4 && landlock.ABI() == 0 {
			t.Log("kernel without Landlock: wall 4 cannot be up")
			continue
		}
		up := false
		for _, l := range strings.Split(r.stdout, "\n") {
			if fields := strings.Fields(l); len(fields) >= 4 && fields[0] == "wall" && fields[1] == strconv.Itoa(w) {
				up = fields[3] == "up"
			}
		}
		if !up {
			t.Errorf("wall %d missing or not up in the demo's report:\n%s", w, r.stdout)
		}
	}
	if landlock.ABI() > 0 && !strings.Contains(r.stdout, "refused by Landlock") {
		t.Errorf("wall 4 line does not show a Landlock refusal:\n%s", r.stdout)
	}
}

// Relative --storage and --root are taken from the working directory, as
// Docker's and runc's are (the bundle used to resolve them against itself).
func TestFrontendRelativeStorage(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	testutil.OpenToAll(t, dir)
	cmd := exec.Command(tirithBin, "--storage", "store", "--root", "state", "run", "--rm", "tirith/demo")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "wall 7 filesystem") {
		t.Fatalf("run with relative --storage and --root: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "store")); err != nil {
		t.Errorf("the store is not under the working directory: %v", err)
	}
}

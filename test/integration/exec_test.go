package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execContainer runs a detached container (sleep) for exec tests.
func (e *env) execContainer(mutate func(*specs.Spec)) (id, bundle string) {
	e.t.Helper()
	bundle = e.bundle(mutate, "sleep", "1000")
	applets(e.t, bundle, "tty", "stty", "cut", "tr", "sort")
	return e.running(bundle), bundle
}

// statusField returns a field of /proc/PID/status text.
func statusField(status, key string) string {
	for _, l := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestExecFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, b := e.execContainer(nil)
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"args", []string{"echo", "a b", "c"}, "a b c\n", 0},
		{"exit code", []string{"sh", "-c", "echo out; exit 7"}, "out\n", 7},
		{"killed by signal", []string{"sh", "-c", "kill -9 $$"}, "", 137},
		{"env", []string{"--env", "FOO=bar baz", "-e", "PATH=/bin", "sh", "-c", "echo \"$FOO|$PATH\""}, "bar baz|/bin\n", 0},
		{"spec env kept", []string{"sh", "-c", "echo $TERM"}, "xterm\n", 0},
		{"cwd", []string{"--cwd", "/proc", "pwd"}, "/proc\n", 0},
		{"user", []string{"--user", "1000:1000", "id"}, "uid=1000 gid=1000\n", 0},
		{"user uid only", []string{"--user", "1000", "sh", "-c", "id -u; id -g"}, "1000\n0\n", 0},
		{"additional gids", []string{"--user", "1000:1000", "--additional-gids", "2000", "-g", "3000", "id", "-G"}, "1000 2000 3000\n", 0},
		{"missing binary", []string{"nonexist"}, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.runc(append(append([]string{"exec"}, tc.args[:len(tc.args)-len(cmdPart(tc.args))]...), append([]string{id}, cmdPart(tc.args)...)...)...)
			if tc.code == -1 {
				if r.code == 0 || !strings.Contains(r.stderr, "executable file not found") || !strings.Contains(r.stderr, "nonexist") {
					t.Fatalf("exec of a missing binary: exit %d, stderr %q", r.code, r.stderr)
				}
				return
			}
			if r.code != tc.code || r.stdout != tc.want {
				t.Fatalf("exit %d stdout %q (stderr %q), want exit %d stdout %q", r.code, r.stdout, r.stderr, tc.code, tc.want)
			}
		})
	}
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("container after execs: %s", st.Status)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// cmdPart returns the command of an exec arg list: what follows the last
// flag (and its value).
func cmdPart(args []string) []string {
	withValue := map[string]bool{"--env": true, "-e": true, "--cwd": true, "--user": true, "--additional-gids": true, "-g": true, "--cap": true}
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		if withValue[args[i]] {
			i++
		}
		i++
	}
	return args[i:]
}

// --cap adds a capability the container does not have; --no-new-privs
// sets no_new_privs for a container whose process lacks it.
func TestExecCapsAndNoNewPrivs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, b := e.execContainer(func(s *specs.Spec) { s.Process.NoNewPrivileges = false })
	status := func(args ...string) string {
		return e.ok(append(append([]string{"exec"}, args...), id, "cat", "/proc/self/status")...)
	}
	plain := status()
	withCap := status("--cap", "CAP_NET_RAW")
	const netRaw = 13
	eff := func(s string) uint64 {
		v, err := strconv.ParseUint(statusField(s, "CapEff"), 16, 64)
		must(t, err)
		return v
	}
	if eff(plain)&(1<<netRaw) != 0 {
		t.Fatalf("default exec has CAP_NET_RAW: %x", eff(plain))
	}
	if eff(withCap)&(1<<netRaw) == 0 || eff(withCap)&^(1<<netRaw) != eff(plain) {
		t.Fatalf("--cap CAP_NET_RAW: CapEff %x, want %x plus NET_RAW", eff(withCap), eff(plain))
	}
	if got := statusField(plain, "NoNewPrivs"); got != "0" {
		t.Fatalf("NoNewPrivs %s without the flag in a container without it", got)
	}
	if got := statusField(status("--no-new-privs"), "NoNewPrivs"); got != "1" {
		t.Fatalf("--no-new-privs: NoNewPrivs %s", got)
	}
	// The filter applies whether or not no_new_privs is set.
	for _, s := range []string{plain, withCap} {
		if statusField(s, "Seccomp") != "2" {
			t.Fatalf("exec'd process without the seccomp filter:\n%s", s)
		}
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// --process takes the whole process from a file.
func TestExecProcessFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, b := e.execContainer(nil)
	p := specs.Process{
		Args: []string{"sh", "-c", "echo \"$X $(pwd) $(id -u)\"; exit 5"},
		Env:  []string{"PATH=/bin", "X=fromjson"},
		Cwd:  "/tmp",
		User: specs.User{UID: 1234, GID: 1234},
	}
	data, err := json.Marshal(p)
	must(t, err)
	path := filepath.Join(t.TempDir(), "process.json")
	must(t, os.WriteFile(path, data, 0o644))
	r := e.runc("exec", "--process", path, id)
	if r.code != 5 || r.stdout != "fromjson /tmp 1234\n" {
		t.Fatalf("exec --process: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	// A broken process.json is named.
	must(t, os.WriteFile(path, []byte(`{"args": "sh"}`), 0o644))
	if msg := e.fails("exec", "--process", path, id); !strings.Contains(msg, "process.json") || !strings.Contains(msg, "args") {
		t.Errorf("broken process.json: %q", msg)
	}
	must(t, os.WriteFile(path, []byte(`{"args": [], "cwd": "/"}`), 0o644))
	if msg := e.fails("exec", "--process", path, id); !strings.Contains(msg, "args") {
		t.Errorf("process.json without args: %q", msg)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// exec --detach --pid-file: the process runs on after exec returns, the
// pid file names it, and it is in the container's namespaces and cgroup,
// under the same seccomp filter.
func TestExecDetachJoinsContainer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Landlock off: the in-container comparison below reads /proc/1,
	// which a separate Landlock domain may not (TestExecReachesInit).
	id, b := e.execContainer(noLandlock)
	initPid := e.state(id).Pid
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	e.ok("exec", "--detach", "--pid-file", pidFile, id, "sleep", "999")
	data, err := os.ReadFile(pidFile)
	must(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		t.Fatalf("pid file %q", data)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	must(t, err)
	if string(cmdline) != "sleep\x00999\x00" {
		t.Fatalf("pid file's process runs %q, want sleep 999", cmdline)
	}
	for _, ns := range []string{"pid", "mnt", "net", "ipc", "uts", "cgroup", "user"} {
		a, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		want, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", initPid, ns))
		if err1 != nil || err2 != nil || a != want {
			t.Errorf("%s namespace: exec'd %s, init %s (%v %v)", ns, a, want, err1, err2)
		}
	}
	cg1, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	cg2, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", initPid))
	if len(cg1) == 0 || string(cg1) != string(cg2) {
		t.Errorf("cgroups: exec'd\n%s\ninit\n%s", cg1, cg2)
	}
	st1, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	st2, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", initPid))
	for _, k := range []string{"Seccomp", "Seccomp_filters", "NoNewPrivs", "CapEff", "CapBnd", "Uid", "Gid"} {
		if statusField(string(st1), k) != statusField(string(st2), k) || statusField(string(st1), k) == "" {
			t.Errorf("%s: exec'd %q, init %q", k, statusField(string(st1), k), statusField(string(st2), k))
		}
	}
	if statusField(string(st1), "Seccomp") != "2" {
		t.Errorf("exec'd process not under a seccomp filter")
	}
	// From inside: the same namespaces as the container's pid 1.
	out := e.ok("exec", id, "sh", "-c", "for n in pid mnt net ipc uts cgroup; do [ \"$(readlink /proc/self/ns/$n)\" = \"$(readlink /proc/1/ns/$n)\" ] || echo differ $n; done; grep Seccomp: /proc/self/status")
	if strings.Contains(out, "differ") || !strings.Contains(out, "Seccomp:\t2") {
		t.Errorf("inside the exec'd process: %s", out)
	}
	// ps sees both processes.
	var pids []int
	must(t, json.Unmarshal([]byte(e.ok("ps", "--format", "json", id)), &pids))
	seen := map[int]bool{}
	for _, p := range pids {
		seen[p] = true
	}
	if !seen[pid] || !seen[initPid] {
		t.Errorf("ps %v lacks the init %d or the exec'd %d", pids, initPid, pid)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		if c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.HasPrefix(string(c), "sleep") {
			t.Errorf("exec'd process survived delete --force")
		}
	}
}

// Like runc, exec works in a created (not yet started) container and
// leaves it created; in a stopped container it fails clearly.
func TestExecCreatedAndStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	id := e.created(b)
	if out := e.ok("exec", id, "echo", "in-created"); out != "in-created\n" {
		t.Fatalf("exec in a created container: %q", out)
	}
	if st := e.state(id); st.Status != specs.StateCreated {
		t.Fatalf("exec changed a created container to %s", st.Status)
	}
	e.ok("start", id)
	e.ok("kill", id, "KILL")
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	if msg := e.fails("exec", id, "true"); !strings.Contains(msg, "stopped") {
		t.Errorf("exec in a stopped container: %q", msg)
	}
	e.ok("delete", id)
	e.assertGone(id, b)
	if msg := e.fails("exec", id, "true"); !strings.Contains(msg, "does not exist") {
		t.Errorf("exec in a missing container: %q", msg)
	}
}

// An exec'd process is a peer of the container's other processes, as in
// runc: it may signal the init (kill -HUP 1 to reload a daemon is common)
// and read its /proc entries, under the default spec too.
func TestExecReachesInit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, b := e.execContainer(nil)
	// Under the default Landlock policy an exec'd process has a domain of
	// its own: it may signal the init and read its ordinary /proc files,
	// not ptrace-guarded ones such as /proc/1/ns (docs/security-walls.md,
	// "Landlock").
	r := e.runc("exec", id, "sh", "-c", "kill -0 1 && echo signal-ok; cat /proc/1/cmdline >/dev/null && echo proc-ok")
	if r.stdout != "signal-ok\nproc-ok\n" {
		t.Errorf("exec'd process cannot reach the init: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

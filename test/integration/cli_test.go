package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.ok("--version")
	if !strings.HasPrefix(out, "tirith version ") || !strings.Contains(out, "spec: "+specs.Version) {
		t.Fatalf("--version: %q", out)
	}
}

// Invoked through a tirith-runc symlink (containerd's BinaryName, podman
// --runtime), the binary is the same runtime.
func TestCLIRuncName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	link := filepath.Join(t.TempDir(), "tirith-runc")
	must(t, os.Symlink(tirithBin, link))
	b := e.bundle(nil, "sleep", "1000")
	id := e.id()
	e.cleanup(id)
	// Output to a file, not a pipe: a detached container inherits it.
	runLink := func(args ...string) (string, error) {
		f, err := os.CreateTemp(t.TempDir(), "out")
		must(t, err)
		defer f.Close()
		cmd := exec.Command(link, append([]string{"--root", e.root}, args...)...)
		cmd.Stdout, cmd.Stderr = f, f
		err = cmd.Run()
		out, _ := os.ReadFile(f.Name())
		return string(out), err
	}
	run := func(args ...string) string {
		out, err := runLink(args...)
		if err != nil {
			t.Fatalf("tirith-runc %v: %v\n%s", args, err, out)
		}
		return out
	}
	run("run", "--detach", "--bundle", b, id)
	if out := run("list", "-q"); out != id+"\n" {
		t.Fatalf("tirith-runc list -q: %q", out)
	}
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("container run through tirith-runc: %s", st.Status)
	}
	var st specs.State
	must(t, json.Unmarshal([]byte(run("state", id)), &st))
	if st.ID != id || st.Status != specs.StateRunning {
		t.Fatalf("tirith-runc state: %+v", st)
	}
	run("delete", "--force", id)
	e.assertGone(id, b)
	// Errors carry the name it was invoked by.
	out, err := runLink("state", "nope")
	if err == nil || !strings.HasPrefix(out, "tirith-runc: ") {
		t.Fatalf("tirith-runc state nope: %v %q", err, out)
	}
}

func TestCLIFeatures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var f features.Features
	out := e.ok("features")
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("features is not JSON: %v\n%s", err, out)
	}
	if f.OCIVersionMax != "1.3.0" || f.OCIVersionMin == "" {
		t.Errorf("ociVersionMin %q, ociVersionMax %q", f.OCIVersionMin, f.OCIVersionMax)
	}
	if f.Linux == nil {
		t.Fatalf("features without linux: %s", out)
	}
	have := map[string]bool{}
	for _, n := range f.Linux.Namespaces {
		have[n] = true
	}
	for _, n := range []string{"pid", "network", "ipc", "uts", "mount", "user", "cgroup", "time"} {
		if !have[n] {
			t.Errorf("features: namespace %q missing from %v", n, f.Linux.Namespaces)
		}
	}
	if len(f.Hooks) != 6 {
		t.Errorf("features: hooks %v", f.Hooks)
	}
}

// spec writes a config.json that run accepts, and never overwrites one.
func TestCLISpec(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil) // for its rootfs
	must(t, os.Remove(filepath.Join(b, "config.json")))
	if r := e.runcIn(b, nil, "spec"); r.code != 0 {
		t.Fatalf("spec: exit %d: %s", r.code, r.stderr)
	}
	path := filepath.Join(b, "config.json")
	data, err := os.ReadFile(path)
	must(t, err)
	var s specs.Spec
	must(t, json.Unmarshal(data, &s))
	if s.Version != specs.Version || s.Root == nil || s.Root.Path != "rootfs" || s.Process == nil {
		t.Fatalf("spec wrote %+v", s)
	}
	// What the front end enforces: a user namespace of its own with the
	// rootfs idmapped, setgroups allowed, memory without swap, pids.
	if !hasUserNS(&s) || len(s.Linux.UIDMappings) != 1 || s.Linux.UIDMappings[0].HostID == 0 {
		t.Errorf("spec: namespaces %v uid maps %v, want a user namespace mapping root elsewhere", s.Linux.Namespaces, s.Linux.UIDMappings)
	}
	if s.Annotations["io.github.tirith.rootfs-idmap"] != "true" || s.Annotations["io.github.tirith.setgroups"] != "" {
		t.Errorf("spec annotations %v: want the rootfs idmapped and setgroups allowed", s.Annotations)
	}
	if r := s.Linux.Resources; r.Memory == nil || *r.Memory.Limit != 512<<20 || *r.Memory.Swap != 512<<20 || r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit != 1024 {
		t.Errorf("spec resources %+v, want memory 512 MiB = memory+swap, pids 1024", r)
	}
	// Refuses to overwrite, in the cwd or with --bundle.
	if r := e.runcIn(b, nil, "spec"); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second spec: exit %d, %q", r.code, r.stderr)
	}
	if msg := e.fails("spec", "--bundle", b); !strings.Contains(msg, "exists") {
		t.Errorf("spec --bundle over an existing config: %q", msg)
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Fatalf("refused spec changed config.json")
	}
	// As written, with only a terminal turned off, run accepts it: the
	// rootfs (owned by host root) shows as root's inside, and container
	// root is the mapped range on the host.
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "stat -c %u /bin/busybox; cat /proc/self/uid_map"}
	writeSpec(t, b, &s)
	id := e.id()
	e.cleanup(id)
	r := e.runcIn(b, nil, "run", id)
	if r.code != 0 {
		t.Fatalf("run of spec's config: exit %d: %s", r.code, r.stderr)
	}
	if f := strings.Fields(r.stdout); len(f) != 4 || f[0] != "0" || f[1] != "0" || f[2] == "0" {
		t.Fatalf("spec's container: busybox owner, uid_map = %q; want 0 and a map of 0 to a non-root host uid", r.stdout)
	}
	e.assertGone(id, b)

	// --userns host: container root is host root, so it keeps only
	// runc's three capabilities and cannot chown (runc spec's rule).
	h := e.bundle(nil)
	must(t, os.Remove(filepath.Join(h, "config.json")))
	e.ok("spec", "--userns", "host", "--bundle", h)
	var hs specs.Spec
	data, err = os.ReadFile(filepath.Join(h, "config.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &hs))
	if hasUserNS(&hs) || !slices.Equal(hs.Process.Capabilities.Bounding, []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}) {
		t.Fatalf("spec --userns host: namespaces %v, bounding %v", hs.Linux.Namespaces, hs.Process.Capabilities.Bounding)
	}
	hs.Process.Terminal = false
	hs.Process.Args = []string{"sh", "-c", "touch /tmp/f && chown 1234 /tmp/f; echo rc=$?"}
	writeSpec(t, h, &hs)
	hid := e.id()
	e.cleanup(hid)
	if out := e.ok("run", "--bundle", h, hid); !strings.Contains(out, "rc=1") {
		t.Fatalf("chown as root of a --userns host spec: %q, want it refused", out)
	}
	e.assertGone(hid, h)

	// --rootless: a user namespace with mappings.
	d := t.TempDir()
	e.ok("spec", "--rootless", "--bundle", d)
	data, err = os.ReadFile(filepath.Join(d, "config.json"))
	must(t, err)
	var rs specs.Spec
	must(t, json.Unmarshal(data, &rs))
	if rs.Annotations["io.github.tirith.setgroups"] != "deny" {
		t.Errorf("spec --rootless: setgroups not denied (the kernel requires it of an unprivileged map writer)")
	}
	if !hasUserNS(&rs) || len(rs.Linux.UIDMappings) == 0 || len(rs.Linux.GIDMappings) == 0 {
		t.Fatalf("spec --rootless: namespaces %v uid %v gid %v", rs.Linux.Namespaces, rs.Linux.UIDMappings, rs.Linux.GIDMappings)
	}
	for _, m := range rs.Linux.UIDMappings {
		if m.ContainerID == 0 && m.HostID == 0 {
			t.Errorf("spec --rootless maps container root to host root: %+v", m)
		}
	}
}

func hasUserNS(s *specs.Spec) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.UserNamespace {
			return true
		}
	}
	return false
}

// --log FILE --log-format json: a failing command writes runc's JSON log
// line, which containerd's shim reads for the error.
func TestCLILogJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := filepath.Join(t.TempDir(), "log.json")
	id := e.id()
	msg := e.fails("--log", log, "--log-format", "json", "state", id)
	if !strings.Contains(msg, "does not exist") {
		t.Errorf("stderr %q", msg)
	}
	f, err := os.Open(log)
	must(t, err)
	defer f.Close()
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if line["level"] == "error" && strings.Contains(line["msg"].(string), id) && strings.Contains(line["msg"].(string), "does not exist") {
			found = true
		}
		if _, ok := line["time"]; !ok {
			t.Errorf("log line without time: %q", sc.Text())
		}
	}
	if !found {
		data, _ := os.ReadFile(log)
		t.Fatalf("no error line naming the failure in the log:\n%s", data)
	}
	// A bad create is logged too, with the field named.
	b := e.bundle(func(s *specs.Spec) { s.Process.Cwd = "relative" }, "true")
	e.fails("--log", log, "--log-format", "json", "create", "--bundle", b, e.id())
	data, _ := os.ReadFile(log)
	if !strings.Contains(string(data), `"level":"error"`) || !strings.Contains(string(data), "process.cwd") {
		t.Fatalf("create failure not logged:\n%s", data)
	}
	if msg := e.fails("--log-format", "yaml", "list"); !strings.Contains(msg, "log-format") {
		t.Errorf("bad --log-format: %q", msg)
	}
}

func TestCLIKillAndList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	ids := []string{e.id(), e.id()}
	for _, id := range ids {
		e.cleanup(id)
		e.ok("run", "--detach", "--bundle", b, id)
	}
	for _, sig := range []string{"SIGFOO", "FOO", "0", "65"} {
		if msg := e.fails("kill", ids[0], sig); !strings.Contains(msg, "signal") {
			t.Errorf("kill with signal %q: %q", sig, msg)
		}
	}
	if st := e.state(ids[0]); st.Status != specs.StateRunning {
		t.Fatalf("a refused kill changed the container: %s", st.Status)
	}
	if out := e.ok("list", "-q"); out != ids[0]+"\n"+ids[1]+"\n" && out != ids[1]+"\n"+ids[0]+"\n" {
		t.Fatalf("list -q: %q", out)
	}
	e.ok("kill", ids[0], "SIGKILL")
	waitFor(t, "container to stop", func() bool { return e.state(ids[0]).Status == specs.StateStopped })
	if msg := e.fails("kill", ids[0], "KILL"); !strings.Contains(msg, "not running") {
		t.Errorf("kill of a stopped container: %q", msg)
	}
	var list []map[string]any
	must(t, json.Unmarshal([]byte(e.ok("list", "--format", "json")), &list))
	status := map[string]string{}
	for _, l := range list {
		status[l["id"].(string)] = l["status"].(string)
	}
	if status[ids[0]] != "stopped" || status[ids[1]] != "running" {
		t.Fatalf("list json: %v", list)
	}
	for _, id := range ids {
		e.ok("delete", "--force", id)
		e.assertGone(id, b)
	}
	if out := e.ok("list", "-q"); out != "" {
		t.Fatalf("list -q after delete: %q", out)
	}
	if out := e.ok("list", "--format", "json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty list json: %q", out)
	}
}

// create --pid-file, run --detach, and the state JSON's fields.
func TestCLIStateFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Annotations["org.tirith.a"] = "b" }, "sleep", "1000")
	id := e.id()
	e.cleanup(id)
	before := time.Now().Add(-time.Second)
	pidFile := filepath.Join(t.TempDir(), "sub", "..", "init.pid")
	must(t, os.MkdirAll(filepath.Join(filepath.Dir(pidFile), "sub"), 0o755))
	e.ok("run", "--detach", "--pid-file", pidFile, "--bundle", b, id)
	var st map[string]any
	must(t, json.Unmarshal([]byte(e.ok("state", id)), &st))
	for _, k := range []string{"ociVersion", "id", "status", "pid", "bundle", "rootfs", "created", "annotations"} {
		if _, ok := st[k]; !ok {
			t.Errorf("state lacks %q: %v", k, st)
		}
	}
	if st["ociVersion"] != specs.Version || st["id"] != id || st["status"] != "running" || st["bundle"] != b || st["rootfs"] != filepath.Join(b, "rootfs") {
		t.Errorf("state %v", st)
	}
	pid := int(st["pid"].(float64))
	data, err := os.ReadFile(pidFile)
	must(t, err)
	if strings.TrimSpace(string(data)) != strconv.Itoa(pid) || pid <= 0 {
		t.Errorf("pid file %q, state pid %d", data, pid)
	}
	// start returns once the init was told to go (as runc's does), not
	// once it has executed the payload: give it that moment.
	var cmdline []byte
	waitFor(t, "the state's pid to run the payload", func() bool {
		cmdline, _ = os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		return string(cmdline) == "sleep\x001000\x00"
	})
	created, err := time.Parse(time.RFC3339Nano, st["created"].(string))
	if err != nil || created.Before(before) || created.After(time.Now()) {
		t.Errorf("created %v (%v)", st["created"], err)
	}
	if a, _ := st["annotations"].(map[string]any); a["org.tirith.a"] != "b" {
		t.Errorf("annotations %v", st["annotations"])
	}
	e.ok("kill", id, "KILL")
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	must(t, json.Unmarshal([]byte(e.ok("state", id)), &st))
	if st["status"] != "stopped" {
		t.Errorf("state after kill: %v", st)
	}
	e.ok("delete", id)
	e.assertGone(id, b)
}

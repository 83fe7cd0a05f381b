package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/testutil"
)

// containerd (Debian's 1.6) with its CRI plugin, driven by crictl as the
// kubelet drives it: a "tirith" runtime handler (io.containerd.runc.v2,
// BinaryName = tirith-runc) and a "runc" one, the same pod and container
// through each. containerd runs on private paths: root, state, socket,
// the shim's runc root and the pods' cgroup parent are the test's own.
func TestClientContainerdCRI(t *testing.T) {
	testutil.RequireRoot(t)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	for _, bin := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed (apt-get install containerd; .ci/run does)", bin)
		}
	}
	crictl, err := exec.LookPath("crictl")
	if err != nil {
		if _, err := os.Stat("/root/go/bin/crictl"); err != nil {
			t.Skip("crictl is not installed (go install sigs.k8s.io/cri-tools/cmd/crictl@v1.34.0; .ci/run does)")
		}
		crictl = "/root/go/bin/crictl"
	}
	rts := clientRuntimes(t)
	c := startContainerd(t, rts)
	c.ctrOK("-n", "k8s.io", "images", "import", "--snapshotter", "native",
		clientImageArchiveCmd(t, c.dir, "example.com/clients/pause:1", []string{"/bin/sleep", "infinity"}))
	c.ctrOK("-n", "k8s.io", "images", "import", "--snapshotter", "native", clientImageArchive(t, c.dir, "example.com/clients/busybox:1"))
	for name := range rts {
		t.Run(name, func(t *testing.T) { criScenario(t, c, crictl, name) })
	}
	for name, rt := range rts {
		t.Run("ctr-run-"+name, func(t *testing.T) { ctrRunScenario(t, c, name, rt) })
	}
}

type containerd struct {
	t         *testing.T
	dir, sock string
	cgroup    string // the pods' cgroup parent
}

func startContainerd(t *testing.T, rts map[string]string) *containerd {
	t.Helper()
	dir := clientDir(t, "tirith-ctrd-")
	c := &containerd{t: t, dir: dir, sock: filepath.Join(dir, "c.sock"), cgroup: fmt.Sprintf("/tirith-it-cri-%d", os.Getpid())}
	var handlers strings.Builder
	for name, bin := range rts {
		fmt.Fprintf(&handlers, `
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.%s.options]
        BinaryName = %q
        Root = %q
`, name, name, bin, filepath.Join(dir, "runc-root-"+name))
	}
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "example.com/clients/pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # The pause container asks for oom_score_adj -998; lowering it needs
  # CAP_SYS_RESOURCE, which this sandbox's root lacks (runc fails too).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "tirith"
%s`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.sock, c.sock+".ttrpc", filepath.Join(dir, "opt"),
		filepath.Join(dir, "cni-bin"), filepath.Join(dir, "cni-conf"), handlers.String())
	conf := filepath.Join(dir, "config.toml")
	must(t, os.WriteFile(conf, []byte(cfg), 0o600))
	// crictl wants a config file; this one names the same endpoints as
	// the flags (never /etc/crictl.yaml).
	must(t, os.WriteFile(filepath.Join(dir, "crictl.yaml"), []byte(fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n", c.sock, c.sock)), 0o600))
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	must(t, err)
	cmd := exec.Command("containerd", "--config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	t.Cleanup(func() {
		c.stopAll(cmd)
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("containerd log (last 4 kB):\n%s", tail(b, 4096))
			}
		}
		removeCgroupTree(t, c.cgroup)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r := runClient(t, 10*time.Second, "", nil, "ctr", "--address", c.sock, "version"); r.code == 0 {
			break
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			b, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd did not come up in 30s:\n%s", tail(b, 4096))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return c
}

// stopAll stops containerd and the shims it started (found by this
// test's socket path in their command line), by pid.
func (c *containerd) stopAll(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), c.sock) {
			continue
		}
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err == nil && pid != os.Getpid() {
			c.t.Logf("killing shim %d left by containerd: %q", pid, strings.ReplaceAll(string(b), "\x00", " "))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeCgroupTree removes the (empty) cgroups below parent in every
// hierarchy, deepest first.
func removeCgroupTree(t *testing.T, parent string) {
	mounts, _ := filepath.Glob("/sys/fs/cgroup/*")
	mounts = append(mounts, "/sys/fs/cgroup")
	for _, m := range mounts {
		root := filepath.Join(m, parent)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil {
				t.Errorf("cgroup left behind: %v", err)
			}
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (c *containerd) ctr(args ...string) cmdResult {
	c.t.Helper()
	return runClient(c.t, 2*time.Minute, "", nil, append([]string{"ctr", "--address", c.sock}, args...)...)
}

func (c *containerd) ctrOK(args ...string) string {
	c.t.Helper()
	r := c.ctr(args...)
	if r.code != 0 {
		c.t.Fatalf("ctr %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func criScenario(t *testing.T, c *containerd, crictl, handler string) {
	dir := t.TempDir()
	cri := func(args ...string) cmdResult {
		t.Helper()
		return runClient(t, 2*time.Minute, "", nil, append([]string{crictl, "--runtime-endpoint", "unix://" + c.sock,
			"--image-endpoint", "unix://" + c.sock, "--config", filepath.Join(c.dir, "crictl.yaml"), "--timeout", "60s"}, args...)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		r := cri(args...)
		if r.code != 0 {
			t.Fatalf("crictl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	writeJSON := func(name string, v any) string {
		b, err := json.Marshal(v)
		must(t, err)
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, b, 0o600))
		return p
	}
	// A host-network pod (namespace mode NODE = 2): no CNI needed. Its
	// containers share the pod's pid namespace (POD = 0), as with
	// shareProcessNamespace: the shim then sends kill --all to each
	// container that exits, to reap what it left.
	pod := writeJSON("pod.json", map[string]any{
		"metadata":      map[string]any{"name": "pod-" + handler, "namespace": "default", "uid": "uid-" + handler, "attempt": 1},
		"log_directory": filepath.Join(dir, "logs"),
		"linux": map[string]any{
			"cgroup_parent":    c.cgroup + "/" + handler,
			"security_context": map[string]any{"namespace_options": map[string]any{"network": 2, "pid": 0}},
		},
	})
	ctrConf := func(name string, cmd ...string) string {
		return writeJSON(name+".json", map[string]any{
			"metadata": map[string]any{"name": name},
			"image":    map[string]any{"image": "example.com/clients/busybox:1"},
			"command":  cmd,
			"log_path": name + ".log",
			"linux":    map[string]any{},
		})
	}
	podID := ok("runp", "--runtime", handler, pod)
	t.Cleanup(func() {
		_ = cri("stopp", podID)
		_ = cri("rmp", "-f", podID)
	})
	if st := ok("inspectp", "-o", "go-template", "--template", "{{.status.state}}", podID); st != "SANDBOX_READY" {
		t.Errorf("pod state %q, want SANDBOX_READY", st)
	}

	var ids []string // this handler's containers
	create := func(conf string) string {
		t.Helper()
		id := ok("create", podID, conf, pod)
		ids = append(ids, id)
		return id
	}
	cid := create(ctrConf("c1", "sh", "-c", `echo started; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done`))
	ok("start", cid)
	if out := ok("exec", cid, "sh", "-c", "echo exec $((6*7)) $(id -u)"); out != "exec 42 0" {
		t.Errorf("exec: %q, want \"exec 42 0\"", out)
	}
	// crictl exits 1 and names the code (the same with runc).
	if r := cri("exec", cid, "sh", "-c", "exit 5"); r.code != 1 || !strings.Contains(r.stderr, "command terminated with exit code 5") {
		t.Errorf("exec of exit 5: exit %d, stderr %q; want 1 and \"command terminated with exit code 5\"", r.code, r.stderr)
	}
	waitFor(t, "the log to hold the first line", func() bool { return strings.Contains(ok("logs", cid), "started") })
	// The stop that used to fail: SIGTERM, the container exits, then the
	// shim's kill gets "container not running" and counts it as exited.
	start := time.Now()
	ok("stop", "--timeout", "20", cid)
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("stop took %s: SIGTERM did not stop the container", d)
	}
	if st := ok("inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", cid); st != "CONTAINER_EXITED 0" {
		t.Errorf("after stop: %q, want \"CONTAINER_EXITED 0\"", st)
	}
	if out := ok("logs", cid); !strings.Contains(out, "bye") {
		t.Errorf("logs after stop: %q, want the trap's \"bye\"", out)
	}
	ok("rm", cid)

	// A container that ignores SIGTERM: stop kills it after the timeout.
	cid = create(ctrConf("c2", "sh", "-c", `trap "" TERM; while :; do sleep 0.1; done`))
	ok("start", cid)
	ok("stop", "--timeout", "1", cid)
	if st := ok("inspect", "-o", "go-template", "--template", "{{.status.state}} {{.status.exitCode}}", cid); st != "CONTAINER_EXITED 137" {
		t.Errorf("after stop of a container ignoring SIGTERM: %q, want \"CONTAINER_EXITED 137\"", st)
	}
	ok("rm", cid)

	// Created, never started, removed: the runtime's delete without
	// --force must take it.
	cid = create(ctrConf("c3", "true"))
	ok("rm", cid)

	// A container that exits by itself, with its code.
	cid = create(ctrConf("c4", "sh", "-c", "exit 3"))
	ok("start", cid)
	waitFor(t, "the container to exit", func() bool {
		return ok("inspect", "-o", "go-template", "--template", "{{.status.state}}", cid) == "CONTAINER_EXITED"
	})
	if code := ok("inspect", "-o", "go-template", "--template", "{{.status.exitCode}}", cid); code != "3" {
		t.Errorf("exit code %s, want 3", code)
	}
	ok("rm", cid)

	// The shim logs a kill --all that the runtime refused (runc 1.2's
	// kill --all of a stopped container is no error, 1.1's neither while
	// its cgroup exists).
	if b, err := os.ReadFile(filepath.Join(c.dir, "containerd.log")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, "failed to kill init's children") {
				continue
			}
			for _, id := range ids {
				if strings.Contains(l, id) {
					t.Errorf("the shim's kill --all failed: %s", l)
				}
			}
		}
	}
	ok("stopp", podID)
	ok("rmp", podID)
	if out := ok("pods", "-q"); out != "" {
		t.Errorf("pods left after rmp: %q", out)
	}
}

// ctr run through the runc shim with --runc-binary (and the test's own
// --runc-root): output and exit code.
func ctrRunScenario(t *testing.T, c *containerd, name, rt string) {
	id := "ctr-run-" + name
	r := c.ctr("-n", "k8s.io", "run", "--rm", "--snapshotter", "native", "--runc-binary", rt,
		"--runc-root", filepath.Join(c.dir, "ctr-runc-root-"+name), "--cgroup", c.cgroup+"/ctr-"+name,
		"example.com/clients/busybox:1", id, "sh", "-c", "echo hi from $(id -u); exit 3")
	if r.code != 3 || strings.TrimSpace(r.stdout) != "hi from 0" {
		t.Errorf("ctr run: exit %d, stdout %q, stderr %q; want 3 and \"hi from 0\"", r.code, r.stdout, r.stderr)
	}
}

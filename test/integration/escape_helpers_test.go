package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/testutil"
)

// The escape suite's helpers: the attack binary (test/attack), the host
// side of the attacks (a marker process, an abstract socket, a 0600 root
// secret) and runners for Tirith and runc.

var (
	attackOnce sync.Once
	attackBin  string
	attackErr  error
)

// attackBinary builds test/attack once per test binary (static, so it
// runs in the busybox rootfs).
func attackBinary(t *testing.T) string {
	t.Helper()
	attackOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tirith-attack-bin-")
		if err != nil {
			attackErr = err
			return
		}
		atExit(func() { os.RemoveAll(dir) })
		attackBin = filepath.Join(dir, "attack")
		attackErr = build(attackBin, "./test/attack", []string{"CGO_ENABLED=0"})
	})
	if attackErr != nil {
		t.Fatal(attackErr)
	}
	return attackBin
}

// attackResult is one line of the attack's output.
type attackResult struct {
	ID      string `json:"id"`
	Blocked bool   `json:"blocked"`
	Detail  string `json:"detail"`
	Skipped bool   `json:"skipped"`
}

// attackReport is one run: results in the attack's order.
type attackReport struct {
	order []string
	byID  map[string]attackResult
}

func parseAttack(t *testing.T, out string) *attackReport {
	t.Helper()
	r := &attackReport{byID: map[string]attackResult{}}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var a attackResult
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("attack output line %q: %v", line, err)
		}
		r.order = append(r.order, a.ID)
		r.byID[a.ID] = a
	}
	if len(r.order) == 0 {
		t.Fatalf("attack printed no results:\n%s", out)
	}
	return r
}

// escapeHost is the host side of the attacks, shared by a test's runs.
type escapeHost struct {
	secret    string // host file, root 0600
	marker    string // argv[0] of the marker process
	markerPid int
	abstract  string // abstract socket name, without '@'
	hostname  string
	hostNS    string
	blockDev  string
}

// newEscapeHost starts a marker process and an abstract socket on the
// host, and writes a host root 0600 secret; all go away with the test.
func newEscapeHost(t *testing.T) *escapeHost {
	t.Helper()
	h := &escapeHost{
		marker:   fmt.Sprintf("tirith-escape-marker-%d", os.Getpid()),
		abstract: fmt.Sprintf("tirith-escape-%d", os.Getpid()),
		blockDev: "8:0",
	}
	dir := t.TempDir()
	testutil.OpenToAll(t, dir) // the runtime stats it from inside a user namespace
	h.secret = filepath.Join(dir, "secret")
	must(t, os.WriteFile(h.secret, []byte("tirith-host-secret\n"), 0o600))

	sleep, err := exec.LookPath("sleep")
	must(t, err)
	marker := &exec.Cmd{Path: sleep, Args: []string{h.marker, "300"}}
	must(t, marker.Start())
	h.markerPid = marker.Process.Pid
	t.Cleanup(func() { _ = marker.Process.Kill(); _ = marker.Wait() })

	ln, err := net.Listen("unix", "@"+h.abstract)
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("tirith-host-abstract\n"))
			c.Close()
		}
	}()

	h.hostname, _ = os.Hostname()
	var ns []string
	for _, k := range []string{"net", "uts", "pid", "mnt", "cgroup", "ipc"} {
		var st syscall.Stat_t
		if syscall.Stat("/proc/self/ns/"+k, &st) == nil {
			ns = append(ns, fmt.Sprintf("%s=%d", k, st.Ino))
		}
	}
	h.hostNS = strings.Join(ns, ",")
	h.blockDev = hostBlockDev()
	return h
}

// attackOpts says how a bundle for the attack is set up.
type attackOpts struct {
	userns bool     // the container runs in a user namespace (0 -> 100000)
	secret bool     // bind-mount the host secret at /hostsecret
	flags  []string // extra `tirith run` flags
}

// args is the attack's command line in the container.
func (h *escapeHost) args(o attackOpts) []string {
	a := []string{"/bin/attack", "-suid", "/bin/attack-suid", "-marker", h.marker,
		"-marker-pid", strconv.Itoa(h.markerPid), "-abstract", h.abstract,
		"-hostns", h.hostNS, "-blockdev", h.blockDev}
	if o.secret {
		a = append(a, "-secret", "/hostsecret")
	}
	return a
}

// prepareRootfs adds the attack, a setuid-root copy of it, and the
// secret's mount point to a bundle's rootfs.
func (h *escapeHost) prepareRootfs(t *testing.T, bundle string, o attackOpts) {
	t.Helper()
	bin := attackBinary(t)
	rootfs := filepath.Join(bundle, "rootfs")
	copyFile(t, bin, filepath.Join(rootfs, "bin", "attack"))
	suid := filepath.Join(rootfs, "bin", "attack-suid")
	copyFile(t, bin, suid)
	owner := 0
	if o.userns {
		owner = 100000 // container root
	}
	must(t, os.Chown(suid, owner, owner))
	must(t, os.Chmod(suid, 0o755|os.ModeSetuid))
	must(t, os.WriteFile(filepath.Join(rootfs, "hostsecret"), nil, 0o644))
}

func (h *escapeHost) secretMount() specs.Mount {
	return specs.Mount{Destination: "/hostsecret", Type: "bind", Source: h.secret, Options: []string{"bind", "ro"}}
}

// runTirith runs the attack under Tirith with the default spec, then
// mutate.
func (h *escapeHost) runTirith(t *testing.T, e *env, o attackOpts, mutate func(*specs.Spec)) *attackReport {
	t.Helper()
	b := e.bundle(func(s *specs.Spec) {
		if o.userns {
			userNS(s)
		}
		if o.secret {
			s.Mounts = append(s.Mounts, h.secretMount())
		}
		if mutate != nil {
			mutate(s)
		}
	}, h.args(o)...)
	h.prepareRootfs(t, b, o)
	args := append(append([]string{"run"}, o.flags...), "--bundle", b, e.id())
	return parseAttack(t, e.ok(args...))
}

// runRunc runs the attack under runc with `runc spec`'s default config
// (no seccomp there; runc's masks, read-only paths and capabilities).
func (h *escapeHost) runRunc(t *testing.T, e *env, runc string) (*attackReport, error) {
	t.Helper()
	o := attackOpts{secret: true}
	b := e.bundle(nil)
	must(t, os.Remove(filepath.Join(b, "config.json")))
	if out, err := exec.Command(runc, "spec", "--bundle", b).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(b, "config.json"))
	must(t, err)
	var s specs.Spec
	must(t, json.Unmarshal(data, &s))
	s.Process.Terminal = false
	s.Process.Args = h.args(o)
	s.Mounts = append(s.Mounts, h.secretMount())
	writeSpec(t, b, &s)
	h.prepareRootfs(t, b, o)
	root := t.TempDir()
	id := e.id()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, runc, "--root", root, "run", "--bundle", b, id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	_ = exec.Command(runc, "--root", root, "delete", "--force", id).Run()
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("runc run: %v: %s", err, stderr.String())
	}
	return parseAttack(t, string(out)), nil
}

// ---- config.json relaxations (one wall at a time) ----

// escAllCaps is every capability this host's bounding set holds.
func escAllCaps() []string {
	var mask uint64
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
				mask, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			}
		}
	}
	var names []string
	for _, c := range capability.ListKnown() {
		if mask&(1<<uint(c)) != 0 {
			names = append(names, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	sort.Strings(names)
	return names
}

func escSetCaps(s *specs.Spec, caps []string) {
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
}

func escNoLandlock(s *specs.Spec) { delete(s.Annotations, landlock.Annotation) }

func escDropOpt(s *specs.Spec, dest, opt string) {
	for i := range s.Mounts {
		if s.Mounts[i].Destination != dest {
			continue
		}
		var keep []string
		for _, o := range s.Mounts[i].Options {
			if o != opt {
				keep = append(keep, o)
			}
		}
		s.Mounts[i].Options = keep
	}
}

// escPrivileged turns every wall off that config.json controls (as
// `--privileged` would), keeping the mount and network namespaces.
func escPrivileged(s *specs.Spec) {
	escSetCaps(s, escAllCaps())
	s.Process.NoNewPrivileges = false
	s.Linux.Seccomp = nil
	s.Linux.MaskedPaths = nil
	s.Linux.ReadonlyPaths = nil
	s.Root.Readonly = false
	escNoLandlock(s)
	for _, ns := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.UTSNamespace} {
		withoutNS(s, ns)
	}
	s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
	s.Hostname = ""
	s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
	escDropOpt(s, "/sys", "ro")
	escDropOpt(s, "/sys/fs/cgroup", "ro")
}

// hostBlockDev is a block device host root can open (major:minor), so that
// opening it in the container fails only because of a wall: the disks of
// /proc/partitions first, then any block node in /dev.
func hostBlockDev() string {
	var cands []string
	if b, err := os.ReadFile("/proc/partitions"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) == 4 {
				if _, err := strconv.Atoi(f[0]); err == nil {
					cands = append(cands, "/dev/"+f[3])
				}
			}
		}
	}
	ents, _ := os.ReadDir("/dev")
	for _, e := range ents {
		if e.Type()&os.ModeDevice != 0 && e.Type()&os.ModeCharDevice == 0 {
			cands = append(cands, "/dev/"+e.Name())
		}
	}
	for _, c := range cands {
		var st syscall.Stat_t
		if syscall.Stat(c, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFBLK {
			continue
		}
		f, err := os.Open(c)
		if err != nil {
			continue
		}
		f.Close()
		return fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return "8:0"
}

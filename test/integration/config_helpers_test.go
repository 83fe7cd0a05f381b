package integration

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
)

// Helpers for the config.json feature tests (namespaces, mounts, process,
// security): run a shell script in a container and look at what it saw.

// cfgSh runs script with busybox sh in a container built from e.bundle and
// mutate, in the foreground, and returns its stdout. The test fails unless
// the container exits 0.
func (e *env) cfgSh(mutate func(*specs.Spec), script string) string {
	e.t.Helper()
	b := e.bundle(mutate, "sh", "-c", script)
	id := e.id()
	e.cleanup(id)
	out := e.ok("run", "--bundle", b, id)
	e.assertGone(id, b)
	return out
}

// cfgShResult is cfgSh without the exit-code check.
func (e *env) cfgShResult(mutate func(*specs.Spec), script string) result {
	e.t.Helper()
	b := e.bundle(mutate, "sh", "-c", script)
	id := e.id()
	e.cleanup(id)
	r := e.runc("run", "--bundle", b, id)
	e.assertGone(id, b)
	return r
}

// cfgCreateFails runs `create` on a bundle made with mutate, expects it to
// fail with every one of want in stderr, and checks that nothing is left.
func (e *env) cfgCreateFails(mutate func(*specs.Spec), want ...string) string {
	e.t.Helper()
	b := e.bundle(mutate, "true")
	id := e.id()
	e.cleanup(id)
	msg := e.fails("create", "--bundle", b, id)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			e.t.Errorf("create error %q does not mention %q", msg, w)
		}
	}
	e.assertGone(id, b)
	return msg
}

// rootfs is a bundle's rootfs directory.
func cfgRootfs(bundle string) string { return filepath.Join(bundle, "rootfs") }

// lines splits output into trimmed non-empty lines.
func cfgLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// kv parses "key=value" lines (the scripts print what they saw that way).
func cfgKV(t *testing.T, out string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range cfgLines(out) {
		k, v, ok := strings.Cut(l, "=")
		if ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// statusField returns a field of a /proc/PID/status text.
func cfgStatusField(status, key string) string {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// capsOfMask decodes a capability mask from /proc/PID/status into sorted
// CAP_ names.
func cfgCaps(t *testing.T, hex string) []string {
	t.Helper()
	mask, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		t.Fatalf("capability mask %q: %v", hex, err)
	}
	names := []string{}
	for _, c := range capability.ListKnown() {
		if mask&(1<<uint(c)) != 0 {
			names = append(names, "CAP_"+strings.ToUpper(c.String()))
		}
	}
	sort.Strings(names)
	return names
}

func cfgSorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func cfgUnion(a, b []string) []string {
	m := map[string]bool{}
	for _, x := range append(append([]string{}, a...), b...) {
		m[x] = true
	}
	out := []string{}
	for x := range m {
		out = append(out, x)
	}
	sort.Strings(out)
	return out
}

func cfgSameSet(a, b []string) bool {
	return strings.Join(cfgSorted(a), ",") == strings.Join(cfgSorted(b), ",")
}

// hostNS is the host's (this test process's) namespace link, e.g. "net:[4026531840]".
func cfgHostNS(t *testing.T, typ string) string {
	t.Helper()
	l, err := os.Readlink("/proc/self/ns/" + typ)
	if err != nil {
		t.Fatalf("host namespace %s: %v", typ, err)
	}
	return l
}

// hostMountinfo is the test process's mount table.
func cfgHostMountinfo(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	must(t, err)
	return string(b)
}

// mountLine finds the mountinfo line whose mount point is dest (the last
// one: the top of a stack of mounts).
func cfgMountLine(mountinfo, dest string) string {
	found := ""
	for _, l := range cfgLines(mountinfo) {
		f := strings.Fields(l)
		if len(f) > 4 && f[4] == dest {
			found = l
		}
	}
	return found
}

// mountOpts returns the per-mount options (field 6) and the super-block
// options (after the " - fstype source " part) of a mountinfo line.
func cfgMountOpts(line string) (mnt, super []string) {
	f := strings.Fields(line)
	if len(f) < 6 {
		return nil, nil
	}
	mnt = strings.Split(f[5], ",")
	for i, x := range f {
		if x == "-" && i+3 < len(f) {
			super = strings.Split(f[i+3], ",")
		}
	}
	return mnt, super
}

func cfgContains(list []string, x string) bool {
	for _, y := range list {
		if y == x {
			return true
		}
	}
	return false
}

// hostCmd starts a host command in the background and returns it; it is
// killed at the end of the test.
func cfgHostCmd(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func cfgPtr[T any](v T) *T { return &v }

// cfgRun runs an existing bundle in the foreground and returns its result;
// the container is gone afterwards either way.
func (e *env) cfgRun(bundle string, extra ...string) result {
	e.t.Helper()
	id := e.id()
	e.cleanup(id)
	r := e.runc(append(append([]string{"run"}, extra...), "--bundle", bundle, id)...)
	e.assertGone(id, bundle)
	return r
}

// cfgRunOK is cfgRun that fails the test unless the container exits 0.
func (e *env) cfgRunOK(bundle string, extra ...string) string {
	e.t.Helper()
	r := e.cfgRun(bundle, extra...)
	if r.code != 0 {
		e.t.Fatalf("run: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// cfgRewrite loads a bundle's config.json, lets edit change it and writes it back.
func cfgRewrite(t *testing.T, bundle string, edit func(*specs.Spec)) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	must(t, err)
	var s specs.Spec
	must(t, json.Unmarshal(data, &s))
	edit(&s)
	writeSpec(t, bundle, &s)
}

// cfgUserNS gives a spec a new user namespace mapping container ids
// 0..65535 to host ids 100000..165535.
func cfgUserNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

// cfgSetNS replaces (or adds) a namespace entry.
func cfgSetNS(s *specs.Spec, typ specs.LinuxNamespaceType, path string) {
	for i, n := range s.Linux.Namespaces {
		if n.Type == typ {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
}

// cfgDropNS removes a namespace entry.
func cfgDropNS(s *specs.Spec, typ specs.LinuxNamespaceType) {
	var out []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != typ {
			out = append(out, n)
		}
	}
	s.Linux.Namespaces = out
}

// cfgChownTree gives every file under dir to uid:gid (symlinks themselves).
func cfgChownTree(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	must(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	}))
}

// cfgNoLandlock drops the default spec's Landlock annotation (wall 4), for
// tests of what the mounts alone allow (writes outside /tmp, /run, /dev).
func cfgNoLandlock(s *specs.Spec) {
	delete(s.Annotations, landlock.Annotation)
}

func cfgFileMode(m uint32) os.FileMode { return os.FileMode(m) }

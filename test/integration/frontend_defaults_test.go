package integration

import (
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Wall 1 without breaking privilege dropping: the front end writes the
// gid map as root, so setgroups stays allowed (su, setpriv
// --init-groups, nginx's workers need it); --security-opt setgroups=deny
// denies it, and then nobody in the container can change its groups.
func TestFrontendSetgroups(t *testing.T) {
	f := newFE(t)
	if got := strings.TrimSpace(f.runOut(nil, "cat", "/proc/self/setgroups")); got != "allow" {
		t.Fatalf("default /proc/self/setgroups = %q, want allow", got)
	}
	if got := strings.TrimSpace(f.runOut([]string{"--security-opt", "setgroups=deny"}, "cat", "/proc/self/setgroups")); got != "deny" {
		t.Fatalf("with setgroups=deny: /proc/self/setgroups = %q, want deny", got)
	}
	r := f.fe("run", "--rm", "--userns=host", "--security-opt", "setgroups=deny", f.image, "true")
	if r.code == 0 || !strings.Contains(r.stderr, "setgroups=deny: needs a user namespace") {
		t.Fatalf("setgroups=deny with --userns=host: exit %d, %q", r.code, r.stderr)
	}
}

// Wall 5 for people: under --network none lo is up, as in
// Docker and podman, and localhost and the hostname resolve from a
// read-only /etc/hosts. With --network host the hosts file is a copy of
// the host's.
func TestFrontendLoopbackAndHosts(t *testing.T) {
	f := newFE(t)
	out := f.runOut([]string{"--network", "none", "--hostname", "app1"}, "sh", "-c",
		"cat /sys/class/net/lo/flags; cat /etc/hostname; cat /etc/hosts; (echo x >> /etc/hosts && echo WROTE) 2>/dev/null; true")
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || lines[0] != "0x9" { // IFF_UP|IFF_LOOPBACK
		t.Fatalf("lo flags %q, want 0x9 (up):\n%s", lines[0], out)
	}
	if lines[1] != "app1" {
		t.Fatalf("/etc/hostname %q, want app1", lines[1])
	}
	if !strings.Contains(out, "127.0.0.1\tlocalhost") || !strings.Contains(out, "127.0.1.1\tapp1") {
		t.Fatalf("/etc/hosts lacks localhost or the hostname:\n%s", out)
	}
	if strings.Contains(out, "WROTE") {
		t.Fatalf("/etc/hosts is writable in the container")
	}
	host, err := os.ReadFile("/etc/hosts")
	must(t, err)
	if got := f.runOut([]string{"--network", "host"}, "cat", "/etc/hosts"); got != string(host) {
		t.Fatalf("--network host: /etc/hosts is %q, want the host's %q", got, host)
	}
}

// The OCI runtime keeps runc's behaviour: lo stays down unless the spec's
// annotation asks; the annotation needs a network namespace.
func TestLoopbackAnnotation(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, value, want string
	}{{"runc behaviour", "", "0x8"}, {"up", "up", "0x9"}} {
		b := e.bundle(func(s *specs.Spec) {
			if tc.value != "" {
				s.Annotations["io.github.tirith.loopback"] = tc.value
			}
		}, "cat", "/sys/class/net/lo/flags")
		if got := strings.TrimSpace(e.ok("run", "--bundle", b, e.id())); got != tc.want {
			t.Errorf("%s: lo flags %q, want %q", tc.name, got, tc.want)
		}
	}
	b := e.bundle(func(s *specs.Spec) {
		s.Annotations["io.github.tirith.loopback"] = "up"
		withoutNS(s, specs.NetworkNamespace)
	}, "true")
	id := e.id()
	if msg := e.fails("run", "--bundle", b, id); !strings.Contains(msg, `annotations["io.github.tirith.loopback"]: needs a network namespace`) {
		t.Fatalf("loopback annotation without a network namespace: %q", msg)
	}
	e.assertGone(id, b)
}

// tirith run pulls a missing image (--pull missing, Docker's and podman's
// default), --pull always pulls again, --pull never uses only the store.
func TestFrontendRunPull(t *testing.T) {
	e := newEnv(t)
	reg := testRegistry(t)
	ref := reg + "/it/pulled:1"
	push(t, ref, testImage(t))
	dir, err := os.MkdirTemp("", "tirith-it-pull-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })

	r := e.storage(dir, "run", "--rm", "--pull", "never", ref)
	if r.code == 0 || !strings.Contains(r.stderr, "not found") {
		t.Fatalf("--pull never of a missing image: exit %d, %q", r.code, r.stderr)
	}
	r = e.storage(dir, "run", "--rm", ref)
	if r.code != 0 || r.stdout != "hello from the image\n" {
		t.Fatalf("run of a missing image: exit %d\nstdout %q\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "Unable to find image '"+ref+"' locally") || !strings.Contains(r.stderr, "Pulled "+ref) {
		t.Fatalf("pull progress should go to stderr:\n%s", r.stderr)
	}
	// Now in the store: missing pulls nothing, always pulls again.
	if r = e.storage(dir, "run", "--rm", ref); r.code != 0 || strings.Contains(r.stderr, "Pulled") {
		t.Fatalf("second run: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = e.storage(dir, "run", "--rm", "--pull", "always", ref); r.code != 0 || !strings.Contains(r.stderr, "Pulled "+ref) {
		t.Fatalf("--pull always: exit %d, stderr %q", r.code, r.stderr)
	}
	if r = e.storage(dir, "run", "--rm", "--pull", "sometimes", ref); r.code == 0 || !strings.Contains(r.stderr, `--pull "sometimes": want missing`) {
		t.Fatalf("--pull sometimes: exit %d, %q", r.code, r.stderr)
	}
	// A pull that fails names what failed and runs nothing.
	if r = e.storage(dir, "run", "--rm", reg+"/it/absent:1"); r.code == 0 || !strings.Contains(r.stderr, "--pull missing") {
		t.Fatalf("run of an image no registry has: exit %d, %q", r.code, r.stderr)
	}
}

// An exec the kernel refuses only once the container has started (here
// Landlock: /app is a writable --tmpfs, filled with the image's /app by
// tmpcopyup and mounted exec, so only wall 4 says no) exits 126, as a
// command that cannot be executed does in Docker, with the wall named.
func TestFrontendLateExecRefusedExits126(t *testing.T) {
	f := newFE(t)
	r := f.fe("run", "--rm", "--tmpfs", "/app:exec", f.image, "/app/busybox", "true")
	if r.code != 126 || !strings.Contains(r.stderr, "wall 4 (Landlock)") {
		t.Fatalf("exec refused by Landlock after start: exit %d, stderr %q; want 126 naming wall 4", r.code, r.stderr)
	}
	// The same program from the image itself runs.
	if r := f.fe("run", "--rm", f.image, "/app/busybox", "true"); r.code != 0 {
		t.Fatalf("/app/busybox from the image: exit %d, %q", r.code, r.stderr)
	}
}

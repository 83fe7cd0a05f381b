package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/probe"
)

// Each wall stops a real attack from inside the container; with that wall
// turned off in config.json the same attack gets through, so every test
// here can fail.

func withoutNS(s *specs.Spec, t specs.LinuxNamespaceType) {
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != t {
			ns = append(ns, n)
		}
	}
	s.Linux.Namespaces = ns
}

func userNS(s *specs.Spec) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
}

// Wall 1: container root in a user namespace is an unprivileged host uid:
// a host root file of mode 0600, even bind-mounted in, stays unreadable.
func TestWallIdentityHostSecretUnreadable(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	must(t, os.WriteFile(secret, []byte("host-secret"), 0o600))
	for _, tc := range []struct {
		name   string
		userns bool
		leaks  bool
	}{{"user namespace", true, false}, {"no user namespace", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/secret", Type: "bind", Source: secret, Options: []string{"bind", "ro"}})
				if tc.userns {
					userNS(s)
				}
			}, "sh", "-c", "cat /secret; true")
			// The mount point exists in the image, as it would in a real
			// one: container root cannot create files in a rootfs owned
			// by host root.
			must(t, os.WriteFile(filepath.Join(b, "rootfs", "secret"), nil, 0o644))
			out := e.ok("run", "--bundle", b, e.id())
			if got := strings.Contains(out, "host-secret"); got != tc.leaks {
				t.Fatalf("secret read=%v, want %v (output %q)", got, tc.leaks, out)
			}
		})
	}
}

// Wall 2: no_new_privs keeps a setuid-root binary from granting anything
// to an unprivileged user.
func TestWallPrivilegesSetuidGainsNothing(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		nnp   bool
		gains bool
	}{{"no_new_privs", true, false}, {"no_new_privs off", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				s.Process.NoNewPrivileges = tc.nnp
				s.Process.User = specs.User{UID: 1000, GID: 1000}
				s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", "CAP_SETUID"}}
			}, "/bin/probe-suid")
			suid := filepath.Join(b, "rootfs", "bin", "probe-suid")
			copyFile(t, probeBin, suid)
			must(t, os.Chown(suid, 0, 0))
			must(t, os.Chmod(suid, 0o755|os.ModeSetuid))
			out := e.ok("run", "--bundle", b, e.id())
			var r probe.Report
			must(t, json.Unmarshal([]byte(out), &r))
			if got := len(r.CapEff) > 0; got != tc.gains {
				t.Fatalf("setuid binary gave capabilities %v (gain=%v, want %v)", r.CapEff, got, tc.gains)
			}
		})
	}
}

// Wall 3: the default seccomp profile refuses user namespaces, the
// largest kernel attack surface a container can reach.
func TestWallSyscallsUserNamespaceRefused(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		seccomp bool
		allowed bool
	}{{"default seccomp", true, false}, {"no seccomp", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				if !tc.seccomp {
					s.Linux.Seccomp = nil
				}
			}, "sh", "-c", "busybox unshare -U true && echo USERNS-OK; true")
			out := e.ok("run", "--bundle", b, e.id())
			if got := strings.Contains(out, "USERNS-OK"); got != tc.allowed {
				t.Fatalf("unshare(CLONE_NEWUSER) allowed=%v, want %v (output %q)", got, tc.allowed, out)
			}
		})
	}
}

// Wall 5: a pid namespace hides the host's processes.
func TestWallNamespacesHostProcessesHidden(t *testing.T) {
	e := newEnv(t)
	marker := filepath.Join(t.TempDir(), "marker")
	for _, tc := range []struct {
		name    string
		pidNS   bool
		visible bool
	}{{"pid namespace", true, false}, {"no pid namespace", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				if !tc.pidNS {
					withoutNS(s, specs.PIDNamespace)
				}
			}, "sh", "-c", "ps -o pid,args")
			_ = marker
			out := e.ok("run", "--bundle", b, e.id())
			// The test binary itself runs on the host.
			self := filepath.Base(os.Args[0])
			if got := strings.Contains(out, self); got != tc.visible {
				t.Fatalf("host process %q visible=%v, want %v:\n%s", self, got, tc.visible, out)
			}
		})
	}
}

// Wall 7: masked /proc paths show nothing; a read-only root takes no
// writes.
func TestWallFilesystemMaskedAndReadonly(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		walls  bool
		leaked bool
	}{{"masked, read-only root", true, false}, {"unmasked, writable root", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				if !tc.walls {
					s.Linux.MaskedPaths = nil
					s.Root.Readonly = false
					delete(s.Annotations, "io.github.tirith.landlock")
				}
			}, "sh", "-c", "head -c 200 /proc/timer_list; echo; touch /planted && echo WROTE-ROOT; true")
			out := e.ok("run", "--bundle", b, e.id())
			leakedTimers := strings.Contains(out, "Timer List")
			wrote := strings.Contains(out, "WROTE-ROOT")
			if leakedTimers != tc.leaked || wrote != tc.leaked {
				t.Fatalf("timer_list leaked=%v, root written=%v; want both %v:\n%s", leakedTimers, wrote, tc.leaked, out)
			}
		})
	}
}

// Wall 1: with setgroups denied (tirith spec --rootless, the front end),
// no process in the container can change its supplementary groups.
func TestWallIdentitySetgroupsDenied(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		deny bool
		want string
	}{{"denied", true, "deny"}, {"allowed", false, "allow"}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				userNS(s)
				if tc.deny {
					s.Annotations["io.github.tirith.setgroups"] = "deny"
				}
			}, "cat", "/proc/self/setgroups")
			if out := strings.TrimSpace(e.ok("run", "--bundle", b, e.id())); out != tc.want {
				t.Fatalf("/proc/self/setgroups %q, want %q", out, tc.want)
			}
		})
	}
}

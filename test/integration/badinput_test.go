package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Every broken bundle is refused with an error naming what is wrong, and
// leaves no state dir, cgroup, mount or process behind.
func TestBadInputConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, b string)
		want  []string
	}{
		{"malformed JSON", func(t *testing.T, b string) {
			must(t, os.WriteFile(filepath.Join(b, "config.json"), []byte("{\n \"ociVersion\": \"1.0.0\",\n \"process\": {,\n}\n"), 0o644))
		}, []string{"line 3", "column"}},
		{"wrong type", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) { m["process"].(map[string]any)["args"] = "sh" })
		}, []string{"process.args"}},
		{"missing rootfs", func(t *testing.T, b string) {
			must(t, os.RemoveAll(filepath.Join(b, "rootfs")))
		}, []string{"root.path", "no such file"}},
		{"rootfs is a file", func(t *testing.T, b string) {
			must(t, os.RemoveAll(filepath.Join(b, "rootfs")))
			must(t, os.WriteFile(filepath.Join(b, "rootfs"), []byte("x"), 0o644))
		}, []string{"root.path", "not a directory"}},
		{"ociVersion 2.0.0", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) { m["ociVersion"] = "2.0.0" })
		}, []string{"ociVersion", "2.0.0"}},
		{"missing process", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) { delete(m, "process") })
		}, []string{"process", "required"}},
		{"unknown capability", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) {
				c := m["process"].(map[string]any)["capabilities"].(map[string]any)
				c["bounding"] = append(c["bounding"].([]any), "CAP_FOO")
			})
		}, []string{"process.capabilities.bounding[", `unknown capability "CAP_FOO"`}},
		{"missing binary", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) { m["process"].(map[string]any)["args"] = []string{"nonexist"} })
		}, []string{"nonexist", "executable file not found"}},
		{"absolute missing binary", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) { m["process"].(map[string]any)["args"] = []string{"/bin/nonexist"} })
		}, []string{"/bin/nonexist"}},
		{"bad cwd", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) { m["process"].(map[string]any)["cwd"] = "/no/such/dir" })
		}, []string{"process.cwd", "/no/such/dir"}},
		{"relative cwd", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) { m["process"].(map[string]any)["cwd"] = "tmp" })
		}, []string{"process.cwd"}},
		{"failing prestart hook", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) {
				m["hooks"] = map[string]any{"prestart": []any{map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", "echo hook-said-no >&2; exit 3"}}}}
			})
		}, []string{"prestart", "hook-said-no"}},
		{"failing createRuntime hook", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) {
				m["hooks"] = map[string]any{"createRuntime": []any{map[string]any{"path": "/bin/false"}}}
			})
		}, []string{"createRuntime", "/bin/false"}},
		{"failing createContainer hook", func(t *testing.T, b string) {
			editConfig(t, b, func(m map[string]any) {
				m["hooks"] = map[string]any{"createContainer": []any{map[string]any{"path": "/bin/false"}}}
			})
		}, []string{"createContainer", "/bin/false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &env{t: t, root: e.root}
			b := e.bundle(nil, "true")
			tc.setup(t, b)
			e.createFails(b, e.id(), tc.want...)
		})
	}
}

// A missing bundle or config.json is named.
func TestBadInputNoConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := t.TempDir()
	id := e.id()
	e.createFails(b, id, "config.json")
	e.createFails(filepath.Join(b, "nope"), id, "nope")
}

// Container ids that could escape --root, or are empty, are refused
// before anything is written.
func TestBadInputContainerID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "true")
	parent := t.TempDir()
	e.root = filepath.Join(parent, "root")
	must(t, os.Mkdir(e.root, 0o700))
	for _, id := range []string{"a/b", "..", ".", "../escape", "", "a b", "x/../../y"} {
		msg := e.fails("create", "--bundle", b, id)
		if !strings.Contains(msg, "container id") {
			t.Errorf("create %q: %q does not name the container id", id, msg)
		}
		for _, cmd := range [][]string{{"state", id}, {"start", id}, {"delete", id}, {"kill", id, "KILL"}} {
			if msg := e.fails(cmd...); !strings.Contains(msg, "container id") {
				t.Errorf("%v: %q does not name the container id", cmd, msg)
			}
		}
	}
	// delete --force of an invalid id must not remove anything either.
	must(t, os.WriteFile(filepath.Join(parent, "keep"), nil, 0o644))
	e.fails("delete", "--force", "..")
	if _, err := os.Stat(filepath.Join(parent, "keep")); err != nil {
		t.Fatalf("delete --force ..: removed the root's parent: %v", err)
	}
	for _, d := range []string{e.root, parent} {
		ents, err := os.ReadDir(d)
		must(t, err)
		for _, ent := range ents {
			if ent.Name() != "root" && ent.Name() != "keep" {
				t.Errorf("%s: unexpected %s left behind", d, ent.Name())
			}
		}
	}
	if _, err := os.Stat(filepath.Join(parent, "escape")); err == nil {
		t.Errorf("id ../escape made a dir outside --root")
	}
	if _, err := os.Stat(filepath.Join(e.root, "a")); err == nil {
		t.Errorf("id a/b made a dir under --root")
	}
}

// A second create of an existing id fails and leaves the first container
// as it was: still created, still startable.
func TestBadInputDuplicateID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	b2 := e.bundle(nil, "true")
	id := e.created(b)
	before := e.state(id)
	msg := e.fails("create", "--bundle", b2, id)
	if !strings.Contains(msg, "already exists") {
		t.Errorf("duplicate create: %q, want \"already exists\"", msg)
	}
	if msg := e.fails("run", "--bundle", b2, id); !strings.Contains(msg, "already exists") {
		t.Errorf("duplicate run: %q, want \"already exists\"", msg)
	}
	after := e.state(id)
	if after.Status != specs.StateCreated || after.Pid != before.Pid || after.Bundle != b {
		t.Fatalf("first container changed by the duplicate create: %+v -> %+v", before, after)
	}
	e.ok("start", id)
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("first container after start: %s", st.Status)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// start of a running or a stopped container is an error that names the
// state; it changes nothing.
func TestBadInputStartTwiceAndStopped(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	id := e.created(b)
	e.ok("start", id)
	if msg := e.fails("start", id); !strings.Contains(msg, "running") {
		t.Errorf("second start: %q, want the running state named", msg)
	}
	e.ok("kill", id, "KILL")
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	if msg := e.fails("start", id); !strings.Contains(msg, "stopped") {
		t.Errorf("start of a stopped container: %q, want the stopped state named", msg)
	}
	if st := e.state(id); st.Status != specs.StateStopped {
		t.Fatalf("after failed start: %s", st.Status)
	}
	e.ok("delete", id)
	e.assertGone(id, b)

	// A created container whose init died cannot be started either.
	id2 := e.id()
	e.cleanup(id2)
	e.ok("create", "--bundle", b, id2)
	e.ok("kill", id2, "KILL")
	waitFor(t, "created container to stop", func() bool { return e.state(id2).Status == specs.StateStopped })
	if msg := e.fails("start", id2); !strings.Contains(msg, "stopped") && !strings.Contains(msg, "not running") {
		t.Errorf("start of a dead created container: %q", msg)
	}
	e.ok("delete", id2)
	e.assertGone(id2, b)
}

// delete of a running container without --force is refused and has no
// effect; of a nonexistent one, it fails, but --force succeeds quietly
// (runc's behaviour, which containerd relies on).
func TestBadInputDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	id := e.running(b)
	pid := e.state(id).Pid
	if msg := e.fails("delete", id); !strings.Contains(msg, "that is not stopped: running") {
		t.Errorf("delete of a running container: %q", msg)
	}
	if st := e.state(id); st.Status != specs.StateRunning || st.Pid != pid {
		t.Fatalf("failed delete changed the container: %+v", st)
	}
	if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err != nil {
		t.Fatalf("failed delete killed the init: %v", err)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
	if _, err := os.Stat(filepath.Join("/proc", itoa(pid), "cmdline")); err == nil {
		if data, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "cmdline")); strings.Contains(string(data), "sleep") {
			t.Errorf("delete --force left the init running")
		}
	}

	gone := e.id()
	r := e.runc("delete", "--force", gone)
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Errorf("delete --force of a nonexistent id: exit %d, stdout %q, stderr %q; want 0 and quiet", r.code, r.stdout, r.stderr)
	}
	if msg := e.fails("delete", gone); !strings.Contains(msg, "does not exist") {
		t.Errorf("delete of a nonexistent id: %q", msg)
	}
}

// A mount whose destination is a symlink pointing at a host path lands
// inside the rootfs, never on the host.
func TestBadInputMountSymlinkEscape(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := hostMounts(t)
	for _, tc := range []struct {
		name, target, size string
		mkTarget           bool // make the target inside the rootfs first
		mustRun            bool
	}{
		{"to host dir", "/var", "776k", true, true},
		{"relative climb", "../../../../../../var", "780k", true, true},
		// runc creates the missing target inside the rootfs; failing is
		// also safe. Either way nothing reaches the host.
		{"to missing host dir", "/var", "784k", false, false},
		// The tmpfs would cover the rootfs itself: run may fail (runc's
		// does), but nothing reaches the host.
		{"to host root", "/", "788k", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &env{t: t, root: e.root}
			b := e.bundle(func(s *specs.Spec) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/escape", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=" + tc.size}})
			}, "cat", "/proc/self/mountinfo")
			must(t, os.Symlink(tc.target, filepath.Join(b, "rootfs", "mnt", "escape")))
			if tc.mkTarget {
				must(t, os.Mkdir(filepath.Join(b, "rootfs", "var"), 0o755))
			}
			id := e.id()
			e.cleanup(id)
			r := e.runc("run", "--bundle", b, id)
			switch {
			case r.code == 0 && tc.target != "/":
				found := false
				for _, l := range strings.Split(r.stdout, "\n") {
					if strings.Contains(l, "size="+tc.size) {
						found = true
						if f := strings.Fields(l); len(f) < 5 || f[4] != "/var" {
							t.Errorf("tmpfs mounted at the wrong place in the container, want /var: %s", l)
						}
					}
				}
				if !found {
					t.Errorf("tmpfs not visible in the container:\n%s", r.stdout)
				}
			case r.code == 0:
				// Covering the rootfs: the payload ran from the tmpfs?
				t.Errorf("run with a mount over the rootfs succeeded:\n%s", r.stdout)
			case tc.mustRun:
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			default:
				if tc.target != "/" && !strings.Contains(r.stderr, "/mnt/escape") {
					t.Errorf("run failed without naming the mount: %s", r.stderr)
				}
				t.Logf("refused: %s", strings.TrimSpace(r.stderr))
			}
			e.assertGone(id, b)
			for l := range hostMounts(t) {
				if strings.Contains(l, "size="+tc.size) {
					t.Errorf("the container's tmpfs reached the host's mount table: %s", l)
				}
			}
			if fi, err := os.Lstat(filepath.Join(b, "rootfs", "mnt", "escape")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("symlink replaced or removed: %v", err)
			}
		})
	}
	for l := range hostMounts(t) {
		if !before[l] && (strings.Contains(l, " / / ") || strings.Contains(l, " /var ")) {
			t.Errorf("new host mount: %s", l)
		}
	}
}

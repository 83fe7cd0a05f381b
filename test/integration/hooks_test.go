package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hookScript records one invocation: the state read on stdin, argv, env,
// (after argv[0]) and the kind appended to a shared order file. $1 is the kind, $2 the
// output dir. A delay before recording (HOOK_DELAY) makes an ordering
// mistake visible rather than lucky.
const hookScript = `#!/bin/sh
kind=$1
out=$2
cat > "$out/$kind.state"
if [ -n "$HOOK_DELAY" ]; then sleep "$HOOK_DELAY"; fi
for a in "$@"; do echo "$a"; done > "$out/$kind.args"
env > "$out/$kind.env"
echo "$kind" >> "$out/order"
`

// All six hook kinds run, in the runtime-spec's order, with the state of
// their stage on stdin, their args and env, and where the spec says: the
// startContainer hook inside the container.
func TestHooksAllKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := t.TempDir()
	hostHook := filepath.Join(t.TempDir(), "hook.sh")
	writeScript(t, hostHook, hookScript)
	hook := func(kind, path, dir string) specs.Hook {
		return specs.Hook{
			Path: path,
			Args: []string{"hook-" + kind, kind, dir},
			Env:  []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOOKVAR=v-" + kind, "HOOK_DELAY=0.2"},
		}
	}
	b := e.bundle(func(s *specs.Spec) {
		s.Annotations = map[string]string{"org.tirith.test": "hooks"}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{hook("prestart", hostHook, out)}, //nolint:staticcheck // still honoured
			CreateRuntime:   []specs.Hook{hook("createRuntime", hostHook, out)},
			CreateContainer: []specs.Hook{hook("createContainer", hostHook, out)},
			// Inside the container, after pivot_root: an in-rootfs
			// path, writing to the bind mount.
			StartContainer: []specs.Hook{hook("startContainer", "/hook.sh", "/hooklog")},
			Poststart:      []specs.Hook{hook("poststart", hostHook, out)},
			Poststop:       []specs.Hook{hook("poststop", hostHook, out)},
		}
	}, "sh", "-c", "echo payload >> /hooklog/order; exec sleep 1000")
	writeScript(t, filepath.Join(b, "rootfs", "hook.sh"), hookScript)
	applets(t, b, "sleep", "env", "cat")
	id := e.id()
	e.cleanup(id)

	e.ok("create", "--bundle", b, id)
	pid := e.state(id).Pid
	assertOrder(t, out, "prestart", "createRuntime", "createContainer")
	e.ok("start", id)
	// poststart runs after the payload started and before start returns.
	assertOrder(t, out, "prestart", "createRuntime", "createContainer", "startContainer", "payload", "poststart")
	e.ok("kill", id, "KILL")
	waitFor(t, "container to stop", func() bool { return e.state(id).Status == specs.StateStopped })
	e.ok("delete", id)
	assertOrder(t, out, "prestart", "createRuntime", "createContainer", "startContainer", "payload", "poststart", "poststop")
	e.assertGone(id, b)

	for _, tc := range []struct {
		kind   string
		status specs.ContainerState
		dir    string
	}{
		{"prestart", specs.StateCreating, out},
		{"createRuntime", specs.StateCreating, out},
		{"createContainer", specs.StateCreated, out},
		{"startContainer", specs.StateCreated, "/hooklog"},
		{"poststart", specs.StateRunning, out},
		{"poststop", specs.StateStopped, out},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(out, tc.kind+".state"))
			must(t, err)
			var st specs.State
			if err := json.Unmarshal(data, &st); err != nil {
				t.Fatalf("state on stdin is not JSON: %v: %s", err, data)
			}
			if st.ID != id || st.Bundle != b || st.Status != tc.status || st.Version == "" {
				t.Errorf("state %+v, want id %s bundle %s status %s", st, id, b, tc.status)
			}
			// The pid as the host sees it; not required once stopped.
			if tc.status != specs.StateStopped && st.Pid != pid {
				t.Errorf("state pid %d, want the init's %d", st.Pid, pid)
			}
			if st.Annotations["org.tirith.test"] != "hooks" {
				t.Errorf("state annotations %v", st.Annotations)
			}
			args, err := os.ReadFile(filepath.Join(out, tc.kind+".args"))
			must(t, err)
			// argv[0] ("hook-KIND") is the interpreter's business
			// for a script: the rest must be the hook's args.
			if want := tc.kind + "\n" + tc.dir + "\n"; string(args) != want {
				t.Errorf("argv %q, want %q", args, want)
			}
			env, err := os.ReadFile(filepath.Join(out, tc.kind+".env"))
			must(t, err)
			if !strings.Contains(string(env), "HOOKVAR=v-"+tc.kind+"\n") {
				t.Errorf("env lacks HOOKVAR:\n%s", env)
			}
			// Only the hook's env: nothing of the runtime's.
			if strings.Contains(string(env), "TIRITH") || strings.Contains(string(env), "HOME=") {
				t.Errorf("env leaks the runtime's environment:\n%s", env)
			}
		})
	}
}

func assertOrder(t *testing.T, dir string, want ...string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "order"))
	if err != nil {
		t.Fatalf("hook order: %v (want %v)", err, want)
	}
	got := strings.Fields(string(data))
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("hooks ran in order %v, want %v", got, want)
	}
}

// A hook that outlives its timeout is killed, with everything it started,
// and create fails naming it and leaves nothing.
func TestHooksTimeout(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			out := t.TempDir()
			script := filepath.Join(t.TempDir(), "slow.sh")
			// The sleep is a child of the shell and holds its stdout:
			// killing only the shell would leave create waiting.
			writeScript(t, script, "#!/bin/sh\nsleep 100 &\necho $! > \"$1/child\"\nwait\n")
			one := 1
			h := []specs.Hook{{Path: script, Args: []string{"slow.sh", out}, Env: []string{"PATH=/usr/bin:/bin"}, Timeout: &one}}
			b := e.bundle(func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{}
				switch kind {
				case "prestart":
					s.Hooks.Prestart = h //nolint:staticcheck // still honoured
				case "createRuntime":
					s.Hooks.CreateRuntime = h
				case "createContainer":
					s.Hooks.CreateContainer = h
				}
			}, "true")
			start := time.Now()
			e.createFails(b, e.id(), kind, "timed out")
			if d := time.Since(start); d > 30*time.Second {
				t.Errorf("create took %s with a 1 s hook timeout", d)
			}
			data, err := os.ReadFile(filepath.Join(out, "child"))
			must(t, err)
			child, err := strconv.Atoi(strings.TrimSpace(string(data)))
			must(t, err)
			waitFor(t, "the hook's child to be killed", func() bool {
				return syscall.Kill(child, 0) != nil || isZombieOrSleepGone(child)
			})
		})
	}
}

func isZombieOrSleepGone(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(strings.TrimSpace(s[i+1:]), "Z") || !strings.Contains(s[:i], "sleep")
}

// A failing poststart or poststop hook is a warning (the process runs
// already; runtime-spec), not a failure of start or delete. A failing
// startContainer hook stops the container: its payload never runs.
func TestHooksLateFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := t.TempDir()
	b := e.bundle(func(s *specs.Spec) {
		noLandlock(s)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: out, Options: []string{"rbind", "rw"}})
		s.Hooks = &specs.Hooks{
			Poststart: []specs.Hook{{Path: "/bin/false"}},
			Poststop:  []specs.Hook{{Path: "/bin/false"}},
		}
	}, "sh", "-c", "touch /hooklog/ran; exec sleep 1000")
	id := e.created(b)
	e.ok("start", id)
	waitFor(t, "payload to run", func() bool { _, err := os.Stat(filepath.Join(out, "ran")); return err == nil })
	e.ok("delete", "--force", id)
	e.assertGone(id, b)

	out2 := t.TempDir()
	b2 := e.bundle(func(s *specs.Spec) {
		noLandlock(s)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/hooklog", Type: "bind", Source: out2, Options: []string{"rbind", "rw"}})
		s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/false"}}}
	}, "sh", "-c", "touch /hooklog/ran; exec sleep 1000")
	applets(t, b2, "false")
	id2 := e.id()
	e.cleanup(id2)
	e.ok("create", "--bundle", b2, id2)
	e.runc("start", id2) // runc's start does not report it; either is fine
	waitFor(t, "container to stop", func() bool { return e.state(id2).Status == specs.StateStopped })
	if _, err := os.Stat(filepath.Join(out2, "ran")); err == nil {
		t.Errorf("the payload ran although its startContainer hook failed")
	}
	e.ok("delete", id2)
	e.assertGone(id2, b2)
}

package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/lsm/apparmor"
	"github.com/tirith-project/tirith/internal/lsm/selinux"
)

// args are passed verbatim (spaces kept), env is the config's.
func TestProcessArgsEnv(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Env = append(s.Process.Env, "GREETING=hello world", "EMPTY=")
	}, "sh", "-c", `printf '%s|' "$@"; echo; echo "g=$GREETING"; env | grep -c '^EMPTY=$'; env | grep -c '^HOME=/work'; true`, "argv0", "a b", "", "c")
	ls := cfgLines(e.cfgRunOK(b))
	want := []string{"a b||c|", "g=hello world", "1", "0"}
	if strings.Join(ls, "\n") != strings.Join(want, "\n") {
		t.Errorf("args/env seen: %q, want %q", ls, want)
	}
}

// cwd: the process starts in the configured directory, which
// /proc/self/cwd shows inside the container's root.
func TestProcessCwd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Process.Cwd = "/srv/app" }, "sh", "-c", `echo pwd=$(pwd); echo link=$(readlink /proc/self/cwd); echo here=$(ls)`)
	must(t, os.MkdirAll(filepath.Join(cfgRootfs(b), "srv", "app"), 0o755))
	must(t, os.WriteFile(filepath.Join(cfgRootfs(b), "srv", "app", "marker"), nil, 0o644))
	m := cfgKV(t, e.cfgRunOK(b))
	if m["pwd"] != "/srv/app" || m["link"] != "/srv/app" || m["here"] != "marker" {
		t.Errorf("cwd: %v, want /srv/app (with its marker file)", m)
	}
}

// user: uid, gid and additionalGids, as id and /proc/self/status show.
func TestProcessUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 2000}}
	}, `echo uid=$(id -u); echo gid=$(id -g); grep -E '^(Uid|Gid|Groups):' /proc/self/status | tr '\t' ' '`)
	m := cfgKV(t, out)
	if m["uid"] != "1000" || m["gid"] != "1001" {
		t.Errorf("id: %v, want uid 1000 gid 1001", m)
	}
	for _, w := range []string{"Uid: 1000 1000 1000 1000", "Gid: 1001 1001 1001 1001", "Groups: 10 2000"} {
		found := false
		for _, l := range cfgLines(out) {
			if strings.Join(strings.Fields(l), " ") == w {
				found = true
			}
		}
		if !found {
			t.Errorf("/proc/self/status lacks %q:\n%s", w, out)
		}
	}
}

// umask: the configured one, and the default 0022 without one.
func TestProcessUmask(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := uint32(0o027)
	if out := strings.TrimSpace(e.cfgSh(func(s *specs.Spec) { s.Process.User.Umask = &u }, `umask; touch /tmp/f; stat -c %a /tmp/f`)); out != "0027\n640" {
		t.Errorf("umask 027: %q, want 0027 and a 640 file", out)
	}
	if out := strings.TrimSpace(e.cfgSh(nil, `umask`)); out != "0022" {
		t.Errorf("default umask %q, want 0022", out)
	}
}

// rlimits: soft and hard values of each configured limit.
func TestProcessRlimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(func(s *specs.Spec) {
		s.Process.Rlimits = []specs.POSIXRlimit{
			{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1000},
			{Type: "RLIMIT_NPROC", Soft: 100, Hard: 200},
			{Type: "RLIMIT_CORE", Soft: 0, Hard: 0},
		}
	}, `echo n=$(ulimit -n); echo hn=$(ulimit -Hn); echo u=$(ulimit -u); echo hu=$(ulimit -Hu); echo c=$(ulimit -c); grep -E '^Max (open files|processes) ' /proc/self/limits`)
	m := cfgKV(t, out)
	if m["n"] != "512" || m["hn"] != "1000" || m["u"] != "100" || m["hu"] != "200" || m["c"] != "0" {
		t.Errorf("ulimit: %v, want nofile 512/1000, nproc 100/200, core 0", m)
	}
	for _, w := range []string{"Max open files 512 1000 files", "Max processes 100 200 processes"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), w) {
			t.Errorf("/proc/self/limits lacks %q:\n%s", w, out)
		}
	}
}

// oomScoreAdj: the value the config asks for.
func TestProcessOOMScoreAdj(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if out := strings.TrimSpace(e.cfgSh(func(s *specs.Spec) { s.Process.OOMScoreAdj = cfgPtr(345) }, `cat /proc/self/oom_score_adj`)); out != "345" {
		t.Errorf("oom_score_adj %q, want 345", out)
	}
}

// noNewPrivileges true and false, as /proc/self/status shows.
func TestProcessNoNewPrivileges(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, nnp := range []bool{true, false} {
		out := e.cfgSh(func(s *specs.Spec) { s.Process.NoNewPrivileges = nnp }, `grep NoNewPrivs /proc/self/status; grep Seccomp: /proc/self/status`)
		want := "0"
		if nnp {
			want = "1"
		}
		if got := cfgStatusField(out, "NoNewPrivs"); got != want {
			t.Errorf("noNewPrivileges %v: NoNewPrivs %q, want %s", nnp, got, want)
		}
		// Seccomp is on either way (loaded early without no_new_privs).
		if got := cfgStatusField(out, "Seccomp"); got != "2" {
			t.Errorf("noNewPrivileges %v: Seccomp %q, want 2", nnp, got)
		}
	}
}

var testCaps = &specs.LinuxCapabilities{
	Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETPCAP", "CAP_FOWNER"},
	Effective:   []string{"CAP_CHOWN", "CAP_FOWNER"},
	Permitted:   []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_FOWNER"},
	Inheritable: []string{"CAP_KILL", "CAP_NET_BIND_SERVICE"},
	Ambient:     []string{"CAP_KILL"},
}

// The five capability sets are exactly the config's: read from the
// created container's init (caps applied, waiting for start), and after
// execve as root. There the kernel's rules apply (as under runc): root's
// effective set becomes its permitted set, and with no_new_privs the
// permitted set cannot grow past what the config gave; bounding,
// inheritable and ambient stay as they were. The lean init waiting for
// start is already past one execve (of itself), so it shows those rules
// applied; a Go init waiting itself (forced by a startContainer hook)
// shows caps.Apply's sets as they are.
func TestProcessCapabilitySets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, w := range []struct {
		name      string
		hook      bool
		effective []string
	}{{"lean init", false, testCaps.Permitted}, {"Go init", true, testCaps.Effective}} {
		b := e.bundle(func(s *specs.Spec) {
			s.Process.Capabilities = testCaps
			if w.hook {
				s.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
			}
		}, "sh", "-c", `grep ^Cap /proc/self/status`)
		id := e.created(b)
		status, err := os.ReadFile("/proc/" + strconv.Itoa(e.state(id).Pid) + "/status")
		must(t, err)
		if th := cfgStatusField(string(status), "Threads"); (th == "1") == w.hook {
			t.Errorf("%s: the created init has %s threads", w.name, th)
		}
		for _, c := range []struct {
			field string
			want  []string
		}{
			{"CapBnd", testCaps.Bounding}, {"CapEff", w.effective}, {"CapPrm", testCaps.Permitted},
			{"CapInh", testCaps.Inheritable}, {"CapAmb", testCaps.Ambient},
		} {
			if got := cfgCaps(t, cfgStatusField(string(status), c.field)); !cfgSameSet(got, c.want) {
				t.Errorf("created %s %s = %v, want %v", w.name, c.field, got, cfgSorted(c.want))
			}
		}
		if got := cfgStatusField(string(status), "NoNewPrivs"); got != "1" {
			t.Errorf("created %s NoNewPrivs %q, want 1", w.name, got)
		}
		e.ok("delete", "--force", id)
	}

	out := e.cfgSh(func(s *specs.Spec) { s.Process.Capabilities = testCaps }, `grep ^Cap /proc/self/status`)
	for _, c := range []struct {
		field string
		want  []string
	}{
		{"CapBnd", testCaps.Bounding}, {"CapInh", testCaps.Inheritable}, {"CapAmb", testCaps.Ambient},
		{"CapPrm", testCaps.Permitted}, {"CapEff", testCaps.Permitted},
	} {
		if got := cfgCaps(t, cfgStatusField(out, c.field)); !cfgSameSet(got, c.want) {
			t.Errorf("payload (root) %s = %v, want %v", c.field, got, cfgSorted(c.want))
		}
	}
}

// A non-root user keeps its ambient capabilities across execve (and has
// nothing else), and can use them; without ambient it has none.
func TestProcessAmbientCapsNonRoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	amb := []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"}
	script := `grep ^Cap /proc/self/status; touch /tmp/f; chown 0:0 /tmp/f 2>&1 && echo chown=ok; stat -c owner=%u /tmp/f`
	out := e.cfgSh(func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding: []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"}, Effective: amb, Permitted: amb, Inheritable: amb, Ambient: amb,
		}
	}, script)
	for _, f := range []string{"CapAmb", "CapPrm", "CapEff", "CapInh"} {
		if got := cfgCaps(t, cfgStatusField(out, f)); !cfgSameSet(got, amb) {
			t.Errorf("uid 1000 %s = %v, want %v", f, got, amb)
		}
	}
	if got := cfgCaps(t, cfgStatusField(out, "CapBnd")); !cfgSameSet(got, []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE", "CAP_KILL"}) {
		t.Errorf("uid 1000 CapBnd = %v", got)
	}
	if m := cfgKV(t, out); m["chown"] != "ok" || m["owner"] != "0" {
		t.Errorf("uid 1000 with ambient CAP_CHOWN could not chown:\n%s", out)
	}
	out = e.cfgSh(func(s *specs.Spec) {
		s.Process.User = specs.User{UID: 1000, GID: 1000}
		s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: amb, Effective: amb, Permitted: amb, Inheritable: amb}
	}, script)
	if got := cfgCaps(t, cfgStatusField(out, "CapEff")); len(got) != 0 {
		t.Errorf("uid 1000 without ambient: CapEff %v, want none", got)
	}
	if m := cfgKV(t, out); m["chown"] == "ok" || m["owner"] != "1000" {
		t.Errorf("uid 1000 without ambient caps could chown:\n%s", out)
	}
}

// An unknown capability name is a create error naming the field.
func TestProcessUnknownCapability(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfgCreateFails(func(s *specs.Spec) {
		s.Process.Capabilities.Ambient = []string{"CAP_CHOWN", "CAP_FOO"}
	}, `process.capabilities.ambient[1]`, `"CAP_FOO"`)
}

// sysctl: namespaced ones are set in the container (net in its netns, ipc
// in its ipc ns) and the host keeps its values; a non-namespaced one is
// refused with an error naming it.
func TestProcessSysctl(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hostFwd, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	must(t, err)
	want := "0"
	if strings.TrimSpace(string(hostFwd)) == "0" {
		want = "1"
	}
	out := e.cfgSh(func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": want, "kernel.shmmni": "1234", "net.ipv4.ping_group_range": "0 0"}
	}, `echo fwd=$(cat /proc/sys/net/ipv4/ip_forward); echo shmmni=$(cat /proc/sys/kernel/shmmni); echo ping=$(cat /proc/sys/net/ipv4/ping_group_range)`)
	m := cfgKV(t, out)
	if m["fwd"] != want || m["shmmni"] != "1234" || m["ping"] != "0 0" {
		t.Errorf("sysctls in the container: %v, want ip_forward %s, shmmni 1234, ping_group_range \"0 0\"", m, want)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(hostFwd) {
		t.Errorf("host ip_forward changed from %q to %q", hostFwd, now)
	}

	hostSwap, _ := os.ReadFile("/proc/sys/vm/swappiness")
	e.cfgCreateFails(func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "7"} }, `vm.swappiness`, "linux.sysctl")
	if now, _ := os.ReadFile("/proc/sys/vm/swappiness"); string(now) != string(hostSwap) {
		t.Errorf("host vm.swappiness changed from %q to %q", hostSwap, now)
	}
	// A net sysctl without a network namespace would be the host's.
	e.cfgCreateFails(func(s *specs.Spec) {
		cfgDropNS(s, specs.NetworkNamespace)
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": want}
	}, `net.ipv4.ip_forward`)
}

// ioPriority and scheduler: what ioprio_get and sched_getattr return in
// the payload, and the policy field of /proc/self/stat.
func TestProcessIOPriorityAndScheduler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.runProbe(e.bundle(func(s *specs.Spec) {
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 6}
		s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
	}))
	if want := 2<<13 | 6; r.IOPrio != want {
		t.Errorf("ioprio %d (class %d level %d), want best-effort 6 (%d)", r.IOPrio, r.IOPrio>>13, r.IOPrio&0x1fff, want)
	}
	if r.SchedPolicy != 3 || r.SchedNice != 7 {
		t.Errorf("scheduler policy %d nice %d, want SCHED_BATCH (3) nice 7", r.SchedPolicy, r.SchedNice)
	}
	// Idle I/O class and SCHED_IDLE, seen by busybox and /proc.
	out := e.cfgSh(func(s *specs.Spec) {
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
		s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedIdle}
	}, `busybox ionice -p $$; echo policy=$(cut -d' ' -f41 /proc/self/stat)`)
	if !strings.Contains(out, "idle") || cfgKV(t, out)["policy"] != "5" {
		t.Errorf("idle class / SCHED_IDLE: %q, want ionice idle and policy 5", out)
	}
	// Without them: the defaults (SCHED_OTHER, nice 0).
	r = e.runProbe(e.bundle(nil))
	if r.SchedPolicy != 0 || r.SchedNice != 0 {
		t.Errorf("default scheduler policy %d nice %d", r.SchedPolicy, r.SchedNice)
	}
}

// apparmorProfile and selinuxLabel on a host that runs neither: create
// fails naming the field, and leaves nothing.
func TestProcessLSMLabelsUnavailable(t *testing.T) {
	t.Parallel()
	if apparmor.Enabled() {
		t.Skip("AppArmor is enabled on this host")
	}
	if selinux.Enabled() {
		t.Skip("SELinux is enabled on this host")
	}
	e := newEnv(t)
	e.cfgCreateFails(func(s *specs.Spec) { s.Process.ApparmorProfile = "tirith-default" }, "process.apparmorProfile", "tirith-default")
	e.cfgCreateFails(func(s *specs.Spec) { s.Process.SelinuxLabel = "system_u:system_r:container_t:s0" }, "process.selinuxLabel")
}

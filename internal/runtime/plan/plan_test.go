package plan

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/spec"
)

func facts() Facts {
	return Facts{ID: "c1", Arch: "amd64", CgroupPaths: map[string]string{"": "/sys/fs/cgroup/tirith/c1"}}
}

// The hardened default spec becomes a plan that keeps every wall.
func TestBuildDefaultKeepsWalls(t *testing.T) {
	s := spec.ForBundle(spec.BundleOptions{})
	p, err := Build(s, facts())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what string
		ok   bool
	}{
		{"a new user namespace with its id maps", p.Namespaces.NewUserNS() && len(p.Namespaces.UIDMappings) == 1 && p.Namespaces.UIDMappings[0].HostID != 0},
		{"pid, net, ipc, uts, mount and cgroup namespaces", p.Namespaces.Has(specs.PIDNamespace) && p.Namespaces.Has(specs.NetworkNamespace) &&
			p.Namespaces.Has(specs.IPCNamespace) && p.Namespaces.Has(specs.UTSNamespace) && p.Namespaces.Has(specs.MountNamespace) && p.Cgroup.Namespace},
		{"a read-only, idmapped root", p.Rootfs.Readonly && p.Rootfs.Idmapped},
		{"masked /proc/kcore", slices.Contains(p.MaskedPaths, "/proc/kcore")},
		{"read-only /proc/sys", slices.Contains(p.ReadonlyPaths, "/proc/sys")},
		{"no_new_privs", p.Process.NoNewPrivileges},
		{"no CAP_SYS_ADMIN", !slices.Contains(p.Process.Capabilities.Bounding, "CAP_SYS_ADMIN")},
		{"a compiled seccomp filter", p.Process.Seccomp != nil && len(p.Process.Seccomp.Program.Filter) > 100},
		{"a Landlock policy", p.Process.Landlock != nil},
		{"setgroups allowed (root writes the map)", p.Process.Setgroups},
		{"a session keyring of its own", p.SessionKeyring == "_ses.c1"},
		{"/dev populated by the runtime", p.SetupDev},
	} {
		if !tc.ok {
			t.Errorf("plan lacks %s", tc.what)
		}
	}
}

// Mounts keep config.json's order and get their options parsed into
// flags; a bind onto /dev leaves /dev alone.
func TestBuildMounts(t *testing.T) {
	s := spec.Default(false)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind", "ro", "nosuid"}},
		specs.Mount{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}},
	)
	p, err := Build(s, facts())
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Mounts) != len(s.Mounts) {
		t.Fatalf("%d mounts planned for %d", len(p.Mounts), len(s.Mounts))
	}
	for i, m := range s.Mounts {
		if p.Mounts[i].Destination != m.Destination {
			t.Fatalf("mount %d is %s, want %s (config.json's order)", i, p.Mounts[i].Destination, m.Destination)
		}
	}
	data := p.Mounts[len(p.Mounts)-2]
	if !data.Parsed.Bind || !data.Parsed.Recursive || data.Parsed.Flags == 0 {
		t.Errorf("/data parsed as %+v, want a recursive bind with ro,nosuid flags", data.Parsed)
	}
	if p.SetupDev {
		t.Errorf("a bind mount onto /dev: the runtime must not populate it")
	}
}

// Sysctls are applied in a stable order; the loopback annotation and
// setgroups deny reach the plan; --no-new-keyring keeps the runtime's.
func TestBuildResolves(t *testing.T) {
	s := spec.ForBundle(spec.BundleOptions{})
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192", "net.core.somaxconn": "512"}
	s.Annotations["io.github.tirith.loopback"] = "up"
	s.Annotations[spec.SetgroupsAnnotation] = "deny"
	s.Process.User.AdditionalGids = []uint32{5, 6}
	f := facts()
	f.NoNewKeyring = true
	p, err := Build(s, f)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, sc := range p.Sysctls {
		keys = append(keys, sc.Key)
	}
	if !slices.IsSorted(keys) || len(keys) != 3 {
		t.Errorf("sysctls %v, want all three sorted", keys)
	}
	if !p.Loopback {
		t.Errorf("loopback annotation lost")
	}
	if p.Process.Setgroups || len(p.Process.User.AdditionalGids) != 0 {
		t.Errorf("setgroups denied, yet the plan sets groups %v (setgroups %v)", p.Process.User.AdditionalGids, p.Process.Setgroups)
	}
	if p.SessionKeyring != "" {
		t.Errorf("--no-new-keyring: plan joins %q", p.SessionKeyring)
	}
}

// An exec'd process gets the container's filter and Landlock policy as
// stored: the same program, not a recompiled one, whatever its own caps.
func TestForExecReusesFilter(t *testing.T) {
	p, err := Build(spec.ForBundle(spec.BundleOptions{}), facts())
	if err != nil {
		t.Fatal(err)
	}
	proc := &specs.Process{Args: []string{"sh"}, Cwd: "/", User: specs.User{UID: 33, GID: 33},
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_KILL"}}}
	e, err := p.ForExec(proc)
	if err != nil {
		t.Fatal(err)
	}
	if e.Seccomp != p.Process.Seccomp || e.Landlock != p.Process.Landlock {
		t.Errorf("exec plan does not reuse the container's filter and policy")
	}
	if e.User.UID != 33 || !slices.Equal(e.Capabilities.Bounding, []string{"CAP_KILL"}) {
		t.Errorf("exec plan lost the process's own fields: %+v", e)
	}
	if _, err := p.ForExec(&specs.Process{Cwd: "/"}); err == nil {
		t.Errorf("an exec without args was planned")
	}
}

// Bad input fails at Build with the field named, before any init runs.
func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		mutate     func(*specs.Spec)
	}{
		{"seccomp arch", "linux.seccomp", func(s *specs.Spec) {
			s.Linux.Seccomp.Architectures = []specs.Arch{"SCMP_ARCH_NOPE"}
		}},
		{"propagation", "linux.rootfsPropagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }},
		{"landlock", "io.github.tirith.landlock", func(s *specs.Spec) { s.Annotations["io.github.tirith.landlock"] = "{" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := spec.ForBundle(spec.BundleOptions{})
			tc.mutate(s)
			_, err := Build(s, facts())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// A plan survives its JSON round trip (it is stored, then read by exec
// and inspect).
func TestPlanJSONRoundTrip(t *testing.T) {
	p, err := Build(spec.ForBundle(spec.BundleOptions{}), facts())
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Plan
	if err := json.Unmarshal(data, &q); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&q)
	if string(again) != string(data) {
		t.Fatalf("plan changed in a JSON round trip")
	}
	if len(q.Process.Seccomp.Program.Filter) != len(p.Process.Seccomp.Program.Filter) {
		t.Fatalf("the compiled filter did not survive")
	}
}

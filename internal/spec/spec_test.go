package spec

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDefaultIsValid(t *testing.T) {
	for _, rootless := range []bool{false, true} {
		s := Default(rootless)
		if err := Validate(s); err != nil {
			t.Fatalf("Default(%v) does not validate: %v", rootless, err)
		}
		if !s.Root.Readonly || !s.Process.NoNewPrivileges || s.Linux.Seccomp == nil {
			t.Fatalf("Default(%v) lowered a wall: readonly=%v nnp=%v seccomp=%v", rootless, s.Root.Readonly, s.Process.NoNewPrivileges, s.Linux.Seccomp != nil)
		}
		for _, c := range s.Process.Capabilities.Bounding {
			if c == "CAP_NET_RAW" || c == "CAP_MKNOD" || c == "CAP_SYS_ADMIN" {
				t.Fatalf("Default(%v) keeps %s", rootless, c)
			}
		}
		masked := strings.Join(s.Linux.MaskedPaths, " ")
		if !strings.Contains(masked, "/proc/kcore") || !strings.Contains(masked, "/proc/keys") {
			t.Fatalf("masked paths lack /proc/kcore or /proc/keys: %s", masked)
		}
	}
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		mutate func(*specs.Spec)
		want   string
	}{
		{"future spec version", func(s *specs.Spec) { s.Version = "1.4.0" }, "ociVersion"},
		{"major version 2", func(s *specs.Spec) { s.Version = "2.0.0" }, "ociVersion"},
		{"not semver", func(s *specs.Spec) { s.Version = "one" }, "ociVersion"},
		{"no root", func(s *specs.Spec) { s.Root = nil }, "root.path"},
		{"no args", func(s *specs.Spec) { s.Process.Args = nil }, "process.args"},
		{"relative cwd", func(s *specs.Spec) { s.Process.Cwd = "tmp" }, "process.cwd"},
		{"env without =", func(s *specs.Spec) { s.Process.Env = []string{"PATH"} }, "process.env[0]"},
		{"unknown capability", func(s *specs.Spec) { s.Process.Capabilities.Bounding[2] = "CAP_FOO" }, `process.capabilities.bounding[2]: unknown capability "CAP_FOO"`},
		{"unknown rlimit", func(s *specs.Spec) { s.Process.Rlimits[0].Type = "RLIMIT_FOO" }, `process.rlimits[0].type: unknown rlimit "RLIMIT_FOO"`},
		{"duplicate rlimit", func(s *specs.Spec) { s.Process.Rlimits = append(s.Process.Rlimits, s.Process.Rlimits[0]) }, "process.rlimits[1].type"},
		{"soft above hard", func(s *specs.Spec) { s.Process.Rlimits[0].Soft = s.Process.Rlimits[0].Hard + 1 }, "process.rlimits[0]"},
		{"oom score out of range", func(s *specs.Spec) { v := 2000; s.Process.OOMScoreAdj = &v }, "process.oomScoreAdj"},
		{"unknown namespace", func(s *specs.Spec) { s.Linux.Namespaces[0].Type = "bogus" }, "linux.namespaces[0].type"},
		{"duplicate namespace", func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, s.Linux.Namespaces[0])
		}, "duplicate namespace"},
		{"relative namespace path", func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "proc/1/ns/pid" }, "linux.namespaces[0].path"},
		{"maps without user namespace", func(s *specs.Spec) {
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: 1, Size: 1}}
		}, "linux.uidMappings"},
		{"hostname without uts", func(s *specs.Spec) {
			var ns []specs.LinuxNamespace
			for _, n := range s.Linux.Namespaces {
				if n.Type != specs.UTSNamespace {
					ns = append(ns, n)
				}
			}
			s.Linux.Namespaces = ns
		}, "hostname"},
		{"host sysctl", func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, `linux.sysctl["vm.swappiness"]`},
		{"bad propagation", func(s *specs.Spec) { s.Linux.RootfsPropagation = "sideways" }, "linux.rootfsPropagation"},
		{"relative hook", func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "bin/x"}}}
		}, "hooks.poststop[0].path"},
		{"mount without type", func(s *specs.Spec) { s.Mounts[0].Type = "" }, "mounts[0].type"},
		{"bind onto a sysctl", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/sys/kernel/x", Source: "/tmp/x", Options: []string{"bind"}})
		}, fmt.Sprintf(`mounts[%d].destination "/proc/sys/kernel/x": mounts under /proc are refused`, len(Default(false).Mounts))},
		{"tmpfs at /proc", func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/proc/", Type: "tmpfs", Source: "tmpfs"})
		}, `destination "/proc/": only a proc mount`},
		{"cwd under /proc", func(s *specs.Spec) { s.Process.Cwd = "/proc/self/fd/3" }, `process.cwd: "/proc/self/fd/3" is under /proc`},
		{"cwd climbing into /proc", func(s *specs.Spec) { s.Process.Cwd = "/tmp/../proc/1/cwd" }, "process.cwd"},
		{"bad landlock annotation", func(s *specs.Spec) {
			s.Annotations["io.github.tirith.landlock"] = `{"readWrite":["tmp"]}`
		}, `annotations["io.github.tirith.landlock"]`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := Default(false)
			tc.mutate(s)
			err := Validate(s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// A proc mount at /proc and binds onto the lxcfs files are fine.
func TestValidateProcMountsAllowed(t *testing.T) {
	s := Default(false)
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/proc/uptime", Source: "/var/lib/lxcfs/proc/uptime", Options: []string{"bind"}},
		specs.Mount{Destination: "/proc/sys/kernel/ns_last_pid", Type: "bind", Source: "/tmp/x", Options: []string{"rbind"}},
		specs.Mount{Destination: "/mnt/proc", Type: "proc", Source: "proc"},
	)
	s.Process.Cwd = "/proc"
	if err := Validate(s); err != nil {
		t.Fatal(err)
	}
}

func TestParseErrorsGivePosition(t *testing.T) {
	_, err := Parse([]byte("{\n  \"ociVersion\": \"1.0.0\",\n  \"process\": {\"args\": \"sh\"}\n}"))
	if err == nil || !strings.Contains(err.Error(), "process.args") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("wrong-type error: %v", err)
	}
	_, err = Parse([]byte("{\n\"ociVersion\": \"1.0.0\",,\n}"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("syntax error: %v", err)
	}
}

func TestValidateID(t *testing.T) {
	for _, id := range []string{"a", "web-1", "x_y.z+1"} {
		if err := ValidateID(id); err != nil {
			t.Errorf("%q refused: %v", id, err)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a b", strings.Repeat("x", 1025)} {
		if err := ValidateID(id); err == nil {
			t.Errorf("%q accepted", id)
		}
	}
}

// FuzzParseValidate: no input makes the config loader panic, and what
// validates survives a JSON round trip still valid.
func FuzzParseValidate(f *testing.F) {
	seed, _ := json.Marshal(Default(true))
	f.Add(seed)
	f.Add([]byte(`{"ociVersion":"1.0.0"}`))
	f.Add([]byte(`{"process":{"args":"sh"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		if Validate(s) != nil {
			return
		}
		again, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Parse(again)
		if err != nil || Validate(s2) != nil {
			t.Fatalf("a valid config did not survive a round trip: %v", err)
		}
	})
}

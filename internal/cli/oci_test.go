package cli

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]unix.Signal{"KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "sigterm": unix.SIGTERM, "9": unix.SIGKILL, "hup": unix.SIGHUP} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "-1", "SIGFOO", "KILLX"} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) accepted", in)
		}
	}
}

func TestParseIntSizes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		size bool
		want int64
		bad  bool
	}{
		{"100", true, 100, false}, {"64k", true, 64 << 10, false}, {"100m", true, 100 << 20, false},
		{"2G", true, 2 << 30, false}, {"512mb", true, 512 << 20, false}, {"-1", true, -1, false},
		{"1.5g", true, 1610612736, false}, {"1t", true, 1 << 40, false}, {"1.5g", false, 0, true},
		{"10m", false, 0, true}, {"m", true, 0, true}, {"", true, 0, true},
	} {
		got, err := parseInt(tc.in, tc.size)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("parseInt(%q, %v) = %d, %v; want %d (error %v)", tc.in, tc.size, got, err, tc.want, tc.bad)
		}
	}
}

// exec --cap follows runc: bounding, effective, permitted; ambient only
// when the base process already has inheritable caps.
func TestExecProcessCaps(t *testing.T) {
	base := &specs.Process{Args: []string{"sh"}, Cwd: "/", Env: []string{"A=1"},
		Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN"}}}
	p, err := execProcess(base, &execFlags{caps: []string{"net_raw"}, env: []string{"B=2"}, user: "1000:1001", cwd: "/tmp"}, []string{"id"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Capabilities
	if len(c.Bounding) != 2 || c.Bounding[1] != "CAP_NET_RAW" || len(c.Effective) != 1 || len(c.Permitted) != 1 || len(c.Ambient) != 0 {
		t.Fatalf("caps %+v", c)
	}
	if p.User.UID != 1000 || p.User.GID != 1001 || p.Cwd != "/tmp" || len(p.Env) != 2 || p.Args[0] != "id" {
		t.Fatalf("process %+v", p)
	}
	if len(base.Capabilities.Bounding) != 1 || len(base.Env) != 1 {
		t.Fatal("execProcess changed the container's own process")
	}
	if _, err := execProcess(base, &execFlags{user: "root"}, []string{"id"}, false); err == nil {
		t.Fatal("a non-numeric --user was accepted")
	}
	if _, err := execProcess(base, &execFlags{}, nil, false); err == nil {
		t.Fatal("exec without a command was accepted")
	}
	// An unknown --cap is the flag's error, not a spec field's later.
	if _, err := execProcess(base, &execFlags{caps: []string{"foo"}}, []string{"id"}, false); err == nil || err.Error() != `--cap: unknown capability "foo"` {
		t.Fatalf("--cap foo: %v", err)
	}
}

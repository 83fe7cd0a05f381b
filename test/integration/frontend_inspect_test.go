package integration

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/testutil"
)

// inspectedContainer is the part of `tirith inspect CONTAINER` the tests
// read (Docker's field names).
type inspectedContainer struct {
	ID      string    `json:"Id"`
	Name    string    `json:"Name"`
	Created time.Time `json:"Created"`
	Path    string    `json:"Path"`
	Args    []string  `json:"Args"`
	Image   string    `json:"Image"`
	State   struct {
		Status     string     `json:"Status"`
		Running    bool       `json:"Running"`
		OOMKilled  bool       `json:"OOMKilled"`
		Pid        int        `json:"Pid"`
		ExitCode   int        `json:"ExitCode"`
		StartedAt  *time.Time `json:"StartedAt"`
		FinishedAt *time.Time `json:"FinishedAt"`
	} `json:"State"`
	Config struct {
		Hostname   string   `json:"Hostname"`
		User       string   `json:"User"`
		Env        []string `json:"Env"`
		Cmd        []string `json:"Cmd"`
		Image      string   `json:"Image"`
		WorkingDir string   `json:"WorkingDir"`
		Entrypoint []string `json:"Entrypoint"`
	} `json:"Config"`
	Mounts []struct {
		Type        string `json:"Type"`
		Name        string `json:"Name"`
		Source      string `json:"Source"`
		Destination string `json:"Destination"`
		Mode        string `json:"Mode"`
		RW          bool   `json:"RW"`
	} `json:"Mounts"`
	HostConfig struct {
		Privileged     bool     `json:"Privileged"`
		NetworkMode    string   `json:"NetworkMode"`
		ReadonlyRootfs bool     `json:"ReadonlyRootfs"`
		CapAdd         []string `json:"CapAdd"`
		CapDrop        []string `json:"CapDrop"`
		Memory         int64    `json:"Memory"`
		PidsLimit      *int64   `json:"PidsLimit"`
	} `json:"HostConfig"`
	Security *struct {
		UserNamespace struct {
			Enabled     bool `json:"Enabled"`
			UIDMappings []struct {
				ContainerID uint32 `json:"containerID"`
				HostID      uint32 `json:"hostID"`
				Size        uint32 `json:"size"`
			} `json:"UIDMappings"`
			GIDMappings []struct {
				ContainerID uint32 `json:"containerID"`
				HostID      uint32 `json:"hostID"`
				Size        uint32 `json:"size"`
			} `json:"GIDMappings"`
		} `json:"UserNamespace"`
		User struct {
			UID uint32 `json:"UID"`
			GID uint32 `json:"GID"`
		} `json:"User"`
		Capabilities struct {
			Bounding  []string `json:"Bounding"`
			Effective []string `json:"Effective"`
		} `json:"Capabilities"`
		NoNewPrivileges bool `json:"NoNewPrivileges"`
		Seccomp         struct {
			Enabled      bool   `json:"Enabled"`
			Profile      string `json:"Profile"`
			Rules        int    `json:"Rules"`
			Instructions int    `json:"Instructions"`
		} `json:"Seccomp"`
		Landlock struct {
			Enabled bool            `json:"Enabled"`
			Policy  json.RawMessage `json:"Policy"`
		} `json:"Landlock"`
		Namespaces     []string `json:"Namespaces"`
		NetworkMode    string   `json:"NetworkMode"`
		Memory         int64    `json:"Memory"`
		PidsLimit      *int64   `json:"PidsLimit"`
		ReadonlyRootfs bool     `json:"ReadonlyRootfs"`
		MaskedPaths    int      `json:"MaskedPaths"`
		Relaxations    []struct {
			Wall     int    `json:"Wall"`
			WallName string `json:"WallName"`
			Flag     string `json:"Flag"`
			What     string `json:"What"`
		} `json:"Relaxations"`
		Enforced *struct {
			Landlock *struct {
				ABI int `json:"abi"`
			} `json:"landlock"`
			LandlockUnsupported bool `json:"landlockUnsupported"`
			Capabilities        *struct {
				Bounding  []string `json:"bounding"`
				Effective []string `json:"effective"`
			} `json:"capabilities"`
			NoNewPrivileges bool `json:"noNewPrivileges"`
		} `json:"Enforced"`
	} `json:"Security"`
}

// inspectC inspects one container and returns it and the raw output.
func (f *feEnv) inspectC(args ...string) (inspectedContainer, string) {
	f.t.Helper()
	out := f.feOK(append([]string{"inspect"}, args...)...).stdout
	var got []inspectedContainer
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		f.t.Fatalf("inspect %v: %v (%d records)\n%s", args, err, len(got), out)
	}
	if got[0].Security == nil {
		f.t.Fatalf("inspect %v: no Security\n%s", args, out)
	}
	return got[0], out
}

func (c *inspectedContainer) hasRelaxation(wall int, flag string) bool {
	for _, r := range c.Security.Relaxations {
		if r.Wall == wall && r.Flag == flag && r.What != "" {
			return true
		}
	}
	return false
}

// TestFrontendInspect: inspect of a running and an exited container, by
// name and id prefix, their walls and relaxations, a secret's name but
// never its content, --type, unknown names, and images alongside.
func TestFrontendInspect(t *testing.T) {
	f := newFE(t)
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	content := "s3cr3t-" + hex.EncodeToString(rnd[:])
	src := filepath.Join(t.TempDir(), "dbpass")
	must(t, os.WriteFile(src, []byte(content), 0o600))
	vol := t.TempDir()
	testutil.OpenToAll(t, vol) // the container's mapped root must reach it

	// A detached container with relaxations, a volume, a tmpfs, a secret.
	n := f.name()
	f.cleanupFE(n)
	id := strings.TrimSpace(f.feOK("run", "-d", "--name", n, "--cap-add", "NET_ADMIN", "--read-only=false",
		"--secret", src+",target=db", "-v", vol+":/mnt/vol:ro", "--tmpfs", "/scratch", "-e", "FOO=bar",
		"--entrypoint", "sh", f.image, "-c", "exec sleep 1000").stdout)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	c, raw := f.inspectC(n)
	if strings.Contains(raw, content) {
		t.Errorf("inspect prints the secret's content:\n%s", raw)
	}
	if c.ID != id || c.Name != "/"+n || c.Created.IsZero() || !strings.HasPrefix(c.Image, "sha256:") {
		t.Errorf("inspect Id/Name/Created/Image = %s %s %v %s", c.ID, c.Name, c.Created, c.Image)
	}
	if c.Path != "sh" || !slices.Equal(c.Args, []string{"-c", "exec sleep 1000"}) {
		t.Errorf("Path/Args = %q %q", c.Path, c.Args)
	}
	if !slices.Equal(c.Config.Entrypoint, []string{"sh"}) || !slices.Equal(c.Config.Cmd, []string{"-c", "exec sleep 1000"}) {
		t.Errorf("Config.Entrypoint/Cmd = %q %q", c.Config.Entrypoint, c.Config.Cmd)
	}
	if c.Config.Image != f.image || c.Config.Hostname != id[:12] || c.Config.WorkingDir != "/" || c.Config.User != "" ||
		!slices.Contains(c.Config.Env, "FOO=bar") || !slices.Contains(c.Config.Env, "FROM_IMAGE=yes") {
		t.Errorf("Config = %+v", c.Config)
	}
	s := c.State
	if s.Status != "running" || !s.Running || s.ExitCode != 0 || s.OOMKilled || s.Pid <= 0 || s.StartedAt == nil || s.FinishedAt != nil {
		t.Errorf("State of a running container = %+v", s)
	}
	// The user namespace mapping as the kernel has it.
	sec := c.Security
	um, gm := sec.UserNamespace.UIDMappings, sec.UserNamespace.GIDMappings
	if !sec.UserNamespace.Enabled || len(um) != 1 || len(gm) != 1 || um[0].ContainerID != 0 || um[0].Size != 65536 || um[0].HostID == 0 || gm[0] != um[0] {
		t.Errorf("UserNamespace = %+v", sec.UserNamespace)
	} else if s.Pid > 0 {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", s.Pid))
		must(t, err)
		if got := strings.Fields(string(data)); !slices.Equal(got, []string{"0", fmt.Sprint(um[0].HostID), "65536"}) {
			t.Errorf("inspect says uid map %+v, the kernel %q", um[0], data)
		}
	}
	if !slices.Contains(sec.Capabilities.Bounding, "CAP_NET_ADMIN") || !slices.Contains(sec.Capabilities.Effective, "CAP_NET_ADMIN") ||
		slices.Contains(sec.Capabilities.Bounding, "CAP_SYS_ADMIN") || !slices.Equal(c.HostConfig.CapAdd, []string{"CAP_NET_ADMIN"}) {
		t.Errorf("Capabilities = %+v, CapAdd = %q", sec.Capabilities, c.HostConfig.CapAdd)
	}
	if !sec.NoNewPrivileges || !sec.Seccomp.Enabled || sec.Seccomp.Profile != "default" || sec.Seccomp.Rules == 0 ||
		!sec.Landlock.Enabled || !strings.Contains(string(sec.Landlock.Policy), `"/scratch"`) || sec.MaskedPaths == 0 ||
		sec.ReadonlyRootfs || c.HostConfig.ReadonlyRootfs || sec.NetworkMode != "bridge" || c.HostConfig.NetworkMode != "bridge" ||
		sec.Memory != 512<<20 || sec.PidsLimit == nil || *sec.PidsLimit != 1024 || !slices.Contains(sec.Namespaces, "user") || c.HostConfig.Privileged {
		t.Errorf("walls = %+v", *sec)
	}
	if !c.hasRelaxation(2, "--cap-add") || !c.hasRelaxation(7, "--read-only=false") {
		t.Errorf("Relaxations = %+v", sec.Relaxations)
	}
	// What the init found the kernel granted, from its plan's report.
	if en := sec.Enforced; en == nil || !en.NoNewPrivileges || en.Capabilities == nil ||
		!slices.Contains(en.Capabilities.Effective, "CAP_NET_ADMIN") || slices.Contains(en.Capabilities.Bounding, "CAP_SYS_ADMIN") ||
		(en.Landlock == nil && !en.LandlockUnsupported) || sec.Seccomp.Instructions == 0 {
		t.Errorf("Enforced = %+v, seccomp %+v", en, sec.Seccomp)
	} else if en.Landlock != nil && en.Landlock.ABI == 0 {
		t.Errorf("Enforced Landlock without its ABI: %+v", en.Landlock)
	}
	// After `update`, inspect reports the limit in force, not the one
	// run started with.
	f.ok("update", "--memory", "256m", "--memory-swap", "256m", id) // tirith-runc update
	if c2, _ := f.inspectC(n); c2.Security.Memory != 256<<20 || c2.HostConfig.Memory != 256<<20 {
		t.Errorf("after update --memory 256m: inspect Memory %d / %d", c2.Security.Memory, c2.HostConfig.Memory)
	}
	type mnt struct{ typ, name, src, dst, mode string }
	var mounts []mnt
	for _, m := range c.Mounts {
		mounts = append(mounts, mnt{m.Type, m.Name, m.Source, m.Destination, m.Mode})
		if m.Type == "bind" && m.RW {
			t.Errorf("read-only volume shown RW: %+v", m)
		}
	}
	want := []mnt{{"bind", "", vol, "/mnt/vol", "ro"}, {"secret", "db", "", "/run/secrets/db", "ro"}}
	for _, w := range want {
		if !slices.Contains(mounts, w) {
			t.Errorf("Mounts %+v lack %+v", mounts, w)
		}
	}
	if !slices.ContainsFunc(c.Mounts, func(m struct {
		Type        string `json:"Type"`
		Name        string `json:"Name"`
		Source      string `json:"Source"`
		Destination string `json:"Destination"`
		Mode        string `json:"Mode"`
		RW          bool   `json:"RW"`
	}) bool {
		return m.Type == "tmpfs" && m.Destination == "/scratch" && m.RW
	}) || len(c.Mounts) != 3 {
		t.Errorf("Mounts = %+v, want the volume, the --tmpfs and the secret", c.Mounts)
	}
	// By unique id prefix, and --type container.
	if byID, _ := f.inspectC("--type", "container", id[:12]); byID.ID != id {
		t.Errorf("inspect by id prefix: %s", byID.ID)
	}
	// --type image on a container's name: not an image.
	if r := f.fe("inspect", "--type", "image", n); r.code != 1 || !strings.Contains(r.stderr, "no such image: "+n) || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("inspect --type image CONTAINER: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := f.fe("inspect", "--type", "container", f.image); r.code != 1 || !strings.Contains(r.stderr, "no such container: "+f.image) {
		t.Errorf("inspect --type container IMAGE: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if r := f.fe("inspect", "--type", "volume", n); r.code == 0 || !strings.Contains(r.stderr, "--type") {
		t.Errorf("inspect --type volume: exit %d\nstderr: %s", r.code, r.stderr)
	}

	// An exited container, every wall up.
	e := f.name()
	f.cleanupFE(e)
	if r := f.fe("run", "--name", e, f.image, "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("run exit 3: exit %d\n%s", r.code, r.stderr)
	}
	x, _ := f.inspectC(e)
	s = x.State
	if s.Status != "exited" || s.Running || s.ExitCode != 3 || s.OOMKilled || s.Pid != 0 || s.StartedAt == nil || s.FinishedAt == nil || s.FinishedAt.Before(*s.StartedAt) {
		t.Errorf("State of an exited container = %+v", s)
	}
	if x.Config.Entrypoint != nil || !slices.Equal(x.Config.Cmd, []string{"sh", "-c", "exit 3"}) {
		t.Errorf("Config.Entrypoint/Cmd = %q %q", x.Config.Entrypoint, x.Config.Cmd)
	}
	sec = x.Security
	if len(sec.Relaxations) != 0 || !sec.ReadonlyRootfs || !x.HostConfig.ReadonlyRootfs || len(x.HostConfig.CapAdd) != 0 ||
		sec.Seccomp.Profile != "default" || !sec.NoNewPrivileges || !sec.UserNamespace.Enabled || len(x.Mounts) != 0 {
		t.Errorf("default walls: %+v, HostConfig %+v, Mounts %+v", *sec, x.HostConfig, x.Mounts)
	}
	if sec.UserNamespace.UIDMappings[0].HostID == c.Security.UserNamespace.UIDMappings[0].HostID {
		t.Errorf("two containers share the host id range %d", sec.UserNamespace.UIDMappings[0].HostID)
	}

	// Several names: containers, an image, and an unknown name.
	r := f.fe("inspect", n, e, f.image, "nothing-here-"+n)
	if r.code != 1 || !strings.Contains(r.stderr, "no such object: nothing-here-"+n) {
		t.Errorf("inspect with an unknown name: exit %d\nstderr: %s", r.code, r.stderr)
	}
	var mixed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &mixed); err != nil || len(mixed) != 3 {
		t.Fatalf("inspect of 4 names: %v\n%s", err, r.stdout)
	}
	if mixed[0]["Id"] != id || mixed[1]["Name"] != "/"+e || mixed[2]["id"] != c.Image {
		t.Errorf("inspect of several names: %v %v %v", mixed[0]["Id"], mixed[1]["Name"], mixed[2]["id"])
	}
	if strings.Contains(r.stdout, content) {
		t.Error("inspect prints the secret's content")
	}
	r = f.fe("inspect", "nothing-here-"+n)
	if r.code != 1 || !strings.Contains(r.stderr, "no such object: nothing-here-"+n) || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("inspect of an unknown name: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	// Image inspect still works, with and without --type.
	for _, args := range [][]string{{"inspect", f.image}, {"inspect", "--type", "image", f.image}} {
		var imgs []inspected
		out := f.feOK(args...).stdout
		if err := json.Unmarshal([]byte(out), &imgs); err != nil || len(imgs) != 1 || imgs[0].ID != c.Image || len(imgs[0].Layers) != 1 {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}

	// Stopped: exited with 137, the pid gone.
	f.feOK("stop", "-t", "1", n)
	f.feOK("wait", n)
	c, _ = f.inspectC(n)
	if c.State.Status != "exited" || c.State.Running || c.State.ExitCode != 137 || c.State.Pid != 0 || c.State.FinishedAt == nil {
		t.Errorf("State after stop = %+v", c.State)
	}
	f.feOK("rm", n, e)
	if r := f.fe("inspect", "--type", "container", n); r.code != 1 || !strings.Contains(r.stderr, "no such container: "+n) {
		t.Errorf("inspect of a removed container: exit %d\nstderr: %s", r.code, r.stderr)
	}
}

// An exited container's inspect still reports the plan it ran under and
// what the kernel granted (kept when its runtime state went), and the
// cap flags as given, not as guessed from today's defaults.
func TestFrontendInspectExited(t *testing.T) {
	f := newFE(t)
	n := f.name()
	f.cleanupFE(n)
	f.feOK("run", "--name", n, "--cap-drop", "chown", "--security-opt", "seccomp=unconfined", f.image, "true")
	c, _ := f.inspectC(n)
	if c.State.Status != "exited" {
		t.Fatalf("status %q, want exited", c.State.Status)
	}
	sec := c.Security
	if sec == nil || sec.Enforced == nil || sec.Enforced.Capabilities == nil || slices.Contains(sec.Capabilities.Bounding, "CAP_CHOWN") {
		t.Fatalf("exited container: Security %+v, want the plan's walls and their report", sec)
	}
	if !slices.Equal(c.HostConfig.CapDrop, []string{"CAP_CHOWN"}) || len(c.HostConfig.CapAdd) != 0 {
		t.Errorf("CapAdd %q CapDrop %q, want [] and [CAP_CHOWN]", c.HostConfig.CapAdd, c.HostConfig.CapDrop)
	}
	if sec.Seccomp.Enabled || sec.Seccomp.Profile != "unconfined" {
		t.Errorf("Seccomp %+v, want unconfined", sec.Seccomp)
	}
}

package specgen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
)

// testRootfs is a tiny image tree: users, and a program in /app.
func testRootfs(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{"etc", "app", "bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
		"app/server": "#!/bin/sh\n",
		"bin/sh":     "",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func build(t *testing.T, cfg store.Config, o Options) *Built {
	t.Helper()
	o.ReadOnly = true
	if o.Image == "" {
		o.Image = "test"
	}
	b, err := BuildSpec(SpecInput{Config: cfg, Rootfs: testRootfs(t), ID: strings.Repeat("ab", 32), SecretsSource: "/x"}, &o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDefaultsHaveEveryWallAndNoRelaxation(t *testing.T) {
	b := build(t, store.Config{Cmd: []string{"sh"}}, Options{})
	s := b.Spec
	if len(b.Relaxations) != 0 {
		t.Errorf("relaxations: %v", b.Relaxations)
	}
	if !s.Root.Readonly || !s.Process.NoNewPrivileges || s.Linux.Seccomp == nil || len(s.Linux.UIDMappings) == 0 {
		t.Error("a wall is down by default")
	}
	if *s.Linux.Resources.Memory.Limit != DefaultMemory || *s.Linux.Resources.Memory.Swap != DefaultMemory {
		t.Errorf("memory %v", s.Linux.Resources.Memory)
	}
	if s.Hostname != "abababababab" {
		t.Errorf("hostname %q", s.Hostname)
	}
	if _, ok := s.Annotations[landlock.Annotation]; !ok {
		t.Error("no Landlock policy")
	}
}

func TestEntrypointCmdDockerRules(t *testing.T) {
	cfg := store.Config{Entrypoint: []string{"/app/server"}, Cmd: []string{"--port", "80"}}
	for _, tc := range []struct {
		name string
		o    Options
		want []string
	}{
		{"image", Options{}, []string{"/app/server", "--port", "80"}},
		{"cmd replaces Cmd", Options{Cmd: []string{"-v"}}, []string{"/app/server", "-v"}},
		{"entrypoint resets Cmd", Options{Entrypoint: ptr("/bin/sh")}, []string{"/bin/sh"}},
		{"entrypoint and cmd", Options{Entrypoint: ptr("/bin/sh"), Cmd: []string{"-c", "x"}}, []string{"/bin/sh", "-c", "x"}},
		{"empty entrypoint", Options{Entrypoint: ptr(""), Cmd: []string{"/bin/sh"}}, []string{"/bin/sh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := build(t, cfg, tc.o).Spec.Process.Args; !slices.Equal(got, tc.want) {
				t.Errorf("args %v, want %v", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// The default Landlock policy executes everything but the writable
// mounts: the spec's scratch tmpfs and /dev, rw volumes, --tmpfs; a
// read-only volume beneath a writable mount may run again.
func TestDefaultLandlockExecutesAllButWritableMounts(t *testing.T) {
	host := t.TempDir()
	o := Options{
		Volumes: []string{host + ":/data", host + ":/srv:ro", host + ":/tmp/app:ro"},
		Tmpfs:   []string{"/scratch:exec", "/srv/cache"},
	}
	policy := func(b *Built) *landlock.Policy {
		t.Helper()
		p, err := landlock.Parse(b.Spec.Annotations[landlock.Annotation])
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := policy(build(t, store.Config{Entrypoint: []string{"/app/server"}}, o))
	if want := []string{"/", "/tmp/app"}; !slices.Equal(p.Execute, want) {
		t.Errorf("execute %q, want %q", p.Execute, want)
	}
	for _, d := range []string{"/tmp", "/run", "/dev", "/data", "/scratch", "/srv/cache"} {
		if !slices.Contains(p.NoExecute, d) {
			t.Errorf("noExecute %q lacks writable mount %s", p.NoExecute, d)
		}
	}
	for _, d := range []string{"/srv", "/tmp/app", "/sys", "/dev/shm"} {
		if slices.Contains(p.NoExecute, d) {
			t.Errorf("noExecute %q has %s (read-only, or beneath another noExecute path)", p.NoExecute, d)
		}
	}
	for _, d := range []string{"/data", "/scratch", "/srv/cache"} {
		if !slices.Contains(p.ReadWrite, d) {
			t.Errorf("readWrite %q lacks %s", p.ReadWrite, d)
		}
	}

	// --read-only=false: the rootfs is writable, and so its writes
	// executable (a wall 4 relaxation); writable mounts stay noExecute.
	o.Image = "test"
	b, err := BuildSpec(SpecInput{Config: store.Config{Cmd: []string{"sh"}}, Rootfs: testRootfs(t), ID: "x"}, &o)
	if err != nil {
		t.Fatal(err)
	}
	rw := policy(b)
	if !slices.Contains(rw.ReadWrite, "/") || !slices.Equal(rw.NoExecute, p.NoExecute) || !slices.Equal(rw.Execute, p.Execute) {
		t.Errorf("--read-only=false: %s", rw)
	}
	if !slices.ContainsFunc(b.Relaxations, func(r Relaxation) bool { return r.Wall == 4 && r.Flag == "--read-only=false" }) {
		t.Errorf("--read-only=false records no wall 4 relaxation: %v", b.Relaxations)
	}
}

func TestUserResolvedInsideRootfs(t *testing.T) {
	b := build(t, store.Config{Cmd: []string{"sh"}, User: "app"}, Options{})
	u := b.Spec.Process.User
	if u.UID != 1000 || u.GID != 1000 || !slices.Equal(u.AdditionalGids, []uint32{2000}) {
		t.Errorf("user %+v", u)
	}
	if len(b.Spec.Process.Capabilities.Effective) != 0 {
		t.Error("non-root user has effective caps")
	}
	if !slices.Contains(b.Spec.Process.Env, "HOME=/home/app") {
		t.Errorf("env %v", b.Spec.Process.Env)
	}
}

func TestEveryWeakeningFlagIsARelaxation(t *testing.T) {
	pids := int64(-1)
	b := build(t, store.Config{Cmd: []string{"sh"}}, Options{
		Privileged: true, Userns: "host", Network: "host", Memory: "0", PidsLimit: &pids,
		SecurityOpts: []string{"no-new-privileges=false"},
	})
	walls := map[int]bool{}
	for _, r := range b.Relaxations {
		walls[r.Wall] = true
	}
	for w := 1; w <= 7; w++ {
		if !walls[w] {
			t.Errorf("no relaxation recorded for wall %d: %v", w, b.Relaxations)
		}
	}
	if b.Spec.Linux.Seccomp != nil || len(b.Spec.Linux.MaskedPaths) != 0 || len(b.Spec.Linux.UIDMappings) != 0 {
		t.Error("privileged spec still has walls")
	}
}

func TestFlagErrorsNameTheFlag(t *testing.T) {
	for flag, o := range map[string]Options{
		"--memory":       {Memory: "lots"},
		"--cap-add":      {CapAdd: []string{"CAP_FOO"}},
		"--volume":       {Volumes: []string{"relative:/x"}},
		"--tmpfs":        {Tmpfs: []string{"rel"}},
		"--ulimit":       {Ulimits: []string{"nofile"}},
		"--security-opt": {SecurityOpts: []string{"seccomp"}},
		"--secret":       {Secrets: []string{"/etc/hostname,target=../x"}},
		"--network":      {Network: "bridge"},
		"--user":         {User: "nosuch"},
	} {
		o.ReadOnly = true
		_, err := BuildSpec(SpecInput{Config: store.Config{Cmd: []string{"sh"}}, Rootfs: testRootfs(t), ID: "x"}, &o)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s: error %v does not name the flag", flag, err)
		}
	}
}

func TestSecretLookingEnvWarns(t *testing.T) {
	b := build(t, store.Config{Cmd: []string{"sh"}}, Options{Env: []string{"GITHUB_TOKEN=x", "DB_PASSWORD=y", "PLAIN=z"}})
	if len(b.Warnings) != 2 {
		t.Errorf("warnings %v", b.Warnings)
	}
}

package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type auditReport struct {
	Kind     string `json:"kind"`
	Target   string `json:"target"`
	Grade    string `json:"grade"`
	Findings []struct {
		ID       string   `json:"id"`
		Severity string   `json:"severity"`
		Result   string   `json:"result"`
		Evidence []string `json:"evidence"`
	} `json:"findings"`
	Extra map[string]any `json:"extra"`
}

func parseAudit(t *testing.T, out string) auditReport {
	t.Helper()
	var r auditReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("audit JSON: %v\n%s", err, out)
	}
	return r
}

// finding returns the finding id as "severity/result evidence...".
func (r auditReport) finding(t *testing.T, id string) (sev, res, ev string) {
	t.Helper()
	for _, f := range r.Findings {
		if f.ID == id {
			return f.Severity, f.Result, strings.Join(f.Evidence, "\n")
		}
	}
	t.Fatalf("no finding %s in %+v", id, r.Findings)
	return
}

// tirith audit image on images in a store: JSON, SARIF, the table,
// --fail-on's exit code and the errors.
func TestAuditImageCLI(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	must(t, os.WriteFile(file, rootfsTar(t), 0o644))
	e.storageOK(st, "import", file, "example.com/audited:1")

	r := parseAudit(t, e.storageOK(st, "audit", "image", "--format", "json", "example.com/audited:1"))
	if r.Kind != "image" || !strings.Contains(r.Target, "example.com/audited:1 (sha256:") {
		t.Fatalf("report header = %q %q", r.Kind, r.Target)
	}
	if sev, res, ev := r.finding(t, "IMG-SETUID"); sev != "high" || res != "fail" || !strings.Contains(ev, "/bin/su (owner 0:0, mode 4755, layer 0)") {
		t.Fatalf("IMG-SETUID = %s %s %q", sev, res, ev)
	}
	if sev, res, _ := r.finding(t, "IMG-ROOT-USER"); sev != "high" || res != "fail" {
		t.Fatalf("IMG-ROOT-USER = %s %s (an imported image has no USER)", sev, res)
	}

	// --fail-on: high findings exist, critical ones do not.
	res := e.storage(st, "audit", "image", "--fail-on", "high", "example.com/audited:1")
	if res.code != 1 || !strings.Contains(res.stdout, "IMG-SETUID") || !strings.Contains(res.stderr, "at or above high") {
		t.Fatalf("--fail-on high: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if res := e.storage(st, "audit", "image", "--fail-on", "critical", "example.com/audited:1"); res.code != 0 {
		t.Fatalf("--fail-on critical: exit %d, want 0\n%s", res.code, res.stderr)
	}
	// A table without a terminal has no colour.
	if strings.Contains(res.stdout, "\x1b[") || !strings.HasPrefix(res.stdout, "image audit: example.com/audited:1") {
		t.Fatalf("table output:\n%q", res.stdout)
	}

	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	must(t, json.Unmarshal([]byte(e.storageOK(st, "audit", "image", "--format", "sarif", "example.com/audited:1")), &sarif))
	found := false
	for _, x := range sarif.Runs[0].Results {
		found = found || x.RuleID == "IMG-SETUID" && x.Level == "error"
	}
	if sarif.Version != "2.1.0" || !found {
		t.Fatalf("SARIF = %+v", sarif)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml", "example.com/audited:1"}, `unknown format "xml"`},
		{[]string{"--fail-on", "severe", "example.com/audited:1"}, `unknown severity "severe"`},
		{[]string{"example.com/nope:1"}, "example.com/nope:1"},
	} {
		res := e.storage(st, append([]string{"audit", "image"}, c.args...)...)
		if res.code != 125 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("audit image %v: exit %d, stderr %q; want 125 and %q", c.args, res.code, res.stderr, c.want)
		}
	}
}

func (f *feEnv) auditContainer(q string) auditReport {
	f.t.Helper()
	return parseAudit(f.t, f.feOK("audit", "container", "--format", "json", q).stdout)
}

func gradeRank(g string) int { return strings.Index("ABCDF", g) }

// wallsDown is the evidence of CTR-WALLS: one line per missing wall.
func (r auditReport) wallsDown(t *testing.T) string {
	_, _, ev := r.finding(t, "CTR-WALLS")
	return ev
}

// tirith audit container grades a default Tirith container (by name and
// by pid) above a --privileged one and above runc's default spec, and
// names the walls that are missing.
func TestAuditContainerGrades(t *testing.T) {
	f := newFE(t)
	def, priv := f.name()+"-def", f.name()+"-priv"
	f.cleanupFE(def)
	f.cleanupFE(priv)
	f.feOK("run", "-d", "--name", def, f.image, "sleep", "1000")
	f.feOK("run", "-d", "--name", priv, "--privileged", f.image, "sleep", "1000")

	d := f.auditContainer(def)
	if d.Grade != "A" || d.wallsDown(t) != "" {
		t.Fatalf("default container: grade %s, walls down:\n%s\n%+v", d.Grade, d.wallsDown(t), d.Findings)
	}
	for _, id := range []string{"CTR-USERNS", "CTR-CAPS", "CTR-NO-NEW-PRIVS", "CTR-SECCOMP", "CTR-MAC", "CTR-NAMESPACES", "CTR-LIMITS", "CTR-ROOTFS-RO", "CTR-MASKED-PATHS"} {
		if _, res, ev := d.finding(t, id); res != "pass" {
			t.Errorf("default container: %s = %s\n%s", id, res, ev)
		}
	}
	if _, _, ev := d.finding(t, "CTR-MAC"); !strings.Contains(ev, "Landlock (apply report): enforced") {
		t.Errorf("default container: CTR-MAC evidence lacks the apply report's Landlock:\n%s", ev)
	}
	if _, res, ev := d.finding(t, "CTR-WRITABLE-MOUNTS"); res != "info" || !strings.Contains(ev, "/tmp (tmpfs, rw,noexec") {
		t.Errorf("default container: CTR-WRITABLE-MOUNTS = %s\n%s", res, ev)
	}
	if _, res, ev := d.finding(t, "CTR-TIRITH-PLAN"); res != "info" || !strings.Contains(ev, "seccomp: default") || !strings.Contains(ev, "apply report: ") {
		t.Errorf("default container: CTR-TIRITH-PLAN = %s\n%s", res, ev)
	}
	if d.Extra["id"] == nil || d.Extra["security"] == nil {
		t.Errorf("default container: the report lacks Tirith's plan: %v", d.Extra)
	}
	// The same container by its init's pid is recognised as Tirith's.
	var ins []struct {
		State struct{ Pid int } `json:"State"`
	}
	must(t, json.Unmarshal([]byte(f.feOK("inspect", def).stdout), &ins))
	pid := ins[0].State.Pid
	if byPid := f.auditContainer(strconv.Itoa(pid)); byPid.Grade != "A" || byPid.Extra["id"] == nil || !strings.Contains(byPid.Target, def) {
		t.Fatalf("by pid %d: grade %s target %q extra %v", pid, byPid.Grade, byPid.Target, byPid.Extra)
	}

	p := f.auditContainer(priv)
	if gradeRank(p.Grade) <= gradeRank(d.Grade) {
		t.Fatalf("--privileged graded %s, not below the default's %s", p.Grade, d.Grade)
	}
	down := p.wallsDown(t)
	for _, w := range []string{"wall 2 (privileges)", "wall 3 (syscalls)"} {
		if !strings.Contains(down, w) {
			t.Errorf("--privileged: walls down lack %q:\n%s", w, down)
		}
	}
	if _, res, ev := p.finding(t, "CTR-RELAXATIONS"); res != "warn" || !strings.Contains(ev, "--privileged") {
		t.Errorf("--privileged: relaxations = %s %q", res, ev)
	}
	if res := f.fe("audit", "container", "--fail-on", "high", priv); res.code != 1 {
		t.Errorf("--fail-on high on a --privileged container: exit %d", res.code)
	}

	// runc's default spec, run by runc itself, audited by pid.
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("runc is not installed (apt-get install runc): the runc half is not tested")
	}
	b := f.bundle(nil)
	must(t, os.Remove(filepath.Join(b, "config.json")))
	if out, err := exec.Command(runc, "spec", "--bundle", b).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(b, "config.json"))
	must(t, err)
	var s specs.Spec
	must(t, json.Unmarshal(data, &s))
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/sleep", "1000"}
	writeSpec(t, b, &s)
	root, id := t.TempDir(), f.id()
	t.Cleanup(func() { _ = exec.Command(runc, "--root", root, "delete", "--force", id).Run() })
	// The detached container inherits runc's stdio: a file, not a pipe
	// that would stay open as long as it runs.
	logf, err := os.Create(filepath.Join(t.TempDir(), "runc.log"))
	must(t, err)
	defer logf.Close()
	cmd := exec.Command(runc, "--root", root, "run", "-d", "--bundle", b, id)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		out, _ := os.ReadFile(logf.Name())
		t.Fatalf("runc run -d: %v: %s", err, out)
	}
	out, err := exec.Command(runc, "--root", root, "state", id).Output()
	must(t, err)
	var st struct{ Pid int }
	must(t, json.Unmarshal(out, &st))
	rr := f.auditContainer(strconv.Itoa(st.Pid))
	if gradeRank(rr.Grade) <= gradeRank(d.Grade) || rr.Extra["id"] != nil {
		t.Fatalf("runc container: grade %s (default Tirith %s), extra %v", rr.Grade, d.Grade, rr.Extra)
	}
	down = rr.wallsDown(t)
	for _, w := range []string{"wall 1 (identity): no user namespace", "wall 3 (syscalls)", "wall 6 (resources)"} {
		if !strings.Contains(down, w) {
			t.Errorf("runc container: walls down lack %q:\n%s", w, down)
		}
	}
	if sev, res, _ := rr.finding(t, "CTR-USERNS"); res != "fail" || sev != "high" {
		t.Errorf("runc container: CTR-USERNS = %s/%s, want high/fail", sev, res)
	}
	if _, res, ev := rr.finding(t, "CTR-WRITABLE-MOUNTS"); res != "warn" || !strings.Contains(ev, "/dev (tmpfs, rw,nosuid)") {
		t.Errorf("runc container: CTR-WRITABLE-MOUNTS = %s (runc's /dev is not noexec and there is no Landlock)\n%s", res, ev)
	}
	// runc's default spec does hold these.
	for _, id := range []string{"CTR-NO-NEW-PRIVS", "CTR-ROOTFS-RO", "CTR-MASKED-PATHS", "CTR-NAMESPACES"} {
		if _, res, ev := rr.finding(t, id); res != "pass" {
			t.Errorf("runc container: %s = %s, want pass\n%s", id, res, ev)
		}
	}
	t.Logf("grades: tirith default %s, --privileged %s, runc default %s", d.Grade, p.Grade, rr.Grade)

	for _, q := range []string{"nope-" + f.name(), "999999999"} {
		if res := f.fe("audit", "container", q); res.code != 125 || !strings.Contains(res.stderr, "no such container") {
			t.Errorf("audit container %s: exit %d %q", q, res.code, res.stderr)
		}
	}
}

// tirith audit host: Tirith's own files are checked where --storage and
// --root point, and the kernel checks report this host's values.
func TestAuditHostCLI(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	must(t, os.Chmod(st, 0o755))
	r := parseAudit(t, e.storageOK(st, "audit", "host", "--format", "json"))
	if r.Kind != "host" {
		t.Fatalf("kind %q", r.Kind)
	}
	if sev, res, ev := r.finding(t, "HOST-STORE-MODE"); sev != "high" || res != "fail" || !strings.Contains(ev, st+": owner 0:0, mode 0755") {
		t.Fatalf("HOST-STORE-MODE = %s %s %q", sev, res, ev)
	}
	b, err := os.ReadFile("/proc/sys/kernel/dmesg_restrict")
	must(t, err)
	want := "pass"
	if strings.TrimSpace(string(b)) != "1" {
		want = "warn"
	}
	if _, res, _ := r.finding(t, "HOST-DMESG-RESTRICT"); res != want {
		t.Fatalf("HOST-DMESG-RESTRICT = %s, want %s for dmesg_restrict %s", res, want, b)
	}
	if res := e.storage(st, "audit", "host", "--fail-on", "high"); res.code != 1 || !strings.Contains(res.stdout, "HOST-STORE-MODE") {
		t.Fatalf("--fail-on high with an open store: exit %d\n%s", res.code, res.stdout)
	}
	must(t, os.Chmod(st, 0o700))
	if _, res, _ := parseAudit(t, e.storageOK(st, "audit", "host", "--format", "json")).finding(t, "HOST-STORE-MODE"); res != "pass" {
		t.Fatalf("a 0700 store: HOST-STORE-MODE = %s", res)
	}
}

// tirith diff --format json flags new and changed executables (an x bit
// or ELF magic), the table warns about them on stderr, and audit
// container reports the drift.
func TestDiffExecutablesAndDrift(t *testing.T) {
	f := newFE(t)
	n := f.name()
	f.cleanupFE(n)
	f.feOK("run", "-d", "--name", n, "--read-only=false", f.image, "sh", "-c",
		"printf '#!/bin/sh\\n' > /tool.sh; chmod 755 /tool.sh; cat /bin/busybox > /elf; chmod 644 /elf; echo x > /plain; exec sleep 1000")
	var changes []struct {
		Kind, Path string
		Executable bool
	}
	for i := 0; ; i++ {
		// Afresh each time: Unmarshal into a used slice keeps the old
		// elements' fields that the new JSON omits (executable: false).
		changes = nil
		must(t, json.Unmarshal([]byte(f.feOK("diff", "--format", "json", n).stdout), &changes))
		if len(changes) >= 3 || i > 100 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := map[string]bool{}
	for _, c := range changes {
		if c.Kind != "A" {
			t.Errorf("unexpected change %+v", c)
		}
		got[c.Path] = c.Executable
	}
	if len(got) != 3 || !got["/tool.sh"] || !got["/elf"] || got["/plain"] {
		t.Fatalf("diff --format json = %+v, want /tool.sh and /elf executable, /plain not", changes)
	}
	r := f.feOK("diff", n)
	if r.stdout != "A /elf\nA /plain\nA /tool.sh\n" || !strings.Contains(r.stderr, "2 new or changed executable(s): /elf /tool.sh") {
		t.Fatalf("diff table: stdout %q stderr %q", r.stdout, r.stderr)
	}
	a := f.auditContainer(n)
	if sev, res, ev := a.finding(t, "CTR-DRIFT"); sev != "high" || res != "warn" || !strings.Contains(ev, "3 added, 0 changed, 0 deleted") || !strings.Contains(ev, "/elf") {
		t.Fatalf("CTR-DRIFT = %s %s %q", sev, res, ev)
	}
	if d, ok := a.Extra["drift"].(map[string]any); !ok || d["added"] != float64(3) {
		t.Fatalf("extra drift = %v", a.Extra["drift"])
	}
	if res := f.fe("diff", "--format", "yaml", n); res.code != 125 || !strings.Contains(res.stderr, `unknown format "yaml"`) {
		t.Fatalf("diff --format yaml: exit %d %q", res.code, res.stderr)
	}
}

// tirith defang writes a new image with one more layer that passes the
// setuid check; the original keeps its layers, its tag and its finding,
// and the defanged image runs with /bin/su no longer setuid.
func TestDefang(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	must(t, os.WriteFile(file, rootfsTar(t), 0o644))
	e.storageOK(st, "import", file, "example.com/orig:1")
	orig := e.inspect(st, "example.com/orig:1")

	r := e.storage(st, "defang", "example.com/orig:1", "--tag", "example.com/orig:defanged", "--strip-shells")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") || !strings.Contains(r.stderr, "privileges removed: /bin/su") || !strings.Contains(r.stderr, "removed: /bin/sh") {
		t.Fatalf("defang: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	def := e.inspect(st, "example.com/orig:defanged")
	if len(def.Layers) != len(orig.Layers)+1 || def.Layers[0].DiffID != orig.Layers[0].DiffID || def.ID != strings.TrimSpace(r.stdout) {
		t.Fatalf("defanged layers %+v, original %+v", def.Layers, orig.Layers)
	}
	if again := e.inspect(st, "example.com/orig:1"); again.ID != orig.ID || len(again.Layers) != 1 {
		t.Fatalf("the original changed: %+v", again)
	}
	if _, res, _ := parseAudit(t, e.storageOK(st, "audit", "image", "--format", "json", "example.com/orig:defanged")).finding(t, "IMG-SETUID"); res != "pass" {
		t.Fatalf("defanged IMG-SETUID = %s", res)
	}
	if _, res, _ := parseAudit(t, e.storageOK(st, "audit", "image", "--format", "json", "example.com/orig:1")).finding(t, "IMG-SETUID"); res != "fail" {
		t.Fatalf("original IMG-SETUID = %s", res)
	}
	out := e.storage(st, "run", "--rm", "example.com/orig:defanged", "/bin/busybox", "stat", "-c", "%a %u", "/bin/su")
	if out.code != 0 || out.stdout != "755 0\n" {
		t.Fatalf("stat /bin/su in the defanged image: exit %d %q %q", out.code, out.stdout, out.stderr)
	}
	if out := e.storage(st, "run", "--rm", "example.com/orig:defanged", "/bin/sh", "-c", "true"); out.code != 127 {
		t.Fatalf("/bin/sh in an image defanged with --strip-shells: exit %d, want 127 (not found)\n%s", out.code, out.stderr)
	}
	if r := e.storage(st, "defang", "example.com/orig:1"); r.code != 125 || !strings.Contains(r.stderr, "--tag") {
		t.Fatalf("defang without --tag: exit %d %q", r.code, r.stderr)
	}
}

// policyImage is busybox with a setuid-root program outside the default
// allow-list and a token in ENV, imported into a store of its own.
func policyImage(t *testing.T, e *env) (storage, ref string) {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	must(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "tmp/"} {
		must(t, tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}))
	}
	for _, f := range []struct {
		name string
		mode int64
	}{{"bin/busybox", 0o755}, {"bin/evil", 0o4755}} {
		must(t, tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: f.mode, Size: int64(len(bb))}))
		_, err := tw.Write(bb)
		must(t, err)
	}
	must(t, tw.Close())
	storage = t.TempDir()
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	must(t, os.WriteFile(file, buf.Bytes(), 0o644))
	ref = "example.com/policy:1"
	e.storageOK(storage, "import", file, ref)
	return storage, ref
}

// The image policy at run: warn by default, refuse stops the image
// before any container exists, a config file sets the mode and the
// allow-list, the audit is cached per image.
func TestImagePolicyAtRun(t *testing.T) {
	e := newEnv(t)
	st, ref := policyImage(t, e)
	t.Setenv("TIRITH_CONFIG", filepath.Join(t.TempDir(), "absent.json"))

	r := e.storage(st, "run", "--rm", ref, "/bin/busybox", "true")
	if r.code != 0 || !strings.Contains(r.stderr, "tirith: warning: image policy: IMG-SETUID (high)") || !strings.Contains(r.stderr, "/bin/evil (owner 0:0, mode 4755") {
		t.Fatalf("default (warn): exit %d\n%s", r.code, r.stderr)
	}
	cached, _ := filepath.Glob(filepath.Join(st, "audit", "*.json"))
	if len(cached) != 1 {
		t.Fatalf("audit cache: %v", cached)
	}
	if fi, err := os.Stat(cached[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file mode: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(st, "audit")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir mode: %v %v", fi.Mode(), err)
	}

	r = e.storage(st, "run", "--rm", "--image-policy", "refuse", "--name", "never", ref, "/bin/busybox", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "refused by the image policy") || !strings.Contains(r.stderr, "/bin/evil") {
		t.Fatalf("--image-policy refuse: exit %d\n%s", r.code, r.stderr)
	}
	ents, _ := os.ReadDir(filepath.Join(st, "containers"))
	for _, en := range ents {
		if !strings.HasPrefix(en.Name(), ".") {
			t.Fatalf("a refused run left container %s", en.Name())
		}
	}
	if out := e.storageOK(st, "ps", "-a", "-q"); out != "" {
		t.Fatalf("ps -a after a refused run: %q", out)
	}

	// The config file: refuse by default, the flag overrides it, the
	// allow-list silences the program.
	cfg := filepath.Join(t.TempDir(), "config.json")
	t.Setenv("TIRITH_CONFIG", cfg)
	must(t, os.WriteFile(cfg, []byte(`{"imagePolicy": "refuse"}`), 0o644))
	if r := e.storage(st, "run", "--rm", ref, "/bin/busybox", "true"); r.code != 125 || !strings.Contains(r.stderr, "refused") {
		t.Fatalf("config refuse: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.storage(st, "run", "--rm", "--image-policy", "warn", ref, "/bin/busybox", "true"); r.code != 0 || !strings.Contains(r.stderr, "image policy") {
		t.Fatalf("--image-policy warn over a refusing config: exit %d\n%s", r.code, r.stderr)
	}
	must(t, os.WriteFile(cfg, []byte(`{"imagePolicy": "refuse", "allowSetuid": ["/bin/evil"]}`), 0o644))
	if r := e.storage(st, "run", "--rm", ref, "/bin/busybox", "true"); r.code != 0 || strings.Contains(r.stderr, "image policy") {
		t.Fatalf("allow-listed: exit %d\n%s", r.code, r.stderr)
	}
	must(t, os.WriteFile(cfg, []byte(`{"imagePolicy": "block"}`), 0o644))
	if r := e.storage(st, "run", "--rm", ref, "/bin/busybox", "true"); r.code != 125 || !strings.Contains(r.stderr, `imagePolicy: unknown mode "block"`) {
		t.Fatalf("bad config: exit %d\n%s", r.code, r.stderr)
	}
	if r := e.storage(st, "run", "--rm", "--image-policy", "off", ref, "/bin/busybox", "true"); r.code != 125 {
		t.Fatalf("a bad config file must fail even with --image-policy off: exit %d", r.code)
	}
	// system prune keeps the cache of a stored image, drops it with
	// the image.
	cached, _ = filepath.Glob(filepath.Join(st, "audit", "*.json"))
	e.storageOK(st, "system", "prune", "-f")
	if after, _ := filepath.Glob(filepath.Join(st, "audit", "*.json")); len(after) != len(cached) || len(after) == 0 {
		t.Fatalf("system prune with the image stored: cache %v -> %v", cached, after)
	}
	e.storageOK(st, "rmi", ref)
	e.storageOK(st, "system", "prune", "-f")
	if after, _ := filepath.Glob(filepath.Join(st, "audit", "*.json")); len(after) != 0 {
		t.Fatalf("system prune after rmi left the cache: %v", after)
	}
	st, ref = policyImage(t, e)
	must(t, os.Remove(cfg))
	if r := e.storage(st, "run", "--rm", "--image-policy", "off", ref, "/bin/busybox", "true"); r.code != 0 || strings.Contains(r.stderr, "image policy") {
		t.Fatalf("--image-policy off: exit %d\n%s", r.code, r.stderr)
	}
}

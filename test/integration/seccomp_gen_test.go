package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/testutil"
)

// scgenImage imports an image holding the given host files (at /NAME)
// into a fresh store and returns the store.
func scgenImage(t *testing.T, e *env, ref string, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []string{"bin", "etc", "proc", "dev", "sys", "run", "tmp"} {
		must(t, tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}))
	}
	passwd := []byte("root:x:0:0:root:/:/bin/false\n")
	must(t, tw.WriteHeader(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd)), ModTime: now}))
	_, err := tw.Write(passwd)
	must(t, err)
	for name, host := range files {
		data, err := os.ReadFile(host)
		must(t, err)
		must(t, tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), ModTime: now}))
		_, err = tw.Write(data)
		must(t, err)
	}
	must(t, tw.Close())
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	must(t, os.WriteFile(file, buf.Bytes(), 0o644))
	st := t.TempDir()
	e.storageOK(st, "import", file, ref)
	return st
}

// TestSeccompGenerateFromBinary generates a profile from a Go program with
// the static analysis, runs the program under it, and checks that the
// profile refuses syscalls the program never makes, in another program
// run under the same profile.
func TestSeccompGenerateFromBinary(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	goprog, keyctl := filepath.Join(dir, "goprog"), filepath.Join(dir, "gokeyctl")
	for out, pkg := range map[string]string{goprog: "goprog", keyctl: "gokeyctl"} {
		if err := build(out, "./internal/seccomp/static/testdata/"+pkg, []string{"CGO_ENABLED=0"}); err != nil {
			t.Fatal(err)
		}
	}
	const ref = "example.com/scgen:1"
	st := scgenImage(t, e, ref, map[string]string{"goprog": goprog, "gokeyctl": keyctl})

	profile := filepath.Join(dir, "goprog.json")
	r := e.frontEnd(nil, "seccomp", "generate", "--from-binary", goprog, "--strict", "--out", profile)
	if r.code != 0 {
		t.Fatalf("generate: exit %d\n%s", r.code, r.stderr)
	}
	t.Logf("generate: %s", r.stderr)
	data, err := os.ReadFile(profile)
	must(t, err)
	for _, want := range []string{`"personality"`, `"getpid"`, `"execve"`, "from: static: main.main"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("profile lacks %s", want)
		}
	}
	for _, not := range []string{`"keyctl"`, `"ptrace"`, `"kexec_load"`, `"mount"`} {
		if bytes.Contains(data, []byte(not)) {
			t.Errorf("profile allows %s", not)
		}
	}
	if r := e.frontEnd(nil, "seccomp", "check", profile); r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("seccomp check: %d %s %s", r.code, r.stdout, r.stderr)
	}

	// The program does its work under its profile: personality (the
	// query) is allowed, mount is refused (the default profile refuses it
	// too, and the program does not depend on it).
	run := func(secopt string, cmd ...string) result {
		t.Helper()
		return e.frontEnd(nil, append([]string{"--storage", st, "run", "--rm", "--security-opt", secopt, ref}, cmd...)...)
	}
	r = run("seccomp="+profile, "/goprog")
	if r.code != 0 || !strings.Contains(r.stdout, "personality 0x0") || !strings.Contains(r.stdout, "mount true") {
		t.Fatalf("goprog under its profile: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	// keyctl works without a filter, and not under goprog's profile.
	r = run("seccomp=unconfined", "/gokeyctl")
	if r.code != 0 || !strings.Contains(r.stdout, "keyctl ok") {
		t.Fatalf("gokeyctl unconfined: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	r = run("seccomp="+profile, "/gokeyctl")
	if r.code != 0 || !strings.Contains(r.stdout, "keyctl EPERM") || !strings.Contains(r.stdout, "ptrace EPERM") {
		t.Fatalf("gokeyctl under goprog's profile: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// profileNames returns the syscalls a generated profile names, with the
// comment of their (first) rule.
func profileNames(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	var p struct {
		Syscalls []struct {
			Names   []string `json:"names"`
			Comment string   `json:"comment"`
		} `json:"syscalls"`
	}
	must(t, json.Unmarshal(data, &p))
	out := map[string]string{}
	for _, r := range p.Syscalls {
		for _, n := range r.Names {
			if _, ok := out[n]; !ok {
				out[n] = r.Comment
			}
		}
	}
	return out
}

// TestSeccompGenerateTrace records a Go program's syscalls with the
// user-notification recorder, checks that the runtime's own syscalls are
// not among them, runs the program under the result, and merges a second
// program's run into it.
func TestSeccompGenerateTrace(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	goprog, keyctl := filepath.Join(dir, "goprog"), filepath.Join(dir, "gokeyctl")
	for out, pkg := range map[string]string{goprog: "goprog", keyctl: "gokeyctl"} {
		if err := build(out, "./internal/seccomp/static/testdata/"+pkg, []string{"CGO_ENABLED=0"}); err != nil {
			t.Fatal(err)
		}
	}
	const ref = "example.com/sctrace:1"
	st := scgenImage(t, e, ref, map[string]string{"goprog": goprog, "gokeyctl": keyctl})
	profile := filepath.Join(dir, "traced.json")

	r := e.frontEnd(nil, "--storage", st, "seccomp", "generate", "--trace", "--out", profile, ref, "/goprog")
	if r.code != 0 || !strings.Contains(r.stdout, "personality 0x0") {
		t.Fatalf("trace: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "wall 3 (syscalls): the recording filter") {
		t.Errorf("the trace's relaxation is not printed: %s", r.stderr)
	}
	names := profileNames(t, profile)
	traced := 0
	for _, c := range names {
		if strings.Contains(c, "trace: "+ref) {
			traced++
		}
	}
	t.Logf("goprog: %d syscalls traced, %d in the profile", traced, len(names))
	for _, n := range []string{"personality", "execve", "write", "openat", "exit_group"} {
		if !strings.Contains(names[n], "trace: "+ref+" /goprog") {
			t.Errorf("%s not recorded (rule comment %q)", n, names[n])
		}
	}
	// The runtime's own work before the filter, and goprog's never-made
	// calls, are not recorded.
	for _, n := range []string{"pivot_root", "sethostname", "capset", "seccomp", "unshare", "setns", "keyctl", "ptrace", "landlock_restrict_self"} {
		if c, ok := names[n]; ok {
			t.Errorf("%s in the traced profile (%s)", n, c)
		}
	}
	// The static analysis finds everything the trace saw.
	sp := filepath.Join(dir, "static.json")
	if r := e.frontEnd(nil, "seccomp", "generate", "--from-binary", goprog, "--strict", "--out", sp); r.code != 0 {
		t.Fatalf("generate --from-binary: %s", r.stderr)
	}
	static := profileNames(t, sp)
	for n, c := range names {
		if _, ok := static[n]; !ok && strings.Contains(c, "trace: "+ref) {
			t.Errorf("%s traced but not found statically", n)
		}
	}
	t.Logf("goprog: %d syscalls in the static profile, %d in the traced one", len(static), len(names))

	run := func(cmd string) result {
		t.Helper()
		return e.frontEnd(nil, "--storage", st, "run", "--rm", "--security-opt", "seccomp="+profile, ref, cmd)
	}
	if r := run("/goprog"); r.code != 0 || !strings.Contains(r.stdout, "personality 0x0") {
		t.Fatalf("goprog under its traced profile: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := run("/gokeyctl"); !strings.Contains(r.stdout, "keyctl EPERM") {
		t.Fatalf("gokeyctl under goprog's traced profile: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}

	// --merge adds gokeyctl's run; keyctl is refused by the default
	// profile, so it needs --beyond-default to be kept.
	r = e.frontEnd(nil, "--storage", st, "seccomp", "generate", "--trace", "--merge", "--beyond-default", "--out", profile, ref, "/gokeyctl")
	if r.code != 0 {
		t.Fatalf("trace --merge: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	merged := profileNames(t, profile)
	if !strings.Contains(merged["keyctl"], "trace: "+ref+" /gokeyctl") || !strings.Contains(merged["personality"], "trace: "+ref+" /goprog") {
		t.Errorf("merged profile: keyctl %q, personality %q", merged["keyctl"], merged["personality"])
	}
	if r := run("/gokeyctl"); !strings.Contains(r.stdout, "keyctl ok") {
		t.Fatalf("gokeyctl under the merged profile: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r := run("/goprog"); r.code != 0 {
		t.Fatalf("goprog under the merged profile: exit %d\nstderr: %s", r.code, r.stderr)
	}
}

// TestSeccompAuto runs with --security-opt seccomp=auto: the profile is
// generated from the entrypoint binary (goprog), cached under the store
// with private modes, and the default profile is kept, with a warning,
// for a binary whose analysis is incomplete (busybox).
func TestSeccompAuto(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	goprog := filepath.Join(dir, "goprog")
	if err := build(goprog, "./internal/seccomp/static/testdata/goprog", []string{"CGO_ENABLED=0"}); err != nil {
		t.Fatal(err)
	}
	const ref = "example.com/scauto:1"
	st := scgenImage(t, e, ref, map[string]string{"goprog": goprog, "bin/busybox": busybox})

	name := strings.ToLower(strings.ReplaceAll(e.id(), "_", "-"))
	r := e.frontEnd(nil, "--storage", st, "run", "--name", name, "--security-opt", "seccomp=auto", ref, "/goprog")
	if r.code != 0 || !strings.Contains(r.stdout, "personality 0x0") {
		t.Fatalf("goprog with seccomp=auto: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "seccomp=auto") {
		t.Errorf("unexpected warning: %s", r.stderr)
	}
	in := e.storageOK(st, "inspect", name)
	if !strings.Contains(in, `"Profile": "auto"`) {
		t.Errorf("inspect does not report the auto profile:\n%s", in)
	}
	e.storageOK(st, "rm", name)

	cacheDir := filepath.Join(st, "seccomp-auto")
	fi, err := os.Stat(cacheDir)
	must(t, err)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("cache dir mode %v, want 0700", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(cacheDir)
	must(t, err)
	if len(entries) != 1 {
		t.Fatalf("cache holds %d entries, want 1", len(entries))
	}
	info, err := entries[0].Info()
	must(t, err)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", info.Mode().Perm())
	}
	data, err := os.ReadFile(filepath.Join(cacheDir, entries[0].Name()))
	must(t, err)
	if !bytes.Contains(data, []byte(`personality`)) || bytes.Contains(data, []byte(`"accept4"`)) {
		t.Errorf("cached profile is not goprog's:\n%s", data)
	}

	// Without no_new_privs the filter would precede the runtime's setup.
	r = e.frontEnd(nil, "--storage", st, "run", "--rm", "--security-opt", "no-new-privileges=false", "--security-opt", "seccomp=auto", ref, "/goprog")
	if r.code != 0 || !strings.Contains(r.stderr, "seccomp=auto: no-new-privileges=false") {
		t.Errorf("seccomp=auto without no_new_privs: exit %d\nstderr: %s", r.code, r.stderr)
	}

	// busybox leaves sites unresolved: the default profile, with a warning.
	r = e.frontEnd(nil, "--storage", st, "run", "--rm", "--security-opt", "seccomp=auto", ref, "/bin/busybox", "echo", "hi")
	if r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("busybox with seccomp=auto: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "seccomp=auto: /bin/busybox: the analysis left") || !strings.Contains(r.stderr, "using the default profile") {
		t.Errorf("no fallback warning: %s", r.stderr)
	}
}

// TestSeccompGenerateHTTPServer: a static Go HTTP server serves a request
// (its own, over the container's loopback) under the profile generated
// from its binary and under the one traced from a run; both refuse what
// it never does.
func TestSeccompGenerateHTTPServer(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	srv := filepath.Join(dir, "gohttp")
	if err := build(srv, "./internal/seccomp/static/testdata/gohttp", []string{"CGO_ENABLED=0"}); err != nil {
		t.Fatal(err)
	}
	const ref = "example.com/schttp:1"
	st := scgenImage(t, e, ref, map[string]string{"gohttp": srv})
	static, traced := filepath.Join(dir, "static.json"), filepath.Join(dir, "traced.json")
	if r := e.frontEnd(nil, "seccomp", "generate", "--from-binary", srv, "--strict", "--out", static); r.code != 0 {
		t.Fatalf("generate --from-binary: %s", r.stderr)
	}
	if r := e.frontEnd(nil, "--storage", st, "seccomp", "generate", "--trace", "--out", traced, ref, "/gohttp"); r.code != 0 || r.stdout != "200 hello /served\n" {
		t.Fatalf("generate --trace: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, p := range []string{static, traced} {
		names := profileNames(t, p)
		t.Logf("%s: %d syscalls", filepath.Base(p), len(names))
		for _, n := range []string{"ptrace", "mount", "keyctl"} {
			if _, ok := names[n]; ok {
				t.Errorf("%s allows %s", filepath.Base(p), n)
			}
		}
		r := e.frontEnd(nil, "--storage", st, "run", "--rm", "--security-opt", "seccomp="+p, ref, "/gohttp")
		if r.code != 0 || r.stdout != "200 hello /served\n" {
			t.Errorf("gohttp under %s: exit %d\nstdout: %s\nstderr: %s", filepath.Base(p), r.code, r.stdout, r.stderr)
		}
	}
}

// TestSeccompGenerateC: a static C program under the profile generated
// from it (strict: every site resolved), and a dynamic one whose ld.so
// and libc come from the image's root (--rootfs).
func TestSeccompGenerateC(t *testing.T) {
	e := newEnv(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: the C program tests need it (apt-get install gcc libc6-dev)")
	}
	dir := t.TempDir()
	src := filepath.Join(testutil.ModuleRoot(), "internal/seccomp/static/testdata/cprog/main.c")
	cstatic, cdyn := filepath.Join(dir, "cstatic"), filepath.Join(dir, "cdyn")
	for out, flags := range map[string][]string{cstatic: {"-static"}, cdyn: nil} {
		if b, err := exec.Command("gcc", append(append([]string{"-O2", "-o", out}, flags...), src)...).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, b)
		}
	}
	// The dynamic program's libraries, at the paths it names.
	files := map[string]string{"cstatic": cstatic, "cdyn": cdyn}
	for _, lib := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"} {
		real, err := filepath.EvalSymlinks(lib)
		if err != nil {
			t.Skipf("%s: %v (the test copies the host's glibc)", lib, err)
		}
		files[strings.TrimPrefix(lib, "/")] = real
	}
	rootfs := filepath.Join(dir, "rootfs")
	for name, host := range files {
		must(t, os.MkdirAll(filepath.Join(rootfs, filepath.Dir(name)), 0o755))
		copyFile(t, host, filepath.Join(rootfs, name))
	}
	const ref = "example.com/scc:1"
	st := scgenImage(t, e, ref, map[string]string{
		"cstatic": cstatic, "cdyn": cdyn,
		"lib64/ld-linux-x86-64.so.2":     files["lib64/ld-linux-x86-64.so.2"],
		"lib/x86_64-linux-gnu/libc.so.6": files["lib/x86_64-linux-gnu/libc.so.6"],
	})

	run := func(profile, cmd string) {
		t.Helper()
		r := e.frontEnd(nil, "--storage", st, "run", "--rm", "--security-opt", "seccomp="+profile, ref, cmd)
		if r.code != 0 || r.stdout != "personality 0 pid 1\n" {
			t.Errorf("%s under %s: exit %d\nstdout: %q\nstderr: %s", cmd, filepath.Base(profile), r.code, r.stdout, r.stderr)
		}
	}
	ps := filepath.Join(dir, "cstatic.json")
	if r := e.frontEnd(nil, "seccomp", "generate", "--from-binary", cstatic, "--strict", "--out", ps); r.code != 0 {
		t.Fatalf("generate cstatic: %s", r.stderr)
	}
	names := profileNames(t, ps)
	t.Logf("static C program: %d syscalls in its profile", len(names))
	for _, n := range []string{"ptrace", "mount", "keyctl", "kexec_load"} {
		if _, ok := names[n]; ok {
			t.Errorf("cstatic's profile allows %s", n)
		}
	}
	run(ps, "/cstatic")

	pd := filepath.Join(dir, "cdyn.json")
	r := e.frontEnd(nil, "seccomp", "generate", "--from-binary", filepath.Join(rootfs, "cdyn"), "--rootfs", rootfs, "--out", pd)
	if r.code != 0 {
		t.Fatalf("generate cdyn: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "libc.so.6 analysed whole") || !strings.Contains(r.stderr, "3 file(s)") {
		t.Errorf("cdyn's libraries were not analysed from the rootfs: %s", r.stderr)
	}
	t.Logf("dynamic C program: %d syscalls in its profile", len(profileNames(t, pd)))
	run(pd, "/cdyn")
}

// TestRealImageTraceNginx traces nginx from the real Debian image serving
// its page (to curl, in the same container), and serves it again under
// the traced profile.
func TestRealImageTraceNginx(t *testing.T) {
	f := newDebian(t)
	script := "nginx -g 'daemon off;' & pid=$!; for i in $(seq 50); do curl -sf http://127.0.0.1/ && break; sleep 0.2; done; kill $pid; wait $pid; true"
	flags := []string{"--tmpfs", "/var/lib/nginx", "--tmpfs", "/var/log/nginx"}
	profile := filepath.Join(t.TempDir(), "nginx.json")
	args := append(append([]string{"seccomp", "generate", "--trace", "--out", profile}, flags...), f.image, "sh", "-c", script)
	r := f.fe(args...)
	if r.code != 0 || !strings.Contains(r.stdout, "Welcome to nginx") {
		t.Fatalf("trace: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	names := profileNames(t, profile)
	t.Logf("nginx traced: %s; %d syscalls in the profile", strings.TrimSpace(lastLine(r.stderr, "trace of")), len(names))
	for _, n := range []string{"accept4", "epoll_wait", "sendfile", "setgroups", "setuid"} {
		if _, ok := names[n]; !ok {
			t.Errorf("%s not recorded", n)
		}
	}
	if _, ok := names["ptrace"]; ok {
		t.Error("ptrace in nginx's traced profile")
	}
	r = f.fe(append(append(append([]string{"run", "--rm", "--security-opt", "seccomp=" + profile}, flags...), f.image), "sh", "-c", script)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Welcome to nginx") {
		t.Fatalf("nginx under its traced profile: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func lastLine(s, prefix string) string {
	out := ""
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, prefix) {
			out = l
		}
	}
	return out
}

// postgres traced from the real-image tier: initdb, a server, a query
// over 127.0.0.1, a clean stop, all as the image's postgres user; then the
// same work under the traced profile.
func TestRealImageTracePostgres(t *testing.T) {
	f := newDebian(t)
	const bin = "/usr/lib/postgresql/15/bin"
	script := bin + "/initdb -D /tmp/data >/dev/null && " +
		bin + "/pg_ctl -D /tmp/data -o '-c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp' -w start >/dev/null && " +
		"psql -h 127.0.0.1 -U postgres -Atc 'select 6*7'; " + bin + "/pg_ctl -D /tmp/data -m fast -w stop >/dev/null"
	profile := filepath.Join(t.TempDir(), "postgres.json")
	r := f.fe("seccomp", "generate", "--trace", "--out", profile, "-u", "postgres", f.image, "sh", "-c", script)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "42" {
		t.Fatalf("trace: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	names := profileNames(t, profile)
	t.Logf("postgres traced: %s; %d syscalls in the profile", strings.TrimSpace(lastLine(r.stderr, "trace of")), len(names))
	// What a postgres server cannot do without: accept the client, its
	// System V interlock segment, initdb's and the checkpoint's syncs.
	for _, alts := range [][]string{{"accept", "accept4"}, {"shmget"}, {"fsync", "fdatasync"}} {
		found := false
		for _, n := range alts {
			_, ok := names[n]
			found = found || ok
		}
		if !found {
			t.Errorf("none of %v recorded", alts)
		}
	}
	for _, n := range []string{"ptrace", "mount", "keyctl"} {
		if _, ok := names[n]; ok {
			t.Errorf("%s in postgres's traced profile", n)
		}
	}
	r = f.fe("run", "--rm", "--security-opt", "seccomp="+profile, "-u", "postgres", f.image, "sh", "-c", script)
	if r.code != 0 || strings.TrimSpace(r.stdout) != "42" {
		t.Fatalf("postgres under its traced profile: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

package static

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/seccomp/profgen"
	"github.com/tirith-project/tirith/internal/testutil"
)

// goBuild builds a test program with extra go build flags.
func goBuild(t *testing.T, pkg string, flags ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, flags...), "./internal/seccomp/static/testdata/"+pkg)...)
	cmd.Dir = testutil.ModuleRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// cBuild compiles testdata/cprog with gcc and flags.
func cBuild(t *testing.T, name string, flags ...string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: the C binary tests need it (apt-get install gcc)")
	}
	out := filepath.Join(t.TempDir(), name)
	args := append(append([]string{"-O2", "-o", out}, flags...), filepath.Join(testutil.ModuleRoot(), "internal/seccomp/static/testdata/cprog/main.c"))
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		if slices.Contains(flags, "-static") && strings.Contains(string(b), "cannot find -lc") {
			t.Skip("no static libc (apt-get install libc6-dev)")
		}
		t.Fatalf("gcc %v: %v\n%s", args, err, b)
	}
	return out
}

func analyze(t *testing.T, path string, opt Options) *Result {
	t.Helper()
	r, err := Analyze(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s): %d syscalls, %d functions, %d files, %s", filepath.Base(path), r.Kind, len(r.Syscalls), r.Functions, len(r.Objects), r.Elapsed)
	return r
}

func requireSyscalls(t *testing.T, r *Result, want, not []string) {
	t.Helper()
	for _, n := range want {
		if _, ok := r.Syscalls[n]; !ok {
			t.Errorf("%s: %s not found; found %v", filepath.Base(r.Path), n, r.Names())
		}
	}
	for _, n := range not {
		if o, ok := r.Syscalls[n]; ok {
			t.Errorf("%s: %s found (from %v), but the program never makes it", filepath.Base(r.Path), n, o)
		}
	}
}

// straced runs path under strace -f -c and returns the syscall names seen.
func straced(t *testing.T, path string, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace not installed: the superset check needs Debian's strace")
	}
	out := filepath.Join(t.TempDir(), "strace")
	cmd := exec.Command("strace", append([]string{"-f", "-qq", "-c", "-U", "name", "-o", out, path}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("strace %s: %v\n%s", path, err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 1 || strings.HasPrefix(fields[0], "-") || fields[0] == "syscall" || fields[0] == "total" {
			continue
		}
		names = append(names, fields[0])
	}
	if len(names) == 0 {
		t.Fatalf("strace saw no syscalls in %s", out)
	}
	return names
}

// requireSuperset checks that everything strace saw the program make,
// but its first execve (made by strace's child), was found statically.
func requireSuperset(t *testing.T, r *Result, seen []string) {
	t.Helper()
	var missing []string
	for _, n := range seen {
		if _, ok := r.Syscalls[n]; !ok && n != "execve" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: strace saw %v, which the static analysis did not find", filepath.Base(r.Path), missing)
	}
	t.Logf("%s: %d syscalls static, %d seen by strace -f -c", filepath.Base(r.Path), len(r.Syscalls), len(seen))
}

func TestGoProgram(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"plain", nil},
		{"stripped", []string{"-ldflags=-s -w"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := goBuild(t, "goprog", tc.flags...)
			r := analyze(t, bin, Options{})
			if r.Kind != KindGo {
				t.Errorf("kind %s, want go", r.Kind)
			}
			if !r.Complete() {
				t.Errorf("unresolved sites: %v", r.Unresolved)
			}
			requireSyscalls(t, r, []string{"personality", "mount", "getpid", "write", "exit_group", "mmap", "futex", "clone"},
				[]string{"kexec_load", "keyctl", "ptrace", "bpf", "init_module", "reboot"})
			// personality's number arrives through unix.Syscall's argument.
			if o := strings.Join(r.Syscalls["personality"], "|"); !strings.Contains(o, "main.main") {
				t.Errorf("personality origin %q does not name main.main", o)
			}
			requireSuperset(t, r, straced(t, bin))
		})
	}
}

func TestGoHTTPServer(t *testing.T) {
	bin := goBuild(t, "gohttp")
	r := analyze(t, bin, Options{})
	if !r.Complete() {
		t.Errorf("unresolved sites: %v", r.Unresolved)
	}
	requireSyscalls(t, r, []string{"socket", "bind", "listen", "accept4", "connect", "epoll_pwait", "setsockopt", "getsockname"},
		[]string{"kexec_load", "keyctl", "ptrace", "mount", "bpf"})
	requireSuperset(t, r, straced(t, bin))
}

func TestGoKeyctl(t *testing.T) {
	r := analyze(t, goBuild(t, "gokeyctl"), Options{})
	requireSyscalls(t, r, []string{"keyctl", "ptrace"}, []string{"personality", "mount", "kexec_load"})
}

func TestStaticC(t *testing.T) {
	bin := cBuild(t, "cprog", "-static")
	r := analyze(t, bin, Options{})
	if r.Kind != KindStatic {
		t.Errorf("kind %s, want static", r.Kind)
	}
	if !r.Complete() {
		t.Errorf("unresolved sites: %v", r.Unresolved)
	}
	requireSyscalls(t, r, []string{"personality", "getpid", "write", "exit_group"}, []string{"kexec_load", "keyctl", "ptrace", "mount", "bpf"})
	if o := strings.Join(r.Syscalls["personality"], "|"); !strings.Contains(o, "main → syscall") {
		t.Errorf("personality origin %q: want the call of syscall(2) from main", o)
	}
	requireSuperset(t, r, straced(t, bin))

	// syscall(2) with a number from argv is reported, with its caller.
	r = analyze(t, cBuild(t, "cvar", "-static", "-DVARIABLE"), Options{})
	if len(r.Unresolved) != 1 || r.Unresolved[0].Func != "main" {
		t.Fatalf("unresolved %v, want the one in main", r.Unresolved)
	}
	if _, _, err := r.Profile(true); !errors.As(err, new(*IncompleteError)) || !strings.Contains(err.Error(), "main at 0x") {
		t.Errorf("strict: %v, want an IncompleteError naming main", err)
	}
	p, warnings, err := r.Profile(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Extra) == 0 || !strings.Contains(strings.Join(warnings, "\n"), "safe superset") {
		t.Errorf("default mode: extra %d rules, warnings %v; want the default profile added and a warning", len(p.Extra), warnings)
	}
}

func TestDynamicC(t *testing.T) {
	bin := cBuild(t, "cdyn")
	r := analyze(t, bin, Options{})
	if r.Kind != KindDynamic || r.Complete() {
		t.Fatalf("without --rootfs: kind %s, complete %v; want dynamic and incomplete", r.Kind, r.Complete())
	}
	// The host's root holds the libraries this binary was linked with.
	r = analyze(t, bin, Options{Rootfs: "/"})
	if len(r.Objects) < 3 {
		t.Errorf("objects %v: want the binary, ld.so and libc", r.Objects)
	}
	requireSyscalls(t, r, []string{"personality", "getpid", "write", "exit_group", "openat", "mmap"}, nil)
	// syscall(2) through the PLT is resolved in the program.
	if o := strings.Join(r.Syscalls["personality"], "|"); !strings.Contains(o, "main → syscall") {
		t.Errorf("personality origin %q: want main's call of syscall through the PLT", o)
	}
	requireSuperset(t, r, straced(t, bin))

	// A rootfs without the libraries leaves the analysis incomplete.
	r = analyze(t, bin, Options{Rootfs: t.TempDir()})
	if r.Complete() || !strings.Contains(r.Unresolved[0].Why, "not found in the rootfs") {
		t.Errorf("empty rootfs: unresolved %v", r.Unresolved)
	}
}

func TestBusybox(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not found: install Debian's busybox-static")
	}
	r := analyze(t, bb, Options{})
	requireSyscalls(t, r, []string{"mount", "execve", "vfork", "wait4", "sethostname", "socket"}, []string{"kexec_load", "bpf", "io_uring_setup"})
	requireSuperset(t, r, straced(t, bb, "sh", "-c", "echo hi > /dev/null; ls / > /dev/null; cat /proc/self/status > /dev/null"))
}

func TestProfileWrite(t *testing.T) {
	r := analyze(t, goBuild(t, "goprog"), Options{})
	p, warnings, err := r.Profile(true)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("strict profile: %v %v", err, warnings)
	}
	data, refused, err := profgen.Write(p)
	if err != nil {
		t.Fatal(err)
	}
	// mount is refused by the default profile: left out unless asked.
	if !slices.Equal(refused, []string{"mount"}) {
		t.Errorf("refused %v, want [mount]", refused)
	}
	back, err := profgen.Read(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"personality", "clone", "execve", "write"} {
		if len(back[n]) == 0 {
			t.Errorf("%s missing from the written profile", n)
		}
	}
	if _, ok := back["mount"]; ok {
		t.Error("mount written without --beyond-default")
	}
	if !strings.Contains(string(data), `"comment": "from: static: main.main`) {
		t.Errorf("personality's origin is not in the profile:\n%s", data)
	}
	p.BeyondDefault = true
	data, refused, err = profgen.Write(p)
	if err != nil || len(refused) > 0 {
		t.Fatal(err, refused)
	}
	if back, _ := profgen.Read(data); len(back["mount"]) == 0 {
		t.Error("mount missing with BeyondDefault")
	}
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(goBuild(t, "goprog"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("#!/bin/sh\necho hi\n"),
		"truncated": good[:4096],
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Analyze(p, Options{}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err %v, want an error naming the file", name, err)
		}
	}
}

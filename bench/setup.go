package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/seccomp"
)

// rt is one runtime under test.
type rt struct {
	name string
	bin  string
	root string // its --root
}

// env is everything set up once.
type env struct {
	dir      string // work dir
	modRoot  string
	tirith   *rt    // as tirith-runc: runc's grammar, as runc and crun are driven
	feBin    string // the same binary as tirith: the front end
	runc     *rt
	crun     *rt
	rts      []*rt             // runc, crun, tirith
	bundles  map[string]string // variant -> bundle dir
	rootfs   string
	facts    []string // machine facts for the report
	notes    []string // adaptations worth saying in the report
	kernel   string
	mobyRule int // rules in the resolved moby profile
	tirRule  int // rules in Tirith's default profile
}

// Config variants: they differ only in process.args and linux.seccomp.
const (
	vTrue       = "true"        // /bin/true, no seccomp (runc spec has none)
	vTrueMoby   = "true-moby"   // /bin/true, moby's default profile
	vTrueTirith = "true-tirith" // /bin/true, Tirith's default profile
	vSleep      = "sleep"       // sleep 100, no seccomp
	vSCNone     = "sc-none"     // syscallbench, no seccomp
	vSCMoby     = "sc-moby"
	vSCTirith   = "sc-tirith"
)

const mobyProfile = "/usr/share/containers/seccomp.json"

func setup(o *options) (*env, error) {
	dir, err := os.MkdirTemp("", "tirith-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, bundles: map[string]string{}}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return e, fmt.Errorf("go env GOMOD: run from inside the tirith module (%v)", err)
	}
	e.modRoot = filepath.Dir(strings.TrimSpace(string(out)))

	// Binaries.
	logf("building tirith, probe and syscallbench in %s", dir)
	bin := filepath.Join(dir, "bin")
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{bin, rootfs + "/bin", rootfs + "/proc", rootfs + "/dev", rootfs + "/sys", rootfs + "/tmp", rootfs + "/etc"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return e, err
		}
	}
	if err := goBuild(e.modRoot, "", filepath.Join(bin, "tirith"), "./cmd/tirith"); err != nil {
		return e, err
	}
	// The name picks the grammar: the OCI runtime is tirith-runc.
	e.feBin = filepath.Join(bin, "tirith")
	if err := os.Symlink("tirith", filepath.Join(bin, "tirith-runc")); err != nil {
		return e, err
	}
	if err := goBuild(e.modRoot, "0", filepath.Join(rootfs, "probe"), "./test/probe"); err != nil {
		return e, err
	}
	if err := goBuild(e.modRoot, "0", filepath.Join(rootfs, "syscallbench"), "./bench/syscallbench"); err != nil {
		return e, err
	}

	// Rootfs: busybox-static and its applets, the probe, syscallbench.
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return e, fmt.Errorf("busybox not found: apt-get install busybox-static")
	}
	if err := copyFile(bb, filepath.Join(rootfs, "bin/busybox"), 0o755); err != nil {
		return e, err
	}
	list, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return e, fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(list)) {
		if a == "busybox" {
			continue
		}
		_ = os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	if err := probeStatic(filepath.Join(rootfs, "bin/busybox")); err != nil {
		return e, err
	}
	e.rootfs = rootfs

	// Runtimes.
	for _, r := range []struct{ name, bin string }{{"runc", ""}, {"crun", ""}, {"tirith", filepath.Join(bin, "tirith-runc")}} {
		b := r.bin
		if b == "" {
			if b, err = exec.LookPath(r.name); err != nil {
				return e, err
			}
		}
		x := &rt{name: r.name, bin: b, root: filepath.Join(dir, "root-"+r.name)}
		if err := os.MkdirAll(x.root, 0o700); err != nil {
			return e, err
		}
		e.rts = append(e.rts, x)
	}
	e.runc, e.crun, e.tirith = e.rts[0], e.rts[1], e.rts[2]

	if err := e.configs(o); err != nil {
		return e, err
	}
	e.gatherFacts()
	return e, nil
}

// configs writes one bundle per variant; every bundle's root.path is the
// one shared rootfs.
func (e *env) configs(o *options) error {
	// The base: `runc spec`, adapted.
	tmp := filepath.Join(e.dir, "runc-spec")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command(e.runc.bin, "spec", "--bundle", tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	var base specs.Spec
	if err := readJSON(filepath.Join(tmp, "config.json"), &base); err != nil {
		return err
	}
	base.Process.Terminal = false
	base.Root.Path = e.rootfs
	base.Root.Readonly = true
	base.Hostname = "bench"
	caps := base.Process.Capabilities.Bounding

	// Tirith's default profile: `tirith spec`'s linux.seccomp.
	ts := filepath.Join(e.dir, "tirith-spec")
	if err := os.MkdirAll(ts, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command(e.tirith.bin, "spec", "--bundle", ts).CombinedOutput(); err != nil {
		return fmt.Errorf("tirith spec: %v: %s", err, out)
	}
	var tspec specs.Spec
	if err := readJSON(filepath.Join(ts, "config.json"), &tspec); err != nil {
		return err
	}
	if tspec.Linux == nil || tspec.Linux.Seccomp == nil {
		return fmt.Errorf("tirith spec: no linux.seccomp")
	}
	tirithProf := tspec.Linux.Seccomp

	// moby's default, resolved for this container's capabilities, arch
	// and kernel by Tirith's own parser.
	data, err := os.ReadFile(mobyProfile)
	if err != nil {
		return fmt.Errorf("%w (Debian: apt-get install golang-github-containers-common)", err)
	}
	prof, err := seccomp.ParseProfile(data)
	if err != nil {
		return fmt.Errorf("%s: %w", mobyProfile, err)
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	e.kernel = unix.ByteSliceToString(uts.Release[:])
	moby := prof.Resolve(caps, runtime.GOARCH, e.kernel)
	e.mobyRule, e.tirRule = len(moby.Syscalls), len(tirithProf.Syscalls)

	variants := []struct {
		name string
		args []string
		sc   *specs.LinuxSeccomp
	}{
		{vTrue, []string{"/bin/true"}, nil},
		{vTrueMoby, []string{"/bin/true"}, moby},
		{vTrueTirith, []string{"/bin/true"}, tirithProf},
		{vSleep, []string{"/bin/sleep", "100"}, nil},
		{vSCNone, []string{"/syscallbench", "-n", fmt.Sprint(o.iters)}, nil},
		{vSCMoby, []string{"/syscallbench", "-n", fmt.Sprint(o.iters)}, moby},
		{vSCTirith, []string{"/syscallbench", "-n", fmt.Sprint(o.iters)}, tirithProf},
	}
	for _, v := range variants {
		s := base // shallow copy: only Process and Linux change
		p := *base.Process
		p.Args = v.args
		s.Process = &p
		l := *base.Linux
		l.Seccomp = v.sc
		s.Linux = &l
		b := filepath.Join(e.dir, "bundles", v.name)
		if err := os.MkdirAll(b, 0o755); err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(b, "config.json"), &s); err != nil {
			return err
		}
		e.bundles[v.name] = b
	}
	return nil
}

func (e *env) gatherFacts() {
	var cpu string
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mode := "v1 (legacy)"
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		mode = "v2 (unified)"
	} else if unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		mode = "hybrid (v1 controllers + v2 at /sys/fs/cgroup/unified)"
	}
	e.facts = append(e.facts,
		"kernel: `"+e.kernel+"`",
		fmt.Sprintf("cores: %d (%s)", runtime.NumCPU(), cpu),
		"cgroups: "+mode,
		"go: "+runtime.Version()+" (harness and tirith build)",
	)
	for _, r := range e.rts {
		out, _ := exec.Command(r.bin, "--version").CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		v := lines[0]
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "commit:") || strings.HasPrefix(l, "libseccomp") || strings.HasPrefix(l, "go:") {
				v += "; " + l
			}
			if strings.HasPrefix(l, "+") && r.name == "crun" {
				v += "; features " + l
			}
		}
		e.facts = append(e.facts, fmt.Sprintf("%s: `%s` (%s)", r.name, r.bin, v))
	}
	if out, err := exec.Command("git", "-C", e.modRoot, "describe", "--always", "--dirty").Output(); err == nil {
		e.facts = append(e.facts, "tirith tree: `"+strings.TrimSpace(string(out))+"`")
	}
}

func goBuild(dir, cgo, out, pkg string) error {
	cmd := exec.Command("go", "build", "-tags", "netgo,osusergo", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if cgo != "" {
		cmd.Env = append(cmd.Env, "CGO_ENABLED="+cgo)
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}

// probeStatic makes sure the busybox in the rootfs needs no libc.
func probeStatic(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if bytes.Contains(data, []byte("/lib64/ld-linux")) || bytes.Contains(data, []byte("/lib/ld-linux")) {
		return fmt.Errorf("%s is dynamically linked: apt-get install busybox-static", path)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

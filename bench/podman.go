package main

// Measurement 7: the front ends. `tirith run IMAGE` against `podman run
// IMAGE` on one image loaded into both from the same docker-archive, runs
// interleaved, plus `tirith run tirith/demo` (the built-in image) for
// reference. Podman is optional: without it the section says how to
// install it and is skipped; no failure here fails the other sections.

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// feImage is the image both front ends run: fully qualified, so that
// neither podman's short-name resolution nor Tirith's normalisation
// (docker.io/library/...) can make the two differ.
const feImage = "localhost/tirith-bench:latest"

// podmanGlobal are podman's global flags for the benchmark (after --root
// and --runroot); see frontEndFlagsDoc.
var podmanGlobal = []string{"--cgroup-manager", "cgroupfs", "--events-backend", "file"}

// podmanNproc is the RLIMIT_NPROC podman sets on itself at start.
const podmanNproc = 32768

// frontEndFlagsDoc explains the podman command line in the report.
const frontEndFlagsDoc = `Podman's flags, and why:

- ` + "`--root DIR --runroot DIR --tmpdir DIR`" + `: a throw-away image store, run state and libpod state under the harness's work dir, so that the host's ` + "`/var/lib/containers`" + ` and ` + "`/run/containers`" + ` are neither used nor changed (Tirith gets its own ` + "`--storage`" + ` and ` + "`--root`" + ` the same way).
- ` + "`--storage-driver overlay`" + ` (` + "`vfs`" + ` if overlay cannot be mounted here): overlay is podman's default as root and what a user gets; it is also what keeps ` + "`run`" + ` from copying the image per container.
- ` + "`--cgroup-manager cgroupfs`" + `: there is no systemd on this machine, so podman's default (systemd) cannot work; Tirith uses cgroupfs too.
- ` + "`--events-backend file`" + `: podman's default events backend is journald, absent here.
- ` + "`run --rm --network none`" + `: remove the container when it exits, like ` + "`tirith run --rm`" + `; no network, which is Tirith's default (loopback only), so that neither side pays for a network (podman's default as root would attach a bridge network through netavark or CNI).
- ` + "`--ulimit nofile=SOFT:HARD --ulimit nproc=SOFT:HARD`" + `: the harness's own limits (nproc capped at 32768, the limit podman 4.3 sets on itself when it starts (seen with strace), which conmon and the runtime inherit), so the container keeps its caller's limits, as Tirith's does (it sets no rlimit unless asked). Podman's defaults raise both (nofile to 1048576, nproc higher still; ` + "`--ulimit host`" + ` too), which needs CAP_SYS_RESOURCE; where that capability is missing (a container host or a sandbox, like this machine) ` + "`podman run`" + ` otherwise fails with crun's "setrlimit ` + "`RLIMIT_NOFILE`" + ` (or ` + "`RLIMIT_NPROC`" + `): Operation not permitted".
- Everything else is podman's default: its default OCI runtime (reported above), its default seccomp profile, capabilities and ` + "`--pids-limit 2048`" + `; no user namespace, no memory limit. Tirith's defaults are stricter and cost more to set up: a private user-namespace range (` + "`--userns=auto`" + `), a read-only rootfs, a 512 MiB memory and 1024 pids limit, its seccomp profile and a Landlock ruleset. The comparison is each front end as shipped, not equal work.`

// frontEnd holds measurement 7.
type frontEnd struct {
	lat        samples // "tirith/run", "podman/run", "demo/run" in ms
	loadMs     map[string]float64
	podmanVer  string
	podmanRT   string // runtime name, path and version podman uses
	driver     string // podman storage driver used
	skipReason string // whole section skipped (podman absent, or Tirith's front end failed)
	podmanSkip string // podman part skipped or failed; tirith figures still valid
	warmups    int
	ulimits    []string // podman's --ulimit flags: the harness's own RLIMIT_NOFILE and RLIMIT_NPROC
}

// podmanCmd builds a podman command with the harness's global flags.
func (e *env) podmanCmd(bin, driver string, args ...string) *exec.Cmd {
	g := []string{
		"--root", filepath.Join(e.dir, "podman-root"),
		"--runroot", filepath.Join(e.dir, "podman-runroot"),
		"--tmpdir", filepath.Join(e.dir, "podman-tmp"),
		"--storage-driver", driver,
	}
	g = append(g, podmanGlobal...)
	return exec.Command(bin, append(g, args...)...)
}

// tirithFE builds a front-end tirith command with its own store and state.
func (e *env) tirithFE(args ...string) *exec.Cmd {
	g := []string{"--storage", filepath.Join(e.dir, "fe-storage"), "--root", filepath.Join(e.dir, "fe-root")}
	return exec.Command(e.feBin, append(g, args...)...)
}

func (e *env) frontEnds(o *options) *frontEnd {
	f := &frontEnd{lat: samples{}, loadMs: map[string]float64{}, warmups: 2}
	for _, l := range []struct {
		name string
		res  int
	}{{"nofile", unix.RLIMIT_NOFILE}, {"nproc", unix.RLIMIT_NPROC}} {
		var rl unix.Rlimit
		if err := unix.Getrlimit(l.res, &rl); err != nil {
			f.skipReason = "getrlimit: " + err.Error()
			return f
		}
		if l.res == unix.RLIMIT_NPROC {
			// podman lowers its own RLIMIT_NPROC to 32768 when it starts
			// (strace: setrlimit(RLIMIT_NPROC, 32768)); conmon and the
			// runtime inherit that, so more needs CAP_SYS_RESOURCE.
			rl.Cur, rl.Max = min(rl.Cur, podmanNproc), min(rl.Max, podmanNproc)
		}
		f.ulimits = append(f.ulimits, "--ulimit", fmt.Sprintf("%s=%s:%s", l.name, rlim(rl.Cur), rlim(rl.Max)))
	}
	podman, perr := exec.LookPath("podman")
	if perr != nil {
		logf("podman not found: the tirith run vs podman run section is skipped; install it with:\n\n    apt-get install podman\n")
		f.podmanSkip = "podman is not installed (`apt-get install podman`, then rerun the harness)"
	}

	// The work dir is 0700 (MkdirTemp); Tirith's front end runs the
	// container in a user namespace (--userns=auto) whose root is not host
	// root, and its init must reach the rootfs under --storage by path:
	// without search permission on every parent it fails with "make
	// parent mount of ... private: permission denied". 0711 lets it
	// through without making anything listable.
	if err := os.Chmod(e.dir, 0o711); err != nil {
		f.skipReason = err.Error()
		return f
	}
	logf("front ends: docker-archive of %s", feImage)
	archive := filepath.Join(e.dir, "image.tar")
	if err := e.writeImageArchive(archive); err != nil {
		f.skipReason = "failed to write the image archive: " + err.Error()
		return f
	}
	res := e.execCmd(e.tirithFE("load", "-i", archive), false)
	if res.err != nil {
		f.skipReason = "`tirith load` failed: " + res.err.Error()
		return f
	}
	f.loadMs["tirith"] = ms(res.d)

	if f.podmanSkip == "" {
		f.podmanSkip = e.podmanSetup(f, podman, archive)
	}
	if f.podmanSkip != "" {
		logf("front ends: podman skipped: %s", f.podmanSkip)
	}

	type variant struct {
		key string
		cmd func() *exec.Cmd
	}
	vs := []variant{
		{"tirith", func() *exec.Cmd { return e.tirithFE("run", "--rm", "--network", "none", feImage, "/bin/true") }},
		{"podman", func() *exec.Cmd {
			args := append([]string{"run", "--rm", "--network", "none"}, f.ulimits...)
			return e.podmanCmd(podman, f.driver, append(args, feImage, "/bin/true")...)
		}},
		{"demo", func() *exec.Cmd { return e.tirithFE("run", "--rm", "--network", "none", "tirith/demo") }},
	}
	for i := -f.warmups; i < o.n; i++ {
		if i >= 0 && i%10 == 0 {
			logf("front ends: run %d/%d", i+1, o.n)
		}
		for _, v := range vs {
			if v.key == "podman" && f.podmanSkip != "" {
				continue
			}
			res := e.execCmd(v.cmd(), false)
			if res.err != nil {
				if v.key == "podman" {
					f.podmanSkip = "`podman run` failed: " + res.err.Error()
					delete(f.lat, "podman/run")
					continue
				}
				f.skipReason = fmt.Sprintf("`tirith run` (%s) failed: %v", v.key, res.err)
				return f
			}
			if i >= 0 {
				f.lat.add(v.key+"/run", ms(res.d))
			}
		}
	}
	return f
}

// podmanSetup records podman's version and runtime and loads the archive;
// it returns why podman is skipped, or "".
func (e *env) podmanSetup(f *frontEnd, podman, archive string) string {
	if out, err := exec.Command(podman, "--version").Output(); err == nil {
		f.podmanVer = strings.TrimSpace(string(out))
	}
	for _, d := range []string{"podman-root", "podman-runroot", "podman-tmp"} {
		if err := os.MkdirAll(filepath.Join(e.dir, d), 0o700); err != nil {
			return err.Error()
		}
	}
	var loadErr error
	for _, driver := range []string{"overlay", "vfs"} {
		res := e.execCmd(e.podmanCmd(podman, driver, "load", "-i", archive), false)
		if res.err == nil {
			f.driver = driver
			f.loadMs["podman"] = ms(res.d)
			break
		}
		loadErr = res.err
		logf("front ends: podman load with %s failed: %v", driver, res.err)
		_ = e.execCmd(e.podmanCmd(podman, driver, "system", "reset", "--force"), false)
		unmountUnder(filepath.Join(e.dir, "podman-root"))
		os.RemoveAll(filepath.Join(e.dir, "podman-root"))
		os.MkdirAll(filepath.Join(e.dir, "podman-root"), 0o700)
	}
	if f.driver == "" {
		return "`podman load` failed: " + loadErr.Error()
	}
	res := e.execCmd(e.podmanCmd(podman, f.driver, "info", "--format",
		"{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Path}}|{{.Host.OCIRuntime.Version}}"), true)
	if res.err != nil {
		return "`podman info` failed: " + res.err.Error()
	}
	p := strings.SplitN(strings.TrimSpace(string(res.out)), "|", 3)
	if len(p) == 3 {
		f.podmanRT = fmt.Sprintf("%s (`%s`, %s)", p[0], p[1], strings.ReplaceAll(strings.TrimSpace(p[2]), "\n", "; "))
	} else {
		f.podmanRT = strings.TrimSpace(string(res.out))
	}
	return ""
}

// podmanTraces are what podman leaves on the host whatever its --root,
// --runroot and --tmpdir: its SHM lock, the blob-info cache, the network
// config dir, and the conmon cgroups under libpod_parent (cgroupfs).
var podmanTraces = []string{
	"/dev/shm/libpod_lock",
	"/var/lib/containers",
	"/run/containers",
	"/run/libpod",
	"/sys/fs/cgroup/*/libpod_parent",
	"/sys/fs/cgroup/libpod_parent",
}

// hostTraces returns which of podmanTraces exist now.
func hostTraces() map[string]bool {
	m := map[string]bool{}
	for _, g := range podmanTraces {
		ps, _ := filepath.Glob(g)
		for _, p := range ps {
			m[p] = true
		}
	}
	return m
}

// cleanupPodman removes podman's containers, images and storage under the
// work dir, then whatever of podmanTraces did not exist before (before:
// hostTraces() taken before podman first ran).
func (e *env) cleanupPodman(before map[string]bool) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		return
	}
	if _, err := os.Stat(filepath.Join(e.dir, "podman-root")); err == nil {
		for _, driver := range []string{"overlay", "vfs"} {
			if _, err := os.Stat(filepath.Join(e.dir, "podman-root", driver)); err == nil {
				_ = e.execCmd(e.podmanCmd(podman, driver, "rm", "--all", "--force"), false)
				_ = e.execCmd(e.podmanCmd(podman, driver, "system", "reset", "--force"), false)
			}
		}
	}
	for p := range hostTraces() {
		if before[p] {
			continue
		}
		if strings.HasPrefix(p, "/sys/fs/cgroup/") {
			rmdirTree(p) // cgroupfs: rmdir only, deepest first
		} else {
			os.RemoveAll(p)
		}
	}
}

func rmdirTree(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, d := range ents {
		if d.IsDir() {
			rmdirTree(filepath.Join(dir, d.Name()))
		}
	}
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		logf("cleanup: rmdir %s: %v", dir, err)
	}
}

// writeImageArchive writes a docker-archive of feImage: one layer, the
// bundle rootfs (busybox-static, the probe, syscallbench), Cmd
// ["/bin/true"].
func (e *env) writeImageArchive(path string) error {
	layerTar := filepath.Join(e.dir, "rootfs-layer.tar")
	if err := tarDir(e.rootfs, layerTar); err != nil {
		return err
	}
	layer, err := tarball.LayerFromFile(layerTar)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Cmd = []string{"/bin/true"}
	cf.Config.Env = []string{"PATH=/bin"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, err := name.NewTag(feImage)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

// tarDir writes dir as an uncompressed tar, every entry owned by 0:0.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = rel
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// frontEndReport is section 7 of the report.
func (e *env) frontEndReport(o *options, f *frontEnd) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## 7. tirith run vs podman run\n\n")
	if f.skipReason != "" {
		w("Skipped: %s.\n\n", f.skipReason)
		return b.String()
	}
	w("One image, `%s`: one layer with the bundle's rootfs (busybox-static, `test/probe`, `bench/syscallbench`), config `Cmd [\"/bin/true\"]`, `Env PATH=/bin`, written as a docker-archive by the harness (go-containerregistry `tarball.Write`) and loaded into both front ends from that same file (`tirith load -i` %.0f ms", feImage, f.loadMs["tirith"])
	if v, ok := f.loadMs["podman"]; ok {
		w(", `podman load -i` %.0f ms", v)
	}
	w(", one run each).\n\n")
	if f.podmanSkip == "" {
		w("- podman: `%s`, OCI runtime %s, storage driver `%s`.\n", f.podmanVer, f.podmanRT, f.driver)
	} else {
		w("- **podman skipped**: %s.\n", f.podmanSkip)
	}
	w("- tirith: the binary built above, the same one the runtime sections used.\n\n")
	w("Commands, interleaved run by run (tirith, podman, demo, tirith, ...) after %d warm-up rounds, `-n %d` runs each; wall time of the whole command, including image lookup, the container's rootfs, config generation, the runtime, waiting and removal:\n\n", f.warmups, o.n)
	w("```\ntirith --storage $W/fe-storage --root $W/fe-root run --rm %s /bin/true\n", feImage)
	w("podman --root $W/podman-root --runroot $W/podman-runroot --tmpdir $W/podman-tmp \\\n       --storage-driver %s --cgroup-manager cgroupfs --events-backend file \\\n       run --rm --network none %s %s /bin/true\n", orStr(f.driver, "overlay"), strings.Join(f.ulimits, " "), feImage)
	w("tirith --storage $W/fe-storage --root $W/fe-root run --rm tirith/demo\n```\n\n")
	w("| ms | median [p10–p90] | vs podman |\n|---|---|---|\n")
	pm := med(f.lat["podman/run"])
	w("| `tirith run --rm %s /bin/true` | %s | %s |\n", feImage, spread(f.lat["tirith/run"], 1), ratio(med(f.lat["tirith/run"]), pm))
	if f.podmanSkip == "" {
		w("| `podman run --rm --network none %s /bin/true` | %s | 1.00× |\n", feImage, spread(f.lat["podman/run"], 1))
	} else {
		w("| `podman run` | skipped | – |\n")
	}
	w("| `tirith run --rm tirith/demo` (built-in image; its payload is `/bin/tirith probe`, a dynamically linked Go program that inspects its walls and prints them) | %s | %s |\n\n",
		spread(f.lat["demo/run"], 1), ratio(med(f.lat["demo/run"]), pm))
	if f.podmanSkip == "" {
		w("Tirith's front end takes %s of podman's time for the same image and command (%.1f ms vs %.1f ms median).\n\n",
			ratio(med(f.lat["tirith/run"]), pm), med(f.lat["tirith/run"]), pm)
	}
	w("%s\n\n", frontEndFlagsDoc)
	return b.String()
}

func rlim(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "-1"
	}
	return fmt.Sprint(v)
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

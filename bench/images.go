package main

// Measurement 8: images. `tirith import` against `podman import` of one
// Debian rootfs tar, and `tirith pull` against `podman pull` of the same
// rootfs served by an in-process registry on 127.0.0.1 (plain http, which
// both allow for loopback only when asked: Tirith by itself, podman with
// --tls-verify=false). Runs interleaved; every run starts from a store
// without the image (rmi between runs, unmeasured). Podman is optional, as
// in measurement 7.

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// debianTarGlob is where the real-image tests cache their Debian rootfs.
const debianTarGlob = "/var/cache/tirith-test/debian-*.tar"

// imgName is what both front ends import the tar as.
const imgName = "localhost/tirith-bench/debian:import"

type images struct {
	tar        string
	tarBytes   int64
	runs       int
	lat        samples // "tirith/import", "podman/import", "tirith/pull", "podman/pull", in s
	pullRef    string
	pushS      float64 // seconds to push the image into the registry (once, unmeasured)
	podmanVer  string
	driver     string
	skipReason string    // whole section skipped
	podmanSkip string    // podman part skipped or failed
	pullSkip   string    // pull part skipped (the registry could not be set up)
	load       [2]string // load average before and after the runs
}

// newestDebianTar returns the most recently modified cached Debian tar, or "".
func newestDebianTar() string {
	ps, _ := filepath.Glob(debianTarGlob)
	best, bestT := "", time.Time{}
	for _, p := range ps {
		if strings.Contains(filepath.Base(p), ".tmp.") { // a build in progress
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.ModTime().After(bestT) {
			best, bestT = p, st.ModTime()
		}
	}
	return best
}

// podmanImg is podman with its own throw-away store for this section.
func (e *env) podmanImg(bin, driver string, args ...string) *exec.Cmd {
	return e.podmanCmdIn("podman-img", bin, driver, args...)
}

// tirithImg is the front end with this section's own store.
func (e *env) tirithImg(args ...string) *exec.Cmd {
	g := []string{"--storage", filepath.Join(e.dir, "img-storage"), "--root", filepath.Join(e.dir, "img-root")}
	return exec.Command(e.feBin, append(g, args...)...)
}

func (e *env) images(o *options) *images {
	im := &images{lat: samples{}, runs: o.imgRuns, tar: o.debianTar}
	if im.tar == "" {
		im.tar = newestDebianTar()
	}
	if im.tar == "" {
		im.skipReason = fmt.Sprintf("no Debian rootfs tar (none matches `%s`): run the real-image tests once (`TIRITH_TEST_ROOT=1 go test ./test/integration -run RealImage`, which builds it with mmdebstrap), or build one with `mmdebstrap --variant=minbase bookworm FILE.tar` and pass `-debian-tar FILE.tar`", debianTarGlob)
		return im
	}
	st, err := os.Stat(im.tar)
	if err != nil {
		im.skipReason = err.Error()
		return im
	}
	im.tarBytes = st.Size()
	im.load[0] = loadavg()
	defer func() { im.load[1] = loadavg() }()
	podman, perr := exec.LookPath("podman")
	if perr != nil {
		im.podmanSkip = "podman is not installed (`apt-get install podman`, then rerun the harness)"
	} else {
		im.podmanSkip = e.podmanImgSetup(im, podman)
	}
	if im.podmanSkip != "" {
		logf("images: podman skipped: %s", im.podmanSkip)
	}

	imports := []imgVariant{
		{"tirith/import", func() *exec.Cmd { return e.tirithImg("import", im.tar, imgName) },
			func() *exec.Cmd { return e.tirithImg("rmi", imgName) }},
		{"podman/import", func() *exec.Cmd { return e.podmanImg(podman, im.driver, "import", "--quiet", im.tar, imgName) },
			func() *exec.Cmd { return e.podmanImg(podman, im.driver, "rmi", "--force", imgName) }},
	}
	if !e.interleave(im, imports, "import") {
		return im
	}

	// pull: push once into an in-process registry, then interleave.
	ref, stop, err := e.serveDebian(im)
	if err != nil {
		im.pullSkip = "could not serve the image: " + err.Error()
		logf("images: pull skipped: %s", im.pullSkip)
		return im
	}
	defer stop()
	im.pullRef = ref
	pulls := []imgVariant{
		{"tirith/pull", func() *exec.Cmd { return e.tirithImg("pull", "--quiet", ref) },
			func() *exec.Cmd { return e.tirithImg("rmi", ref) }},
		{"podman/pull", func() *exec.Cmd { return e.podmanImg(podman, im.driver, "pull", "--quiet", "--tls-verify=false", ref) },
			func() *exec.Cmd { return e.podmanImg(podman, im.driver, "rmi", "--force", ref) }},
	}
	e.interleave(im, pulls, "pull")
	return im
}

// imgVariant is one timed command and the unmeasured one undoing it.
type imgVariant struct {
	key   string // "tirith/import" ...
	run   func() *exec.Cmd
	clean func() *exec.Cmd
}

// interleave runs each variant im.runs times, in turn, removing the image
// after each run; it returns false if Tirith failed (the section is then
// skipped) and drops podman's figures if podman failed.
func (e *env) interleave(im *images, vs []imgVariant, what string) bool {
	for i := 0; i < im.runs; i++ {
		for _, v := range vs {
			isPodman := strings.HasPrefix(v.key, "podman/")
			if isPodman && im.podmanSkip != "" {
				continue
			}
			logf("images: %s run %d/%d", v.key, i+1, im.runs)
			res := e.execCmd(v.run(), false)
			if res.err != nil {
				if isPodman {
					im.podmanSkip = fmt.Sprintf("`podman %s` failed: %v", what, res.err)
					delete(im.lat, "podman/import")
					delete(im.lat, "podman/pull")
					continue
				}
				im.skipReason = fmt.Sprintf("`tirith %s` failed: %v", what, res.err)
				return false
			}
			im.lat.add(v.key, res.d.Seconds())
			if c := e.execCmd(v.clean(), false); c.err != nil {
				if isPodman {
					im.podmanSkip = "podman rmi failed: " + c.err.Error()
					continue
				}
				im.skipReason = "tirith rmi failed: " + c.err.Error()
				return false
			}
		}
	}
	return true
}

// podmanImgSetup picks podman's storage driver (overlay, else vfs) for the
// section's own store and records the version; it returns why podman is
// skipped, or "".
func (e *env) podmanImgSetup(im *images, podman string) string {
	if out, err := exec.Command(podman, "--version").Output(); err == nil {
		im.podmanVer = strings.TrimSpace(string(out))
	}
	var infoErr error
	for _, driver := range []string{"overlay", "vfs"} {
		for _, d := range []string{"podman-img-root", "podman-img-runroot", "podman-img-tmp"} {
			if err := os.MkdirAll(filepath.Join(e.dir, d), 0o700); err != nil {
				return err.Error()
			}
		}
		// `info` initialises the store (unmeasured) and fails if the
		// driver cannot be used here.
		res := e.execCmd(e.podmanImg(podman, driver, "info", "--format", "{{.Store.GraphDriverName}}"), true)
		if res.err == nil && strings.TrimSpace(string(res.out)) == driver {
			im.driver = driver
			return ""
		}
		infoErr = res.err
		if infoErr == nil {
			infoErr = fmt.Errorf("driver %q reported", strings.TrimSpace(string(res.out)))
		}
		_ = e.execCmd(e.podmanImg(podman, driver, "system", "reset", "--force"), false)
		unmountUnder(filepath.Join(e.dir, "podman-img-root"))
		os.RemoveAll(filepath.Join(e.dir, "podman-img-root"))
	}
	return "`podman info` failed with overlay and vfs: " + infoErr.Error()
}

// serveDebian starts go-containerregistry's registry on 127.0.0.1 and
// pushes the tar to it as a one-layer image (gzip, as registries serve
// layers); it returns the reference and a func stopping the server.
func (e *env) serveDebian(im *images) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0)))}
	go srv.Serve(ln)
	stop := func() { srv.Close() }
	ref := fmt.Sprintf("%s/tirith-bench/debian:pull", ln.Addr())
	t0 := time.Now()
	logf("images: pushing %s to %s (once, unmeasured)", im.tar, ref)
	layer, err := tarball.LayerFromFile(im.tar, tarball.WithCompressedCaching)
	if err != nil {
		stop()
		return "", nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		stop()
		return "", nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		stop()
		return "", nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		stop()
		return "", nil, err
	}
	nref, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		stop()
		return "", nil, err
	}
	if err := remote.Write(nref, img); err != nil {
		stop()
		return "", nil, err
	}
	im.pushS = time.Since(t0).Seconds()
	return ref, stop, nil
}

// report is section 8 of the report.
func (im *images) report() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## 8. Images: import and pull vs podman\n\n")
	if im.skipReason != "" {
		w("Skipped: %s.\n\n", im.skipReason)
		return b.String()
	}
	w("One Debian rootfs tar, `%s` (%.0f MB, the real-image tests' image), for both front ends. ", im.tar, float64(im.tarBytes)/1e6)
	if im.podmanSkip == "" {
		w("podman: `%s`, storage driver `%s`, its own throw-away store as in section 7.\n\n", im.podmanVer, im.driver)
	} else {
		w("**podman skipped**: %s.\n\n", im.podmanSkip)
	}
	w("Runs interleaved (tirith, podman, tirith, ...), `-image-runs %d` each; wall time of the whole command; after every run the image is removed again (`rmi`, unmeasured), so each run stores and unpacks the whole layer into a store without it. The tar is in the page cache for both (the same file, read by the previous run). Load average before the runs %s, after %s: other work on the machine shows as spread, shared by both since the runs alternate.\n\n", im.runs, im.load[0], im.load[1])
	w("```\ntirith --storage $W/img-storage import %s %s\n", im.tar, imgName)
	w("podman --root $W/podman-img-root --runroot $W/podman-img-runroot --tmpdir $W/podman-img-tmp \\\n       --storage-driver %s --cgroup-manager cgroupfs --events-backend file \\\n       import --quiet %s %s\n", orStr(im.driver, "overlay"), im.tar, imgName)
	if im.pullRef != "" {
		w("tirith --storage $W/img-storage pull --quiet %s\n", im.pullRef)
		w("podman ... pull --quiet --tls-verify=false %s\n", im.pullRef)
	}
	w("```\n\n")
	if im.pullRef != "" {
		w("The pull is served by go-containerregistry's `pkg/registry` in the harness, on 127.0.0.1 over plain http (loopback; Tirith allows plain http for loopback only, podman is told `--tls-verify=false`), the tar pushed once as a one-layer image with a gzip layer (as registries serve them; %.1f s, unmeasured).\n\n", im.pushS)
	} else if im.pullSkip != "" {
		w("Pull not measured: %s.\n\n", im.pullSkip)
	}
	w("| s | runs | median | vs podman |\n|---|---|---|---|\n")
	for _, op := range []string{"import", "pull"} {
		if op == "pull" && im.pullRef == "" {
			continue
		}
		p := med(im.lat["podman/"+op])
		w("| `tirith %s` | %s | %.2f | %s |\n", op, runsStr(im.lat["tirith/"+op]), med(im.lat["tirith/"+op]), ratio(med(im.lat["tirith/"+op]), p))
		if im.podmanSkip == "" {
			w("| `podman %s` | %s | %.2f | 1.00× |\n", op, runsStr(im.lat["podman/"+op]), p)
		}
	}
	w("\nTirith's import keeps the layer uncompressed (OCI `application/vnd.oci.image.layer.v1.tar`, digest = DiffID): the tar is hashed and written to its blob in one pass, then unpacked from it with the DiffID checked again; podman's import stores it uncompressed too (it reports the same blob digest). A pull stores the registry's gzip blob as it came (digest checked) and unpacks it, checking the DiffID.\n\n")
	return b.String()
}

// targetRows are the Targets table's rows for import and pull.
func (im *images) targetRows() string {
	var b strings.Builder
	for _, op := range []string{"import", "pull"} {
		t, p := med(im.lat["tirith/"+op]), med(im.lat["podman/"+op])
		what := fmt.Sprintf("`%s` ≤ podman's time for the same image (%s)", op, map[string]string{
			"import": "the Debian rootfs tar",
			"pull":   "that rootfs from a loopback registry",
		}[op])
		switch {
		case im.skipReason != "":
			fmt.Fprintf(&b, "| %s | not measured: %s | – |\n", what, im.skipReason)
		case op == "pull" && im.pullRef == "":
			fmt.Fprintf(&b, "| %s | not measured: %s | – |\n", what, im.pullSkip)
		case im.podmanSkip != "":
			fmt.Fprintf(&b, "| %s | tirith %.2f s; podman not measured (%s) | – |\n", what, t, im.podmanSkip)
		default:
			fmt.Fprintf(&b, "| %s | tirith %.2f s vs podman %.2f s = %s (medians of %d) | %s |\n", what, t, p, ratio(t, p), len(im.lat["tirith/"+op]), yes(t <= p))
		}
	}
	return b.String()
}

// runsStr lists the runs in seconds, in order of size.
func runsStr(xs []float64) string {
	ys := append([]float64(nil), xs...)
	sort.Float64s(ys)
	parts := make([]string, len(ys))
	for i, y := range ys {
		parts[i] = fmt.Sprintf("%.2f", y)
	}
	return strings.Join(parts, ", ")
}

package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tirith-project/tirith/internal/engine"
)

// Image verbs: pull, load, import, images, rmi, inspect. Every call gets
// its own --storage; images are built in this process with
// go-containerregistry and served from a registry on 127.0.0.1.

// storage runs tirith against the image store at dir.
func (e *env) storage(dir string, args ...string) result {
	e.t.Helper()
	return e.frontEnd(nil, append([]string{"--storage", dir}, args...)...)
}

func (e *env) storageOK(dir string, args ...string) string {
	e.t.Helper()
	r := e.storage(dir, args...)
	if r.code != 0 {
		e.t.Fatalf("tirith --storage %s %v: exit %d\nstdout: %s\nstderr: %s", dir, args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// storageFails expects exit code 1 (docker's, for image verbs) and
// returns stderr.
func (e *env) storageFails(dir string, args ...string) result {
	e.t.Helper()
	r := e.storage(dir, args...)
	if r.code != 1 {
		e.t.Fatalf("tirith --storage %s %v: exit %d, want 1\nstdout: %s\nstderr: %s", dir, args, r.code, r.stdout, r.stderr)
	}
	return r
}

// rootfsTar is a small root filesystem: busybox with a few applets, a
// setuid copy (listed by inspect), a test file and a device node (skipped
// by unpack with a warning).
func rootfsTar(t *testing.T) []byte {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	must(t, err)
	lt := newLayerTar(t)
	add := lt.add
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "tmp/", "work/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	add(&tar.Header{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 0o4755}, []byte("#!/bin/sh\n"))
	for _, a := range []string{"sh", "cat", "echo"} {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	add(&tar.Header{Name: "etc/hello", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("hello from the image\n"))
	add(&tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, nil)
	return lt.bytes()
}

// layerTar builds a layer for the tests: every entry with the same
// modification time, so the same entries give the same digest.
type layerTar struct {
	t   *testing.T
	buf bytes.Buffer
	tw  *tar.Writer
}

func newLayerTar(t *testing.T) *layerTar {
	l := &layerTar{t: t}
	l.tw = tar.NewWriter(&l.buf)
	return l
}

func (l *layerTar) add(h *tar.Header, body []byte) {
	h.ModTime = time.Unix(1700000000, 0)
	h.Size = int64(len(body))
	must(l.t, l.tw.WriteHeader(h))
	_, err := l.tw.Write(body)
	must(l.t, err)
}

// bytes ends the tar and returns it.
func (l *layerTar) bytes() []byte {
	must(l.t, l.tw.Close())
	return l.buf.Bytes()
}

// testImage is rootfsTar as one gzip layer with a config like a real
// image's.
func testImage(t *testing.T) v1.Image {
	t.Helper()
	data := rootfsTar(t)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	must(t, err)
	img, err := oneLayerImage(layer, v1.Config{
		Cmd:          []string{"/bin/sh", "-c", "cat /etc/hello"},
		Env:          []string{"PATH=/bin", "FOO=bar"},
		User:         "1000:1000",
		WorkingDir:   "/work",
		ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		Labels:       map[string]string{"org.example.test": "yes"},
	}, time.Now().Add(-3*time.Hour))
	must(t, err)
	return img
}

// oneLayerImage is an image of layer alone for this machine's platform,
// with config cfg, created at created (the zero time: unset).
func oneLayerImage(layer v1.Layer, cfg v1.Config, created time.Time) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goarch()
	if !created.IsZero() {
		cf.Created = v1.Time{Time: created.UTC().Truncate(time.Second)}
	}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// goarch is the architecture of the binary under test, built by the
// same toolchain as this test.
func goarch() string { return runtime.GOARCH }

// testRegistry serves an in-memory registry on 127.0.0.1 and returns its
// host:port.
func testRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	must(t, err)
	return u.Host
}

func push(t *testing.T, refStr string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(refStr)
	must(t, err)
	must(t, remote.Write(r, img))
}

type inspected struct {
	ID      string   `json:"id"`
	Names   []string `json:"names"`
	Digests []string `json:"digests"`
	Size    int64    `json:"size"`
	OS      string   `json:"os"`
	Arch    string   `json:"architecture"`
	Created time.Time
	Config  struct {
		Cmd          []string          `json:"cmd"`
		Env          []string          `json:"env"`
		User         string            `json:"user"`
		WorkingDir   string            `json:"workingDir"`
		ExposedPorts []string          `json:"exposedPorts"`
		Labels       map[string]string `json:"labels"`
	} `json:"config"`
	Layers []struct {
		Digest   string   `json:"digest"`
		DiffID   string   `json:"diffID"`
		Setuid   []string `json:"setuid"`
		Warnings []string `json:"warnings"`
	} `json:"layers"`
}

func (e *env) inspect(dir, q string) inspected {
	e.t.Helper()
	out := e.storageOK(dir, "inspect", q)
	var got []inspected
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 1 {
		e.t.Fatalf("inspect %s: %v (%d records)\n%s", q, err, len(got), out)
	}
	return got[0]
}

// layerDir is where the store unpacks a layer.
func layerDir(storage, diffID string) string {
	return filepath.Join(storage, "layers", strings.TrimPrefix(diffID, "sha256:"))
}

var (
	layerLine  = regexp.MustCompile(`^[0-9a-f]{12}: (Pull complete|Already exists)$`)
	pulledLine = regexp.MustCompile(`^Pulled (\S+) \((sha256:[0-9a-f]{64})\)$`)
)

// checkPullOutput checks the non-terminal output: one line per layer,
// then "Pulled REF (ID)". It returns the layer statuses and the ID.
func checkPullOutput(t *testing.T, out, wantRef string) ([]string, string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var statuses []string
	for _, l := range lines[:len(lines)-1] {
		m := layerLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("pull output line %q is not \"<id>: <status>\"\n%s", l, out)
		}
		statuses = append(statuses, m[1])
	}
	m := pulledLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil || m[1] != wantRef {
		t.Fatalf("last pull line = %q, want \"Pulled %s (sha256:...)\"", lines[len(lines)-1], wantRef)
	}
	return statuses, m[2]
}

func TestImagePullByTagAndDigest(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	host := testRegistry(t)
	img := testImage(t)
	push(t, host+"/test/busy:v1", img)
	configName, err := img.ConfigName()
	must(t, err)
	mdigest, err := img.Digest()
	must(t, err)

	statuses, id := checkPullOutput(t, e.storageOK(st, "pull", host+"/test/busy:v1"), host+"/test/busy:v1")
	if !slices.Equal(statuses, []string{"Pull complete"}) {
		t.Errorf("layer lines = %q, want one Pull complete", statuses)
	}
	if id != configName.String() {
		t.Errorf("pulled ID %s, want the config digest %s", id, configName)
	}

	// images: the table, -q and json.
	table := e.storageOK(st, "images")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$`).MatchString(lines[0]) {
		t.Fatalf("images table:\n%s", table)
	}
	row := strings.Fields(lines[1])
	if row[0] != host+"/test/busy" || row[1] != "v1" || row[2] != id[7:19] ||
		strings.Join(row[3:len(row)-1], " ") != "3 hours ago" || !strings.HasSuffix(row[len(row)-1], "MB") {
		t.Errorf("images row = %q", lines[1])
	}
	if q := strings.TrimSpace(e.storageOK(st, "images", "-q")); q != id[7:19] {
		t.Errorf("images -q = %q, want %s", q, id[7:19])
	}
	var list []struct {
		ID    string   `json:"id"`
		Names []string `json:"names"`
		Size  int64    `json:"size"`
	}
	must(t, json.Unmarshal([]byte(e.storageOK(st, "images", "--format", "json")), &list))
	if len(list) != 1 || list[0].ID != id || !slices.Equal(list[0].Names, []string{host + "/test/busy:v1"}) || list[0].Size <= 0 {
		t.Errorf("images --format json = %+v", list)
	}

	// inspect: config, layers with setuid files and warnings.
	in := e.inspect(st, host+"/test/busy:v1")
	if in.ID != id || in.OS != "linux" || in.Arch != goarch() {
		t.Errorf("inspect id/os/arch = %s %s/%s", in.ID, in.OS, in.Arch)
	}
	c := in.Config
	if !slices.Equal(c.Cmd, []string{"/bin/sh", "-c", "cat /etc/hello"}) || !slices.Contains(c.Env, "FOO=bar") ||
		c.User != "1000:1000" || c.WorkingDir != "/work" || !slices.Equal(c.ExposedPorts, []string{"8080/tcp"}) || c.Labels["org.example.test"] != "yes" {
		t.Errorf("inspect config = %+v", c)
	}
	if len(in.Layers) != 1 {
		t.Fatalf("inspect layers = %+v", in.Layers)
	}
	if !slices.Contains(in.Layers[0].Setuid, "/bin/su") {
		t.Errorf("setuid = %q, want /bin/su", in.Layers[0].Setuid)
	}
	if !strings.Contains(strings.Join(in.Layers[0].Warnings, "\n"), "dev/null") {
		t.Errorf("warnings = %q, want one about the device node dev/null", in.Layers[0].Warnings)
	}
	if !slices.Contains(in.Digests, host+"/test/busy@"+mdigest.String()) {
		t.Errorf("digests = %q, want %s@%s", in.Digests, host+"/test/busy", mdigest)
	}
	ld := layerDir(st, in.Layers[0].DiffID)
	hello, err := os.ReadFile(filepath.Join(ld, "etc", "hello"))
	if err != nil || string(hello) != "hello from the image\n" {
		t.Errorf("unpacked etc/hello = %q, %v", hello, err)
	}
	if fi, err := os.Stat(filepath.Join(ld, "bin", "busybox")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("unpacked bin/busybox: %v, %v", fi, err)
	}

	// By digest: nothing is fetched again, same image.
	byDigest := host + "/test/busy@" + mdigest.String()
	statuses, id2 := checkPullOutput(t, e.storageOK(st, "pull", byDigest), byDigest)
	if id2 != id || !slices.Equal(statuses, []string{"Already exists"}) {
		t.Errorf("pull by digest: %s %q, want %s and one Already exists", id2, statuses, id)
	}
	if got := e.inspect(st, byDigest).ID; got != id {
		t.Errorf("inspect by digest = %s, want %s", got, id)
	}
	// --insecure-registry is accepted (a loopback registry needs none).
	if out := e.storageOK(st, "pull", "--insecure-registry", host, "-q", host+"/test/busy:v1"); out != host+"/test/busy:v1\n" {
		t.Errorf("pull -q printed %q, want only the reference", out)
	}
}

func TestImagePullProgressLines(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	host := testRegistry(t)
	img, err := random.Image(2048, 3)
	must(t, err)
	push(t, host+"/rand/three:latest", img)
	statuses, _ := checkPullOutput(t, e.storageOK(st, "pull", host+"/rand/three"), host+"/rand/three:latest")
	if !slices.Equal(statuses, []string{"Pull complete", "Pull complete", "Pull complete"}) {
		t.Errorf("layer lines = %q, want three Pull complete", statuses)
	}
	statuses, _ = checkPullOutput(t, e.storageOK(st, "pull", host+"/rand/three:latest"), host+"/rand/three:latest")
	if !slices.Equal(statuses, []string{"Already exists", "Already exists", "Already exists"}) {
		t.Errorf("second pull layer lines = %q, want three Already exists", statuses)
	}
}

func TestImagePullErrors(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	host := testRegistry(t)
	if r := e.storageFails(st, "pull", host+"/no/such:tag"); !strings.Contains(r.stderr, "pull "+host+"/no/such:tag") {
		t.Errorf("pull of a missing tag: stderr %q does not name the image", r.stderr)
	}
	if r := e.storageFails(st, "pull", "Not/Valid"); !strings.Contains(r.stderr, "parse image reference") {
		t.Errorf("pull of a bad reference: stderr %q", r.stderr)
	}
	if out := e.storageOK(st, "images", "-q"); out != "" {
		t.Errorf("failed pulls left images: %q", out)
	}
}

func TestImageLoadDockerArchive(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	img := testImage(t)
	archive := filepath.Join(t.TempDir(), "image.tar")
	a, b := name.MustParseReference("example.com/load/docker:v1"), name.MustParseReference("busybox:mine")
	must(t, tarball.MultiRefWriteToFile(archive, map[name.Reference]v1.Image{a: img, b: img}))
	out := e.storageOK(st, "load", "-i", archive)
	got := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(got)
	if want := []string{"Loaded image: busybox:mine", "Loaded image: example.com/load/docker:v1"}; !slices.Equal(got, want) {
		t.Errorf("load printed %q, want %q", got, want)
	}
	in := e.inspect(st, "docker.io/library/busybox:mine")
	if !slices.Equal(in.Config.Cmd, []string{"/bin/sh", "-c", "cat /etc/hello"}) {
		t.Errorf("loaded config cmd = %q", in.Config.Cmd)
	}
	if _, err := os.Stat(filepath.Join(layerDir(st, in.Layers[0].DiffID), "bin", "busybox")); err != nil {
		t.Error(err)
	}
	if r := e.storageFails(st, "load", "-i", filepath.Join(t.TempDir(), "missing.tar")); !strings.Contains(r.stderr, "missing.tar") {
		t.Errorf("load of a missing file: %q", r.stderr)
	}
	if r := e.storageFails(st, "load"); !strings.Contains(r.stderr, "-i FILE is required") {
		t.Errorf("load without -i: %q", r.stderr)
	}
}

func TestImageLoadOCILayoutAndArchive(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	img := testImage(t)
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	must(t, err)
	must(t, p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "example.com/load/oci:v2"})))
	if out := e.storageOK(st, "load", "-i", dir); out != "Loaded image: example.com/load/oci:v2\n" {
		t.Errorf("load of an OCI layout printed %q", out)
	}
	cn, err := img.ConfigName()
	must(t, err)
	if in := e.inspect(st, "example.com/load/oci:v2"); in.ID != cn.String() {
		t.Errorf("loaded ID %s, want %s", in.ID, cn)
	}

	// The same layout as a tar, into a fresh store.
	st2 := t.TempDir()
	archive := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, dir, archive)
	if out := e.storageOK(st2, "load", "-q", "-i", archive); out != "Loaded image: example.com/load/oci:v2\n" {
		t.Errorf("load of an OCI archive printed %q", out)
	}
}

// tarDir writes the files under dir into a tar at out, names relative to
// dir (as `tar -C dir -cf out .` does).
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	must(t, err)
	tw := tar.NewWriter(f)
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	}))
	must(t, tw.Close())
	must(t, f.Close())
}

func TestImageImportRootfs(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	data := rootfsTar(t)
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	must(t, os.WriteFile(file, data, 0o644))
	idRe := regexp.MustCompile(`^sha256:[0-9a-f]{64}\n$`)

	out := e.storageOK(st, "import", file, "example.com/imported:file")
	if !idRe.MatchString(out) {
		t.Fatalf("import printed %q, want an image ID", out)
	}
	in := e.inspect(st, "example.com/imported:file")
	if in.ID != strings.TrimSpace(out) || len(in.Config.Cmd) != 0 || len(in.Layers) != 1 {
		t.Errorf("imported image = %+v", in)
	}
	if b, err := os.ReadFile(filepath.Join(layerDir(st, in.Layers[0].DiffID), "etc", "hello")); err != nil || string(b) != "hello from the image\n" {
		t.Errorf("imported etc/hello = %q, %v", b, err)
	}

	r := e.frontEnd(data, "--storage", st, "import", "-", "example.com/imported:stdin")
	if r.code != 0 || !idRe.MatchString(r.stdout) {
		t.Fatalf("import - : exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if in := e.inspect(st, "example.com/imported:stdin"); in.ID != strings.TrimSpace(r.stdout) {
		t.Errorf("inspect after import - = %s, want %s", in.ID, r.stdout)
	}
	// Without a name (listed as <none> <none>, unless an import in the
	// same second made the very same image).
	r = e.frontEnd(data, "--storage", st, "import", "-")
	if r.code != 0 || !idRe.MatchString(r.stdout) {
		t.Fatalf("import - without a name: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if q := e.storageOK(st, "images", "-q"); !strings.Contains(q, strings.TrimSpace(r.stdout)[7:19]) {
		t.Errorf("images -q = %q, lacks the unnamed import %s", q, r.stdout)
	}
	if r := e.storageFails(st, "import", filepath.Join(t.TempDir(), "nope.tar"), "x:y"); !strings.Contains(r.stderr, "nope.tar") {
		t.Errorf("import of a missing file: %q", r.stderr)
	}
}

func TestImageRmi(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	img := testImage(t)
	archive := filepath.Join(t.TempDir(), "image.tar")
	a, b := name.MustParseReference("example.com/rmi/a:1"), name.MustParseReference("example.com/rmi/b:1")
	must(t, tarball.MultiRefWriteToFile(archive, map[name.Reference]v1.Image{a: img, b: img}))
	e.storageOK(st, "load", "-i", archive)
	cn, err := img.ConfigName()
	must(t, err)
	id := cn.String()

	// By ID, two names: docker wants -f.
	if r := e.storageFails(st, "rmi", id[7:19]); !strings.Contains(r.stderr, "must be forced") {
		t.Errorf("rmi of a multiply-tagged ID: %q", r.stderr)
	}
	// One name of two: only untagged.
	if out := e.storageOK(st, "rmi", "example.com/rmi/a:1"); out != "Untagged: example.com/rmi/a:1\n" {
		t.Errorf("rmi of one of two names printed %q", out)
	}
	if entries(t, filepath.Join(st, "layers")) != 1 {
		t.Error("untagging removed the layer")
	}
	// The last name: untagged and deleted, blobs and layers gone.
	if out := e.storageOK(st, "rmi", "example.com/rmi/b:1"); out != "Untagged: example.com/rmi/b:1\nDeleted: "+id+"\n" {
		t.Errorf("rmi of the last name printed %q", out)
	}
	for _, d := range []string{"blobs/sha256", "layers", "layermeta"} {
		if n := entries(t, filepath.Join(st, d)); n != 0 {
			t.Errorf("%s holds %d entries after the last image went", d, n)
		}
	}
	if r := e.storageFails(st, "rmi", "example.com/rmi/b:1"); !strings.Contains(r.stderr, "no such image: example.com/rmi/b:1") {
		t.Errorf("rmi of a missing image: %q", r.stderr)
	}

	// -f by ID removes every name; a missing argument fails the command
	// but not the others.
	e.storageOK(st, "load", "-i", archive)
	r := e.storageFails(st, "rmi", "-f", "missing:tag", id[7:19])
	if !strings.Contains(r.stderr, "no such image: missing:tag") {
		t.Errorf("rmi stderr %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "Untagged: example.com/rmi/a:1\n") || !strings.Contains(r.stdout, "Untagged: example.com/rmi/b:1\n") ||
		!strings.HasSuffix(r.stdout, "Deleted: "+id+"\n") {
		t.Errorf("rmi -f printed %q", r.stdout)
	}
	if out := e.storageOK(st, "images", "-q"); out != "" {
		t.Errorf("images after rmi -f: %q", out)
	}
}

func TestImageInspectMissing(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	r := e.storageFails(st, "inspect", "nothing:here")
	// Docker's word for a name that is neither a container nor an image.
	if !strings.Contains(r.stderr, "no such object: nothing:here") {
		t.Errorf("inspect of a missing image: %q", r.stderr)
	}
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("inspect of a missing image printed %q, want []", r.stdout)
	}
}

func entries(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	return len(ents)
}

// TestImageRmiInUse: an image that a front-end container's record
// (engine.Record in <storage>/containers/<id>/meta.json) names is never
// deleted, not even with -f; once the container is gone, it is.
func TestImageRmiInUse(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	img := testImage(t)
	archive := filepath.Join(t.TempDir(), "image.tar")
	must(t, tarball.WriteToFile(archive, name.MustParseReference("example.com/rmi/used:1"), img))
	e.storageOK(st, "load", "-i", archive)
	cn, err := img.ConfigName()
	must(t, err)

	// The record as the engine writes it, for a container that is not
	// running (a stopped container keeps its image too).
	cid := strings.Repeat("c", 64)
	rec, err := json.Marshal(engine.Record{ID: cid, Name: "user", Image: "example.com/rmi/used:1", ImageID: cn.String(), Status: "exited"})
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(st, "containers", cid), 0o700))
	must(t, os.WriteFile(filepath.Join(st, "containers", cid, "meta.json"), rec, 0o600))

	for _, args := range [][]string{{"rmi", "example.com/rmi/used:1"}, {"rmi", "-f", cn.String()}} {
		if r := e.storageFails(st, args...); !strings.Contains(r.stderr, "image is used by a container") {
			t.Errorf("%v of an image in use: %q", args, r.stderr)
		}
	}
	if got := e.inspect(st, "example.com/rmi/used:1").ID; got != cn.String() {
		t.Fatalf("image in use was removed: %s", got)
	}
	must(t, os.RemoveAll(filepath.Join(st, "containers", cid)))
	if out := e.storageOK(st, "rmi", "example.com/rmi/used:1"); !strings.HasSuffix(out, "Deleted: "+cn.String()+"\n") {
		t.Errorf("rmi after the container went printed %q", out)
	}
}

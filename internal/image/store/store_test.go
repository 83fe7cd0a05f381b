package store

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/tirith-project/tirith/internal/testutil"
)

// testImage is a random 3-layer image with a real config.
func testImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Cmd = []string{"/bin/sh"}
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.User = "1000:1000"
	cf.Config.ExposedPorts = map[string]struct{}{"80/tcp": {}, "443/tcp": {}}
	cf.Config.Labels = map[string]string{"a": "b"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// blobHook lets a test interfere with blob downloads.
type blobHook func(w http.ResponseWriter, r *http.Request, next http.Handler) bool

// serveRegistry starts an in-process registry on loopback and pushes img
// as repo:tag. It returns the host:port.
func serveRegistry(t *testing.T, hook *atomic.Pointer[blobHook], refs map[string]v1.Image) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hook != nil {
			if h := hook.Load(); h != nil && r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
				if (*h)(w, r, reg) {
					return
				}
			}
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for r, img := range refs {
		ref, err := name.ParseReference(host + "/" + r)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	return host
}

var anon = PullOptions{Keychain: authn.NewMultiKeychain()} // never read ~/.docker in tests

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func blobCount(t *testing.T, s *Store) (blobs, layers, tmp int) {
	t.Helper()
	for _, d := range []struct {
		dir string
		n   *int
	}{{"blobs/sha256", &blobs}, {"layers", &layers}, {"tmp", &tmp}} {
		ents, err := os.ReadDir(filepath.Join(s.Root(), d.dir))
		if err != nil {
			t.Fatal(err)
		}
		*d.n = len(ents)
	}
	return
}

func checkStored(t *testing.T, s *Store, got *Image, img v1.Image) {
	t.Helper()
	cfgName, _ := img.ConfigName()
	mdigest, _ := img.Digest()
	if got.ID != cfgName.String() || got.ManifestDigest != mdigest.String() {
		t.Errorf("ID/manifest = %s/%s, want %s/%s", got.ID, got.ManifestDigest, cfgName, mdigest)
	}
	dirs, err := s.LayerDirs(got)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 3 {
		t.Fatalf("LayerDirs = %v", dirs)
	}
	// Top first: the last diff_id of the config is the first dir.
	cf, _ := img.ConfigFile()
	if want := strings.TrimPrefix(cf.RootFS.DiffIDs[2].String(), "sha256:"); filepath.Base(dirs[0]) != want {
		t.Errorf("top layer dir %s, want %s", dirs[0], want)
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil || len(ents) == 0 {
			t.Errorf("layer dir %s empty: %v", d, err)
		}
	}
	if got.Config.User != "1000:1000" || !slices.Equal(got.Config.ExposedPorts, []string{"443/tcp", "80/tcp"}) || got.Config.Labels["a"] != "b" {
		t.Errorf("config = %+v", got.Config)
	}
}

func TestPullByTagAndDigest(t *testing.T) {
	testutil.RequireRoot(t)
	img := testImage(t)
	host := serveRegistry(t, nil, map[string]v1.Image{"test/img:v1": img})
	s := openStore(t)
	var events atomic.Int32
	opts := anon
	opts.Progress = func(p Progress) { events.Add(1) }
	got, err := s.Pull(context.Background(), host+"/test/img:v1", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, s, got, img)
	if events.Load() == 0 {
		t.Error("no progress reported")
	}
	if !slices.Equal(got.Names, []string{host + "/test/img:v1"}) {
		t.Errorf("names = %v", got.Names)
	}
	if g, err := s.Get(host + "/test/img:v1"); err != nil || g.ID != got.ID {
		t.Errorf("Get by name: %v", err)
	}
	if g, err := s.Get(strings.TrimPrefix(got.ID, "sha256:")[:12]); err != nil || g.ID != got.ID {
		t.Errorf("Get by ID prefix: %v", err)
	}
	if _, err := s.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(nope) = %v, want ErrNotFound", err)
	}

	// By digest, into a fresh store.
	s2 := openStore(t)
	d, _ := img.Digest()
	byDigest := host + "/test/img@" + d.String()
	got2, err := s2.Pull(context.Background(), byDigest, anon)
	if err != nil {
		t.Fatal(err)
	}
	checkStored(t, s2, got2, img)
	if g, err := s2.Get(byDigest); err != nil || g.ID != got.ID {
		t.Errorf("Get by digest ref: %v", err)
	}
	list, err := s2.List()
	if err != nil || len(list) != 1 || len(list[0].Names) != 0 {
		t.Errorf("List = %+v, %v", list, err)
	}

	// Pulling again is a no-op that reports every layer as existing.
	var exists atomic.Int32
	opts.Progress = func(p Progress) {
		if p.Status == "exists" {
			exists.Add(1)
		}
	}
	if _, err := s.Pull(context.Background(), host+"/test/img:v1", opts); err != nil {
		t.Fatal(err)
	}
	if exists.Load() != 3 {
		t.Errorf("%d layers reported existing, want 3", exists.Load())
	}
}

func TestPullRejectsCorruptBlob(t *testing.T) {
	testutil.RequireRoot(t)
	img := testImage(t)
	layers, _ := img.Layers()
	bad, _ := layers[1].Digest()
	var hook atomic.Pointer[blobHook]
	h := blobHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !strings.HasSuffix(r.URL.Path, bad.String()) {
			return false
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		body[len(body)/2] ^= 0xff // same length, different content
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
		return true
	})
	host := serveRegistry(t, &hook, map[string]v1.Image{"test/img:v1": img})
	hook.Store(&h)
	s := openStore(t)
	_, err := s.Pull(context.Background(), host+"/test/img:v1", anon)
	if err == nil {
		t.Fatal("pull of a corrupted blob succeeded")
	}
	t.Logf("error (expected): %v", err)
	if _, err := os.Stat(s.blobPath(bad.Hex)); err == nil {
		t.Error("corrupted blob was kept")
	}
	if _, _, tmp := blobCount(t, s); tmp != 0 {
		t.Errorf("tmp/ holds %d partial files", tmp)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("image recorded despite failure: %v", list)
	}
	// The registry heals; pull again and it works.
	hook.Store(nil)
	if _, err := s.Pull(context.Background(), host+"/test/img:v1", anon); err != nil {
		t.Fatal(err)
	}
}

func TestPullInterruptedThenResumed(t *testing.T) {
	testutil.RequireRoot(t)
	img, err := random.Image(4<<20, 2) // big enough to be mid-layer
	if err != nil {
		t.Fatal(err)
	}
	var hook atomic.Pointer[blobHook]
	started := make(chan struct{}, 8)
	// Serve half a layer blob, then stall until the client goes away.
	h := blobHook(func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		if rec.Body.Len() < 1<<20 {
			return false // the config blob
		}
		w.Header().Set("Content-Length", fmt.Sprint(rec.Body.Len()))
		w.WriteHeader(http.StatusOK)
		w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-r.Context().Done()
		return true
	})
	host := serveRegistry(t, &hook, map[string]v1.Image{"test/big:1": img})
	hook.Store(&h)
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	if _, err := s.Pull(ctx, host+"/test/big:1", anon); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted pull: err = %v, want context.Canceled", err)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("interrupted pull recorded an image: %v", list)
	}
	hook.Store(nil)
	got, err := s.Pull(context.Background(), host+"/test/big:1", anon)
	if err != nil {
		t.Fatalf("second pull: %v", err)
	}
	if dirs, err := s.LayerDirs(got); err != nil || len(dirs) != 2 {
		t.Fatalf("LayerDirs = %v, %v", dirs, err)
	}
	if _, _, tmp := blobCount(t, s); tmp != 0 {
		t.Errorf("tmp/ holds %d leftovers after a good pull", tmp)
	}
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	var seen []string
	tr := &httpsOnly{base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen = append(seen, r.URL.String())
		return nil, errors.New("stop")
	}), insecure: []string{"reg.lan:5000"}}
	for _, u := range []string{"http://127.0.0.1:5000/v2/", "http://10.0.0.1:5000/v2/", "http://reg.lan:5000/v2/", "http://example.com/v2/"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		tr.RoundTrip(req)
	}
	want := []string{"http://127.0.0.1:5000/v2/", "https://10.0.0.1:5000/v2/", "http://reg.lan:5000/v2/", "https://example.com/v2/"}
	if !slices.Equal(seen, want) {
		t.Errorf("requests = %v, want %v", seen, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLoadDockerArchive(t *testing.T) {
	testutil.RequireRoot(t)
	img := testImage(t)
	p := filepath.Join(t.TempDir(), "img.tar")
	tag, _ := name.NewTag("example.com/app:1.0")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	got, err := s.Load(context.Background(), p, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Names, []string{"example.com/app:1.0"}) {
		t.Fatalf("loaded %+v", got)
	}
	checkStored(t, s, got[0], img)
}

func TestLoadOCILayoutAndArchive(t *testing.T) {
	testutil.RequireRoot(t)
	img := testImage(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "example.com/oci:2",
	})); err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	got, err := s.Load(context.Background(), dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !slices.Equal(got[0].Names, []string{"example.com/oci:2"}) {
		t.Fatalf("loaded %+v", got)
	}
	checkStored(t, s, got[0], img)

	// The same layout as a tar (oci-archive).
	arch := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, dir, arch)
	s2 := openStore(t)
	got2, err := s2.Load(context.Background(), arch, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got2) != 1 || got2[0].ID != got[0].ID {
		t.Fatalf("loaded %+v", got2)
	}
	if _, _, tmp := blobCount(t, s2); tmp != 0 {
		t.Errorf("extracted archive left in tmp/")
	}
}

func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			tw.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
}

func rootfsTar(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for n, body := range files {
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

func TestImportListRemoveGC(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t)
	a, err := s.Import(context.Background(), bytes.NewReader(rootfsTar(t, map[string]string{"bin/hello": "#!/bin/sh\necho a\n"})), "imported:1")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := s.LayerDirs(a)
	if err != nil || len(dirs) != 1 {
		t.Fatalf("LayerDirs = %v, %v", dirs, err)
	}
	if b, err := os.ReadFile(filepath.Join(dirs[0], "bin/hello")); err != nil || !strings.Contains(string(b), "echo a") {
		t.Fatalf("imported file: %q, %v", b, err)
	}
	if a.OS != "linux" || a.Names[0] != "docker.io/library/imported:1" {
		t.Errorf("record = %+v", a)
	}
	b, err := s.Import(context.Background(), bytes.NewReader(rootfsTar(t, map[string]string{"b": "b"})), "other:1")
	if err != nil {
		t.Fatal(err)
	}
	blobs, layers, _ := blobCount(t, s)
	if blobs != 6 || layers != 2 {
		t.Fatalf("blobs=%d layers=%d, want 6 and 2", blobs, layers)
	}
	list, err := s.List()
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v", list, err)
	}

	// A second name: removing one only untags.
	if _, err := s.record(&Image{ID: a.ID, ManifestDigest: a.ManifestDigest, Layers: a.Layers}, []string{"docker.io/library/alias:1"}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := s.Remove("alias:1", RemoveOptions{})
	if err != nil || !slices.Equal(res.Untagged, []string{"docker.io/library/alias:1"}) || len(res.Deleted) != 0 {
		t.Fatalf("untag: %+v, %v", res, err)
	}

	// In use: refused, nothing removed.
	inUse := RemoveOptions{InUse: func(id string) (bool, error) { return id == a.ID, nil }}
	if _, err := s.Remove("imported:1", inUse); !errors.Is(err, ErrInUse) {
		t.Fatalf("Remove in-use image: %v, want ErrInUse", err)
	}
	if _, err := s.Get("imported:1"); err != nil {
		t.Fatal("in-use image was removed")
	}

	res, err = s.Remove("imported:1", RemoveOptions{InUse: func(string) (bool, error) { return false, nil }})
	if err != nil || !slices.Equal(res.Deleted, []string{a.ID}) {
		t.Fatalf("Remove: %+v, %v", res, err)
	}
	blobs, layers, _ = blobCount(t, s)
	if blobs != 3 || layers != 1 {
		t.Errorf("after remove: blobs=%d layers=%d, want 3 and 1", blobs, layers)
	}
	if _, err := os.Stat(dirs[0]); err == nil {
		t.Error("layer of removed image still unpacked")
	}
	if _, err := s.LayerDirs(b); err != nil {
		t.Errorf("other image damaged: %v", err)
	}
}

func TestOpenCleansDebris(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.tmpDir(), "blob-123-456"), []byte("partial"), 0o600)
	os.MkdirAll(filepath.Join(s.tmpDir(), "layer-abc-1", "usr", "bin"), 0o755)
	// A writer holding the lock shared (a pull in another process)
	// must keep its temp files.
	unlock, err := s.lock(1) // LOCK_SH
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, _, tmp := blobCount(t, s); tmp != 2 {
		t.Errorf("Open removed a concurrent writer's temp files")
	}
	unlock()
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	if _, _, tmp := blobCount(t, s); tmp != 0 {
		t.Errorf("Open left %d temp entries", tmp)
	}
}

func TestHexOfRejectsTraversal(t *testing.T) {
	for _, d := range []string{"sha256:../../etc", "sha512:" + strings.Repeat("a", 128), "sha256:" + strings.Repeat("A", 64), "sha256:abc"} {
		if _, err := hexOf(d); err == nil {
			t.Errorf("hexOf(%q) accepted", d)
		}
	}
}

// The store verifies blobs itself, not only through go-containerregistry.
func TestPutBlobVerifies(t *testing.T) {
	s := openStore(t)
	good := []byte("hello")
	d := fmt.Sprintf("sha256:%x", sha256Sum(good))
	if err := s.putBlob(context.Background(), d, -1, bytes.NewReader([]byte("HELLO")), nil); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("wrong content accepted: %v", err)
	}
	if err := s.putBlob(context.Background(), d, 99, bytes.NewReader(good), nil); err == nil {
		t.Fatal("wrong size accepted")
	}
	if blobs, _, tmp := blobCount(t, s); blobs != 0 || tmp != 0 {
		t.Fatalf("blobs=%d tmp=%d after rejected writes", blobs, tmp)
	}
	if err := s.putBlob(context.Background(), d, 5, bytes.NewReader(good), nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(s.blobPath(d[7:])); string(b) != "hello" {
		t.Fatalf("blob = %q", b)
	}
}

// A layer whose uncompressed digest is not the config's diff_id is refused
// and leaves no unpacked dir.
func TestUnpackLayerChecksDiffID(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t)
	data := rootfsTar(t, map[string]string{"f": "x"})
	d := fmt.Sprintf("sha256:%x", sha256Sum(data))
	if err := s.putBytes(context.Background(), d, data); err != nil {
		t.Fatal(err)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if err := s.unpackLayer(context.Background(), d[7:], wrong); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("unpackLayer with wrong diffid: %v", err)
	}
	if _, layers, tmp := blobCount(t, s); layers != 0 || tmp != 0 {
		t.Fatalf("layers=%d tmp=%d after refusal", layers, tmp)
	}
	if err := s.unpackLayer(context.Background(), d[7:], d); err != nil {
		t.Fatal(err)
	}
}

// A store that an older Tirith left searchable by everyone (0711), or
// that an operator opened up, is private once opened: its root and every
// directory of it 0700.
func TestOpenTightensModes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	for _, d := range []string{"", "blobs", "blobs/sha256", "layers", "layermeta", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "layers"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"", "blobs", "blobs/sha256", "layers", "layermeta", "tmp"} {
		st, err := os.Stat(filepath.Join(root, d))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s/ is mode %#o after Open, want 0700", d, st.Mode().Perm())
		}
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	if _, err := Open(fresh); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fresh); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("new store root: %v %v, want mode 0700", st.Mode(), err)
	}
}

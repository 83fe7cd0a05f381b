package store

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/unpack"
)

// Fuzz targets for the store's entry points that take untrusted bytes:
// its own index.json, OCI image layouts (index, manifest, config) and
// docker-archive tarballs (manifest.json, config). Seeds live in
// testdata/fuzz/<Target>.
//
// Manifests and configs name blobs by sha256, which a fuzzer cannot
// guess, so the load targets take templates: the placeholders below are
// replaced with the digests and sizes of real blobs before loading.
//
//	@L0@ @L0S@ @D0@  an uncompressed layer tar: digest, size, diff_id
//	@L1@ @L1S@ @D1@  a gzip layer: digest, size, diff_id (of the tar)
//	@L1tar@ @L1tarS@ the tar of that gzip layer
//	@LX@ @LXS@       a blob that is not a tar
//	@C@ @CS@         the config (after its own substitution)
//	@M@ @MS@         the image manifest (after its own substitution)

// fuzzScratch returns a fresh directory, on tmpfs when there is one: the
// store fsyncs every blob and index write.
func fuzzScratch(t testing.TB) string {
	base := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	d, err := os.MkdirTemp(base, "tirith-store-fuzz-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func fuzzStore(t testing.TB, dir string) *Store {
	s, err := OpenWithOptions(dir, Options{Unpack: unpack.Options{IgnoreOwnership: os.Geteuid() != 0}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fuzzBlob struct {
	data   []byte
	diffID string // "" if not a layer
}

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// fuzzLayers are the blobs the placeholders name.
var fuzzLayers = func() map[string]fuzzBlob {
	mk := func(name, body string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
		tw.Write([]byte(body))
		tw.Close()
		return buf.Bytes()
	}
	l0 := mk("etc/hostname", "fuzz\n")
	l1tar := mk("bin/app", "#!/bin/sh\n")
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(l1tar)
	w.Close()
	return map[string]fuzzBlob{
		"0":    {data: l0, diffID: digestOf(l0)},
		"1":    {data: gz.Bytes(), diffID: digestOf(l1tar)},
		"X":    {data: []byte("not a tar at all")},
		"1tar": {data: l1tar, diffID: digestOf(l1tar)},
	}
}()

// substitute fills the layer placeholders, then extra ones.
func substitute(tmpl []byte, extra ...string) []byte {
	var pairs []string
	for k, b := range fuzzLayers {
		pairs = append(pairs, "@L"+k+"S@", fmt.Sprint(len(b.data)), "@L"+k+"@", digestOf(b.data))
		if b.diffID != "" {
			pairs = append(pairs, "@D"+k+"@", b.diffID)
		}
	}
	pairs = append(pairs, extra...)
	return []byte(strings.NewReplacer(pairs...).Replace(string(tmpl)))
}

// checkLoaded is the property of every successful load: each record is
// consistent with the blobs it was stored with, its layers are unpacked
// and verified, and a failed or successful load leaves no debris.
func checkLoaded(t *testing.T, s *Store, imgs []*Image, err error) {
	t.Helper()
	if ents, rerr := os.ReadDir(s.tmpDir()); rerr != nil || len(ents) != 0 {
		t.Fatalf("load (err %v) left %d entries in tmp/ (%v)", err, len(ents), rerr)
	}
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	if len(imgs) == 0 {
		t.Fatal("load succeeded with no image")
	}
	t.Logf("loaded %d image(s)", len(imgs))
	for _, img := range imgs {
		if img == nil {
			t.Fatal("load returned a nil image")
		}
		cfgHex, err := hexOf(img.ID)
		if err != nil {
			t.Fatalf("image ID %q: %v", img.ID, err)
		}
		rawCfg, err := os.ReadFile(s.blobPath(cfgHex))
		if err != nil || digestOf(rawCfg) != img.ID {
			t.Fatalf("config blob of %s missing or wrong: %v", img.ID, err)
		}
		var cf v1.ConfigFile
		if err := json.Unmarshal(rawCfg, &cf); err != nil {
			t.Fatalf("stored config of %s does not parse: %v", img.ID, err)
		}
		rawMan, err := s.Manifest(img)
		if err != nil || digestOf(rawMan) != img.ManifestDigest {
			t.Fatalf("manifest blob of %s missing or wrong: %v", img.ID, err)
		}
		var m v1.Manifest
		if err := json.Unmarshal(rawMan, &m); err != nil {
			// Docker archives have no manifest of their own: ggcr
			// computes one, so it always parses.
			t.Fatalf("stored manifest of %s does not parse: %v", img.ID, err)
		}
		if m.Config.Digest.String() != img.ID {
			t.Fatalf("manifest of %s names config %s", img.ID, m.Config.Digest)
		}
		if len(img.Layers) != len(cf.RootFS.DiffIDs) || len(img.Layers) != len(m.Layers) {
			t.Fatalf("image %s: %d layers recorded, config has %d diff_ids, manifest %d layers",
				img.ID, len(img.Layers), len(cf.RootFS.DiffIDs), len(m.Layers))
		}
		for i, l := range img.Layers {
			if l.DiffID != cf.RootFS.DiffIDs[i].String() || l.Digest != m.Layers[i].Digest.String() {
				t.Fatalf("image %s layer %d = %+v, config/manifest say %s/%s", img.ID, i, l, cf.RootFS.DiffIDs[i], m.Layers[i].Digest)
			}
			for _, b := range fuzzLayers {
				if l.Digest == digestOf(b.data) && l.DiffID != b.diffID {
					t.Fatalf("image %s layer %d: blob %s recorded with diff_id %s, its content has %q", img.ID, i, l.Digest, l.DiffID, b.diffID)
				}
			}
		}
		if _, err := s.LayerDirs(img); err != nil {
			t.Fatalf("image %s loaded but: %v", img.ID, err)
		}
		for _, n := range img.Names {
			if c, err := ref.Normalize(n); err != nil || c != n {
				t.Fatalf("image %s has non-canonical name %q", img.ID, n)
			}
		}
		if got, err := s.Get(img.ID); err != nil || got.ID != img.ID {
			t.Fatalf("Get(%s) after load = %v, %v", img.ID, got, err)
		}
	}
}

// FuzzLoadLayout loads an OCI image layout whose index.json, image
// manifest and config are fuzzed templates.
func FuzzLoadLayout(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"@M@","size":@MS@,"annotations":{"org.opencontainers.image.ref.name":"example.com/fuzz:1"}}]}`),
		[]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"@C@","size":@CS@},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"@L0@","size":@L0S@}]}`),
		[]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["@D0@"]},"config":{"Cmd":["/bin/sh"]}}`))
	f.Fuzz(func(t *testing.T, index, manifest, config []byte) {
		scratch := fuzzScratch(t)
		s := fuzzStore(t, filepath.Join(scratch, "store"))
		dir := filepath.Join(scratch, "layout")
		blobs := filepath.Join(dir, "blobs", "sha256")
		if err := os.MkdirAll(blobs, 0o755); err != nil {
			t.Fatal(err)
		}
		put := func(b []byte) {
			if err := os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(digestOf(b), "sha256:")), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, b := range fuzzLayers {
			put(b.data)
		}
		cfg := substitute(config)
		put(cfg)
		man := substitute(manifest, "@CS@", fmt.Sprint(len(cfg)), "@C@", digestOf(cfg))
		put(man)
		idx := substitute(index, "@CS@", fmt.Sprint(len(cfg)), "@C@", digestOf(cfg), "@MS@", fmt.Sprint(len(man)), "@M@", digestOf(man))
		os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
		if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
			t.Fatal(err)
		}
		imgs, err := s.Load(context.Background(), dir, LoadOptions{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}})
		checkLoaded(t, s, imgs, err)
	})
}

// FuzzLoadDockerArchive loads a `docker save` tarball whose manifest.json
// and config are fuzzed templates. The archive holds config.json, l0.tar,
// l1.tar, l1.tar.gz and lx.bin (the blobs above, l1.tar the uncompressed
// form of l1.tar.gz), and <hex>.json (the config again, under its digest:
// @C@ in manifest.json names it). Beyond checkLoaded: an image has as many
// layers as its manifest.json entry lists.
func FuzzLoadDockerArchive(f *testing.F) {
	f.Add([]byte(`[{"Config":"config.json","RepoTags":["example.com/fuzz:1"],"Layers":["l0.tar","l1.tar"]}]`),
		[]byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["@D0@","@D1@"]}}`))
	f.Fuzz(func(t *testing.T, manifest, config []byte) {
		scratch := fuzzScratch(t)
		s := fuzzStore(t, filepath.Join(scratch, "store"))
		cfg := substitute(config)
		man := substitute(manifest, "@CS@", fmt.Sprint(len(cfg)), "@C@", strings.TrimPrefix(digestOf(cfg), "sha256:")+".json")
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range []struct {
			name string
			data []byte
		}{
			{"manifest.json", man}, {"config.json", cfg},
			{strings.TrimPrefix(digestOf(cfg), "sha256:") + ".json", cfg},
			{"l0.tar", fuzzLayers["0"].data}, {"l1.tar", fuzzLayers["1tar"].data}, {"l1.tar.gz", fuzzLayers["1"].data},
			{"lx.bin", fuzzLayers["X"].data},
		} {
			tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.data))})
			tw.Write(e.data)
		}
		tw.Close()
		p := filepath.Join(scratch, "archive.tar")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		imgs, err := s.Load(context.Background(), p, LoadOptions{})
		checkLoaded(t, s, imgs, err)
		var entries []struct{ Layers []string }
		if err == nil && json.Unmarshal(man, &entries) == nil && len(entries) == len(imgs) {
			for i, img := range imgs {
				if len(img.Layers) != len(entries[i].Layers) {
					t.Fatalf("manifest.json[%d] lists %d layers, image %s has %d", i, len(entries[i].Layers), img.ID, len(img.Layers))
				}
			}
		}
	})
}

// FuzzIndex reads a fuzzed index.json (the store's own record file, which
// a damaged disk or a careless edit can corrupt): List and Get never
// panic, Get never returns a nil image without an error, and whatever Get
// returns resolves to paths inside the store or to an error.
func FuzzIndex(f *testing.F) {
	f.Add([]byte(`{"version":1,"images":{}}`), "busybox")
	scratch := fuzzScratch(f)
	s := fuzzStore(f, filepath.Join(scratch, "store"))
	f.Fuzz(func(t *testing.T, data []byte, query string) {
		if err := os.WriteFile(filepath.Join(s.root, "index.json"), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.List(); err != nil {
			return
		}
		img, err := s.Get(query)
		if err != nil {
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrAmbiguous) {
				t.Fatalf("Get(%q) on a readable index: unexpected error %v", query, err)
			}
			return
		}
		if img == nil {
			t.Fatalf("Get(%q) returned no image and no error", query)
		}
		dirs, _ := s.LayerDirs(img)
		for _, d := range dirs {
			if filepath.Dir(d) != filepath.Join(s.root, "layers") {
				t.Fatalf("LayerDirs gave %q, outside the store's layers/", d)
			}
		}
		s.ConfigFile(img)
		s.Manifest(img)
	})
}

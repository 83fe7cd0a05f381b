package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/tirith-project/tirith/internal/testutil"
)

// An imported tar is stored as it came, uncompressed: one OCI layer whose
// digest is its DiffID, a blob holding exactly the tar, and the layer
// unpacked from it. A gzip input gives the same layer.
func TestImportStoresUncompressedLayer(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t)
	data := rootfsTar(t, map[string]string{"bin/hello": "#!/bin/sh\necho hi\n", "etc/os-release": "ID=test\n"})
	want := fmt.Sprintf("sha256:%x", sha256Sum(data))
	img, err := s.Import(context.Background(), bytes.NewReader(data), "plain:1")
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 1 {
		t.Fatalf("layers = %+v", img.Layers)
	}
	l := img.Layers[0]
	if l.Digest != want || l.DiffID != want || l.Size != int64(len(data)) || l.MediaType != "application/vnd.oci.image.layer.v1.tar" {
		t.Fatalf("layer = %+v, want digest = diffID = %s, size %d, uncompressed OCI type", l, want, len(data))
	}
	blob, err := os.ReadFile(s.blobPath(want[7:]))
	if err != nil || !bytes.Equal(blob, data) {
		t.Fatalf("layer blob differs from the imported tar (%d vs %d bytes): %v", len(blob), len(data), err)
	}
	raw, err := s.Manifest(img)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		MediaType string
		Config    struct{ MediaType, Digest string }
		Layers    []struct{ MediaType, Digest string }
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Config.MediaType != "application/vnd.oci.image.config.v1+json" ||
		m.Config.Digest != img.ID || len(m.Layers) != 1 || m.Layers[0].Digest != want {
		t.Fatalf("manifest = %s", raw)
	}
	cf, err := s.ConfigFile(img)
	if err != nil || len(cf.RootFS.DiffIDs) != 1 || cf.RootFS.DiffIDs[0].String() != want {
		t.Fatalf("config diff_ids = %v, %v", cf, err)
	}
	dirs, err := s.LayerDirs(img)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dirs[0], "bin/hello")); err != nil || string(b) != "#!/bin/sh\necho hi\n" {
		t.Fatalf("unpacked bin/hello = %q, %v", b, err)
	}

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	img2, err := s.Import(context.Background(), &gz, "gz:1")
	if err != nil {
		t.Fatal(err)
	}
	if img2.Layers[0].Digest != want || img2.Layers[0].DiffID != want {
		t.Fatalf("gzip input: layer %+v, want the plain tar's %s", img2.Layers[0], want)
	}
	// Both images share the one layer blob and its unpacked dir.
	if _, layers, tmp := blobCount(t, s); layers != 1 || tmp != 0 {
		t.Fatalf("layers=%d tmp=%d, want 1 and 0", layers, tmp)
	}
}

// A layer blob changed on disk after it was stored is refused when it is
// unpacked (its content no longer has its DiffID), and no layer appears.
func TestImportRefusesTamperedBlob(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t)
	data := rootfsTar(t, map[string]string{"f": "original"})
	img, err := s.Import(context.Background(), bytes.NewReader(data), "a:1")
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := s.LayerDirs(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dirs[0]); err != nil {
		t.Fatal(err)
	}
	evil := rootfsTar(t, map[string]string{"f": "tampered"}) // same length
	if err := os.WriteFile(s.blobPath(img.Layers[0].Digest[7:]), evil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Import(context.Background(), bytes.NewReader(data), "a:2")
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("import over a tampered blob: %v, want a refusal", err)
	}
	if _, layers, tmp := blobCount(t, s); layers != 0 || tmp != 0 {
		t.Fatalf("layers=%d tmp=%d after the refusal", layers, tmp)
	}
	if _, err := s.Get("a:2"); err == nil {
		t.Fatal("image recorded despite the refusal")
	}
}

// Input that is not a (possibly compressed) tar is refused with an error
// naming the problem, records no image and leaves nothing in tmp/.
func TestImportRefusesBadInput(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(rootfsTar(t, map[string]string{"f": strings.Repeat("x", 100000)}))
	zw.Close()
	for name, in := range map[string][]byte{
		"truncated gzip": gz.Bytes()[:gz.Len()/2],
		"not a tar":      bytes.Repeat([]byte("not a tar archive\n"), 100),
	} {
		_, err := s.Import(context.Background(), bytes.NewReader(in), "bad:1")
		if err == nil {
			t.Fatalf("%s: imported", name)
		}
		t.Logf("%s: %v", name, err)
		if _, _, tmp := blobCount(t, s); tmp != 0 {
			t.Fatalf("%s: %d entries left in tmp/", name, tmp)
		}
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v", list, err)
	}
}

package audit

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestDefangLayer(t *testing.T) {
	l1 := layerTar(t,
		dir("bin/", 0o755), dir("usr/", 0o755), dir("usr/bin/", 0o750),
		tfile{name: "bin/su", typ: tar.TypeReg, mode: 0o4755, body: "su-binary"},
		tfile{name: "usr/bin/wall", typ: tar.TypeReg, mode: 0o2755, body: "wall-binary"},
		file("bin/sh", 0o755, "shell"), file("usr/bin/apt-get", 0o755, "apt"), file("bin/ok", 0o755, "ok"),
	)
	// A hard link to a setuid file in a later layer, and one with file
	// capabilities.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "usr/bin/ping", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4,
		PAXRecords: map[string]string{fcapsKey: "\x01\x00\x00\x02\x00\x20\x00\x00"}})
	tw.Write([]byte("ping"))
	tw.WriteHeader(&tar.Header{Name: "usr/bin/newgrp", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 6})
	tw.Write([]byte("newgrp"))
	tw.WriteHeader(&tar.Header{Name: "usr/bin/sg", Typeflag: tar.TypeLink, Linkname: "usr/bin/newgrp", Mode: 0o4755})
	tw.Close()
	data := buf.Bytes()
	l2, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	in := input(t, "x:1", cleanConfig, nil, l1, l2)
	before, _ := Image(in, ImageOptions{})
	want(t, before, "IMG-SETUID", High, Fail, "/usr/bin/ping (owner 0:0, mode 0755, layer 1) with file capabilities", "/usr/bin/sg")

	res, err := Defang(in, DefangOptions{StripShells: true, StripPackageManagers: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Defanged, " "); got != "/bin/su /usr/bin/newgrp /usr/bin/ping /usr/bin/sg /usr/bin/wall" {
		t.Fatalf("defanged %q", got)
	}
	if got := strings.Join(res.Removed, " "); got != "/bin/sh /usr/bin/apt-get" {
		t.Fatalf("removed %q", got)
	}
	// The layer keeps contents, owners and the parents' modes.
	tr := tar.NewReader(bytes.NewReader(res.Layer))
	seen := map[string]*tar.Header{}
	bodies := map[string]string{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		seen[h.Name] = h
		b, _ := io.ReadAll(tr)
		bodies[h.Name] = string(b)
	}
	if h := seen["usr/bin/"]; h == nil || h.Mode != 0o750 {
		t.Fatalf("parent usr/bin/ = %+v, want the image's mode 0750", h)
	}
	if bodies["usr/bin/sg"] != "newgrp" || seen["usr/bin/sg"].Mode != 0o755 || bodies["bin/su"] != "su-binary" || len(seen["usr/bin/ping"].PAXRecords) != 0 {
		t.Fatalf("layer entries: %v %v", bodies, seen["usr/bin/ping"])
	}
	if seen["bin/.wh.sh"] == nil || seen["usr/bin/.wh.apt-get"] == nil || seen["bin/.wh.ok"] != nil {
		t.Fatalf("whiteouts: %v", seen)
	}

	nl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(res.Layer)), nil })
	if err != nil {
		t.Fatal(err)
	}
	after, err := Image(input(t, "x:1", cleanConfig, nil, l1, l2, nl), ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f := after.Find("IMG-SETUID")[0]; f.Result != Pass {
		t.Fatalf("after defang: %+v", f)
	}

	// --keep leaves a path as it is.
	res, err = Defang(in, DefangOptions{Keep: []string{"/bin/su"}})
	if err != nil {
		t.Fatal(err)
	}
	nl, _ = tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(res.Layer)), nil })
	kept, _ := Image(input(t, "x:1", v1.Config{User: "app"}, nil, l1, l2, nl), ImageOptions{})
	f := want(t, kept, "IMG-SETUID", High, Fail, "/bin/su")
	if len(f.Evidence) != 1 || len(res.Removed) != 0 {
		t.Fatalf("--keep /bin/su: %v, removed %v", f.Evidence, res.Removed)
	}
}

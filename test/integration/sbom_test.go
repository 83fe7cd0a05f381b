package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// sbomComponent is what a user reads from `tirith sbom`'s CycloneDX.
type sbomComponent struct {
	Name, Version, Purl, Layer, Path string
}

func cyclonedx(t *testing.T, out string) []sbomComponent {
	t.Helper()
	var bom struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		Components  []struct {
			Name       string `json:"name"`
			Version    string `json:"version"`
			Purl       string `json:"purl"`
			Properties []struct{ Name, Value string }
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(out), &bom); err != nil || bom.BOMFormat != "CycloneDX" {
		t.Fatalf("not a CycloneDX document (%v):\n%.2000s", err, out)
	}
	var cs []sbomComponent
	for _, c := range bom.Components {
		sc := sbomComponent{Name: c.Name, Version: c.Version, Purl: c.Purl}
		for _, p := range c.Properties {
			switch p.Name {
			case "tirith:layer":
				sc.Layer = p.Value
			case "tirith:path":
				sc.Path = p.Value
			}
		}
		if sc.Layer == "" || sc.Path == "" {
			t.Errorf("component %s has no layer or path", c.Name)
		}
		cs = append(cs, sc)
	}
	return cs
}

// The Debian image built with mmdebstrap: the SBOM lists exactly what
// dpkg-query lists for that root filesystem, with the same versions.
func TestSBOMDebianMatchesDpkgQuery(t *testing.T) {
	f := newDebian(t)
	if _, err := exec.LookPath("dpkg-query"); err != nil {
		t.Skip("dpkg-query is not on this host: nothing to compare the SBOM with")
	}
	img := f.inspect(f.storage, debianImageName)
	if len(img.Layers) != 1 {
		t.Fatalf("imported image has %d layers", len(img.Layers))
	}
	admindir := filepath.Join(layerDir(f.storage, img.Layers[0].DiffID), "var/lib/dpkg")
	q, err := exec.Command("dpkg-query", "--admindir="+admindir, "-W", "-f", "${Package}\t${Version}\n").Output()
	must(t, err)
	want := strings.Split(strings.TrimSpace(string(q)), "\n")
	sort.Strings(want)

	cs := cyclonedx(t, f.storageOK(f.storage, "sbom", debianImageName))
	var got []string
	for _, c := range cs {
		if !strings.HasPrefix(c.Purl, "pkg:deb/debian/"+c.Name+"@") {
			t.Errorf("%s: purl %s", c.Name, c.Purl)
		}
		if c.Layer != img.Layers[0].DiffID || c.Path != "/var/lib/dpkg/status" {
			t.Errorf("%s: layer %s path %s", c.Name, c.Layer, c.Path)
		}
		got = append(got, c.Name+"\t"+c.Version)
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("SBOM lists %d packages, dpkg-query %d; they differ", len(got), len(want))
	}
	if len(want) < 100 {
		t.Errorf("dpkg-query lists only %d packages: not the image the tier built?", len(want))
	}

	spdx := f.storageOK(f.storage, "sbom", "--format", "spdx-json", debianImageName)
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name        string `json:"name"`
			VersionInfo string `json:"versionInfo"`
		} `json:"packages"`
	}
	must(t, json.Unmarshal([]byte(spdx), &doc))
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) != len(want)+1 { // +1: the image
		t.Errorf("SPDX: %s with %d packages, want SPDX-2.3 with %d", doc.SPDXVersion, len(doc.Packages), len(want)+1)
	}
}

// An image of two layers: a Go binary (Tirith itself), a distroless-style
// dpkg status.d entry, a Python dist-info and npm packages; the upper
// layer deletes one npm package (a whiteout) and hides a directory
// (opaque), which must then not be listed.
func TestSBOMLayersGoPythonNpm(t *testing.T) {
	e := newEnv(t)
	bin, err := os.ReadFile(tirithBin)
	must(t, err)
	mt := time.Unix(1700000000, 0)
	tarOf := func(add func(file func(name string, mode int64, body []byte), dir func(name string))) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		file := func(n string, mode int64, body []byte) {
			must(t, tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(body)), ModTime: mt}))
			_, err := tw.Write(body)
			must(t, err)
		}
		dir := func(n string) {
			must(t, tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mt}))
		}
		add(file, dir)
		must(t, tw.Close())
		return buf.Bytes()
	}
	lower := tarOf(func(file func(string, int64, []byte), dir func(string)) {
		for _, d := range []string{"usr/", "usr/bin/", "var/", "var/lib/", "var/lib/dpkg/", "var/lib/dpkg/status.d/",
			"app/", "app/node_modules/", "app/node_modules/left-pad/", "app/node_modules/@scope/", "app/node_modules/@scope/pkg/",
			"app/node_modules/gone/", "opt/", "opt/old/", "opt/old/node_modules/", "opt/old/node_modules/hidden/",
			"lib/", "lib/apk/", "lib/apk/db/", "usr/lib/", "usr/lib/python3/", "usr/lib/python3/requests-2.31.0.dist-info/"} {
			dir(d)
		}
		file("usr/bin/tool", 0o755, bin)
		file("lib/apk/db/installed", 0o644, []byte("C:Q1abc=\nP:musl\nV:1.2.4-r2\nA:x86_64\no:musl\n\nP:libcrypto3\nV:3.1.4-r1\nA:x86_64\no:openssl\n\n"))
		file("var/lib/dpkg/status.d/base-files", 0o644, []byte("Package: base-files\nStatus: install ok installed\nVersion: 12.4+deb12u5\nArchitecture: amd64\n"))
		file("app/node_modules/left-pad/package.json", 0o644, []byte(`{"name":"left-pad","version":"1.3.0"}`))
		file("app/node_modules/@scope/pkg/package.json", 0o644, []byte(`{"name":"@scope/pkg","version":"2.0.1"}`))
		file("app/node_modules/gone/package.json", 0o644, []byte(`{"name":"gone","version":"0.0.1"}`))
		file("opt/old/node_modules/hidden/package.json", 0o644, []byte(`{"name":"hidden","version":"9.9.9"}`))
		file("usr/lib/python3/requests-2.31.0.dist-info/METADATA", 0o644, []byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nDescription: Name: not-this\n"))
	})
	upper := tarOf(func(file func(string, int64, []byte), dir func(string)) {
		dir("app/")
		dir("app/node_modules/")
		file("app/node_modules/.wh.gone", 0o644, nil)
		dir("opt/")
		dir("opt/old/")
		file("opt/old/.wh..wh..opq", 0o644, nil)
	})
	img := empty.Image
	for _, b := range [][]byte{lower, upper} {
		l, err := tarball.LayerFromReader(bytes.NewReader(b))
		must(t, err)
		img, err = mutate.AppendLayers(img, l)
		must(t, err)
	}
	host := testRegistry(t)
	ref := host + "/sbom/app:1"
	push(t, ref, img)
	st := t.TempDir()
	e.storageOK(st, "pull", ref)
	ins := e.inspect(st, ref)
	lowerID := ins.Layers[0].DiffID

	cs := cyclonedx(t, e.storageOK(st, "sbom", ref))
	got := map[string]sbomComponent{}
	for _, c := range cs {
		got[c.Name] = c
	}
	for _, w := range []sbomComponent{
		{Name: "base-files", Version: "12.4+deb12u5", Purl: "pkg:deb/debian/base-files@12.4+deb12u5?arch=amd64", Path: "/var/lib/dpkg/status.d/base-files"},
		{Name: "musl", Version: "1.2.4-r2", Purl: "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64", Path: "/lib/apk/db/installed"},
		{Name: "libcrypto3", Version: "3.1.4-r1", Purl: "pkg:apk/alpine/libcrypto3@3.1.4-r1?arch=x86_64&upstream=openssl", Path: "/lib/apk/db/installed"},
		{Name: "left-pad", Version: "1.3.0", Purl: "pkg:npm/left-pad@1.3.0", Path: "/app/node_modules/left-pad/package.json"},
		{Name: "@scope/pkg", Version: "2.0.1", Purl: "pkg:npm/%40scope/pkg@2.0.1", Path: "/app/node_modules/@scope/pkg/package.json"},
		{Name: "requests", Version: "2.31.0", Purl: "pkg:pypi/requests@2.31.0", Path: "/usr/lib/python3/requests-2.31.0.dist-info/METADATA"},
		{Name: "github.com/tirith-project/tirith", Version: "(devel)", Purl: "pkg:golang/github.com/tirith-project/tirith", Path: "/usr/bin/tool"},
	} {
		w.Layer = lowerID
		if got[w.Name] != w {
			t.Errorf("component %s = %+v, want %+v", w.Name, got[w.Name], w)
		}
	}
	for _, n := range []string{"gone", "hidden", "not-this"} {
		if c, ok := got[n]; ok {
			t.Errorf("%s is deleted or hidden by the upper layer, yet listed: %+v", n, c)
		}
	}
	// Every module `go version -m` reads from the binary, with its version.
	out, err := exec.Command("go", "version", "-m", tirithBin).Output()
	must(t, err)
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		fs := strings.Fields(l)
		if len(fs) >= 3 && (fs[0] == "dep" || fs[0] == "=>") {
			if fs[0] == "=>" {
				continue
			}
			c, ok := got[fs[1]]
			if !ok || c.Version != fs[2] || c.Path != "/usr/bin/tool" {
				t.Errorf("Go module %s %s: got %+v", fs[1], fs[2], c)
			}
			if want := fmt.Sprintf("@%s", fs[2]); !strings.HasSuffix(c.Purl, want) || !strings.HasPrefix(c.Purl, "pkg:golang/") {
				t.Errorf("Go module %s: purl %s", fs[1], c.Purl)
			}
			n++
		}
	}
	if n < 5 || got["github.com/spf13/cobra"].Name == "" {
		t.Errorf("only %d Go modules checked; cobra: %+v", n, got["github.com/spf13/cobra"])
	}
	if r := e.storage(st, "sbom", "--format", "xml", ref); r.code == 0 || !strings.Contains(r.stderr, `--format "xml"`) {
		t.Errorf("bad --format: exit %d %s", r.code, r.stderr)
	}
}

// tirith audit image on the Debian image with records the test writes:
// one whose range covers the installed version (by source package, as
// Debian's records name them), one fixed before it, one for another
// Debian release.
func TestAuditImageVulnDebian(t *testing.T) {
	f := newDebian(t)
	img := f.inspect(f.storage, debianImageName)
	admindir := filepath.Join(layerDir(f.storage, img.Layers[0].DiffID), "var/lib/dpkg")
	q, err := exec.Command("dpkg-query", "--admindir="+admindir, "-W", "-f", "${Package}\t${Version}\t${source:Package}\n", "libc6").Output()
	if err != nil {
		t.Skipf("dpkg-query cannot read the image's database here: %v", err)
	}
	fs := strings.Split(strings.TrimSpace(string(q)), "\t")
	libcVer, src := fs[1], fs[2]
	if src != "glibc" {
		t.Fatalf("libc6's source package is %q", src)
	}
	dir := t.TempDir()
	rec := func(id, eco, name, fixed, urgency string) {
		b := fmt.Sprintf(`{"id":%q,"aliases":["CVE-2099-%s"],"affected":[{"package":{"ecosystem":%q,"name":%q},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":%q}]}],"ecosystem_specific":{"urgency":%q}}]}`,
			id, id[len(id)-4:], eco, name, fixed, urgency)
		must(t, os.WriteFile(filepath.Join(dir, id+".json"), []byte(b), 0o644))
	}
	rec("DSA-9001", "Debian:12", "glibc", libcVer+"+tirith1", "high")
	rec("DSA-9002", "Debian:12", "glibc", "2.0-1", "high")
	rec("DSA-9003", "Debian:11", "glibc", libcVer+"+tirith1", "high")

	// The matches join the image audit's report: its JSON, its --fail-on.
	out := f.env.storageOK(f.storage, "audit", "image", "--vuln-db", dir, "--format", "json", debianImageName)
	var rep struct {
		Findings []struct {
			ID, Title, Severity, Result string
			Evidence, Refs              []string
		}
	}
	must(t, json.Unmarshal([]byte(out), &rep))
	pk := map[string]bool{}
	records := false
	for _, fd := range rep.Findings {
		ev := strings.Join(fd.Evidence, "\n")
		switch {
		case fd.ID == "TIRITH-VULN-DB":
			records = strings.Contains(ev, "3 records read")
		case strings.HasPrefix(fd.ID, "DSA-"):
			if fd.ID != "DSA-9001" {
				t.Errorf("unexpected finding %+v", fd)
				continue
			}
			for _, p := range []string{"libc6", "libc-bin"} {
				if strings.HasPrefix(fd.Title, p+" ") {
					pk[p] = true
				}
			}
			if fd.Severity != "high" || fd.Result != "fail" || !strings.Contains(ev, "fixed in "+libcVer+"+tirith1") ||
				!strings.Contains(ev, "/var/lib/dpkg/status of layer "+img.Layers[0].DiffID) || !slices.Contains(fd.Refs, "CVE-2099-9001") {
				t.Errorf("finding %+v", fd)
			}
			if strings.HasPrefix(fd.Title, "libc6 ") && !strings.HasPrefix(fd.Title, "libc6 "+libcVer+" ") {
				t.Errorf("libc6 finding %q, want version %s", fd.Title, libcVer)
			}
		}
	}
	if !records {
		t.Errorf("no TIRITH-VULN-DB note saying 3 records were read")
	}
	if !pk["libc6"] || !pk["libc-bin"] {
		t.Errorf("glibc's binary packages libc6 and libc-bin not both found: %v", pk)
	}
	r := f.env.storage(f.storage, "audit", "image", "--vuln-db", dir, "--fail-on", "high", debianImageName)
	if r.code != 1 || !strings.Contains(r.stderr, "at or above high") || !strings.Contains(r.stdout, "DSA-9001") {
		t.Errorf("--fail-on high: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

}

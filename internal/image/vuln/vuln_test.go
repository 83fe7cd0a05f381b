package vuln

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tirith-project/tirith/internal/image/sbom"
)

// Debian ordering is checked against dpkg itself where it is installed.
func TestCompareDpkgAgainstDpkg(t *testing.T) {
	pairs := [][2]string{
		{"1.0", "1.0"}, {"1.0", "1.1"}, {"1.0~rc1", "1.0"}, {"1:0.9", "2.0"}, {"2.36-9+deb12u4", "2.36-9+deb12u10"},
		{"3.0.11-1~deb12u2", "3.0.11-1"}, {"1.2.3a", "1.2.3"}, {"1.2.3+b1", "1.2.3"}, {"7.88.1-10+deb12u5", "7.88.1-10+deb12u8"},
		{"1.0-1", "1.0"}, {"0", "0.0"}, {"1.01", "1.1"}, {"1.0.0", "1.0"}, {"a", "b"}, {"1~~", "1~"}, {"1.2.3-a", "1.2.3-+"},
	}
	want := map[[2]string]int{
		{"1.0", "1.1"}: -1, {"1.0~rc1", "1.0"}: -1, {"1:0.9", "2.0"}: 1, {"2.36-9+deb12u4", "2.36-9+deb12u10"}: -1,
		{"3.0.11-1~deb12u2", "3.0.11-1"}: -1, {"1.2.3a", "1.2.3"}: 1, {"1.2.3+b1", "1.2.3"}: 1, {"7.88.1-10+deb12u5", "7.88.1-10+deb12u8"}: -1,
		{"1.0-1", "1.0"}: 1, {"1.0.0", "1.0"}: 1, {"0", "0.0"}: -1, {"a", "b"}: -1, {"1~~", "1~"}: -1, {"1.2.3-a", "1.2.3-+"}: -1,
	}
	_, err := exec.LookPath("dpkg")
	for _, p := range pairs {
		got := CompareDpkg(p[0], p[1])
		if got != want[p] {
			t.Errorf("CompareDpkg(%q, %q) = %d, want %d", p[0], p[1], got, want[p])
		}
		if got != -CompareDpkg(p[1], p[0]) {
			t.Errorf("CompareDpkg(%q, %q) is not antisymmetric", p[0], p[1])
		}
		if err == nil {
			for op, w := range map[string]bool{"lt": got < 0, "eq": got == 0, "gt": got > 0} {
				ok := exec.Command("dpkg", "--compare-versions", p[0], op, p[1]).Run() == nil
				if ok != w {
					t.Errorf("dpkg --compare-versions %s %s %s = %v, CompareDpkg says %d", p[0], op, p[1], ok, got)
				}
			}
		}
	}
}

func TestCompareOthers(t *testing.T) {
	for _, c := range []struct {
		f    func(a, b string) int
		a, b string
		want int
	}{
		{CompareSemver, "v1.2.3", "1.2.4", -1}, {CompareSemver, "v1.10.0", "v1.9.9", 1}, {CompareSemver, "v1.0.0-rc.1", "v1.0.0", -1},
		{CompareSemver, "v1.0.0-alpha", "v1.0.0-alpha.1", -1}, {CompareSemver, "v1.0.0-2", "v1.0.0-beta", -1},
		{CompareSemver, "v0.0.0-20180116102854-5a71ef0e047d", "v0.1.0", -1},
		{ComparePEP440, "2.31.0", "2.32.0", -1}, {ComparePEP440, "1.0a1", "1.0", -1}, {ComparePEP440, "1.0rc2", "1.0b9", 1},
		{ComparePEP440, "1.0.post1", "1.0", 1}, {ComparePEP440, "1.0.dev1", "1.0a1", -1}, {ComparePEP440, "1!0.1", "2.0", 1},
		{ComparePEP440, "1.0", "1.0.0", 0},
		{CompareApk, "3.1.4-r1", "3.1.4-r2", -1}, {CompareApk, "1.2.4_rc1-r0", "1.2.4-r0", -1}, {CompareApk, "1.2.4_p1-r0", "1.2.4-r5", 1},
		{CompareApk, "1.36.1-r15", "1.36.1-r2", 1}, {CompareApk, "2.4a-r0", "2.4-r0", 1},
	} {
		if got := c.f(c.a, c.b); got != c.want {
			t.Errorf("compare(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func writeRecords(t *testing.T, recs map[string]string) string {
	dir := t.TempDir()
	for n, r := range recs {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(r), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestMatch(t *testing.T) {
	dir := writeRecords(t, map[string]string{
		"debian/DSA-1.json": `{"id":"DSA-0001-1","aliases":["CVE-2024-0001"],"affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}],"ecosystem_specific":{"urgency":"high"}}]}`,
		"debian/DSA-2.json": `{"id":"DSA-0002-1","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.9-1"}]}]}]}`,
		"debian/DSA-3.json": `{"id":"DSA-0003-1","affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"9.9"}]}]}]}`,
		"go/GO-1.json": `{"id":"GO-2024-0001","aliases":["CVE-2024-1111","GHSA-xxxx"],"affected":[{"package":{"ecosystem":"Go","name":"golang.org/x/net"},
			"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"0.23.0"},{"introduced":"0.60.0"},{"fixed":"0.63.0"}]}]}],
			"database_specific":{"severity":"MODERATE"}}`,
		"pypi/PYSEC-1.json": `{"id":"PYSEC-2024-1","affected":[{"package":{"ecosystem":"PyPI","name":"Requests"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"2.0"},{"last_affected":"2.31.0"}]}]}]}`,
		"alpine/ALPINE-1.json": `{"id":"CVE-2024-2222","affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"openssl"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.1.4-r5"}]}]}]}`,
	})
	db, err := Load(dir)
	if err != nil || db.Count != 6 {
		t.Fatalf("Load: %v, %v records", err, db)
	}
	cs := []sbom.Component{
		{Type: "deb", Name: "libssl3", Source: "openssl", Version: "3.0.11-1~deb12u2", OS: "debian:12", Path: "/var/lib/dpkg/status", Layer: "sha256:l1"},
		{Type: "golang", Name: "golang.org/x/net", Version: "v0.62.0", Path: "/usr/bin/tool"},
		{Type: "golang", Name: "golang.org/x/net", Version: "v0.63.0", Path: "/usr/bin/newer"},
		{Type: "pypi", Name: "requests", Version: "2.31.0", Path: "/m"},
		{Type: "pypi", Name: "requests", Version: "2.32.0", Path: "/n"},
		{Type: "apk", Name: "libcrypto3", Source: "openssl", Version: "3.1.4-r1", OS: "alpine:3.19.1", Path: "/lib/apk/db/installed"},
	}
	got := map[string]Finding{}
	for _, f := range db.Match(cs) {
		got[f.ID+" "+f.Path] = f
	}
	want := map[string]string{ // id path -> fixed
		"DSA-0001-1 /var/lib/dpkg/status":     "3.0.13-1~deb12u1",
		"GO-2024-0001 /usr/bin/tool":          "0.63.0",
		"PYSEC-2024-1 /m":                     "",
		"CVE-2024-2222 /lib/apk/db/installed": "3.1.4-r5",
	}
	for k, fixed := range want {
		f, ok := got[k]
		if !ok || f.Fixed != fixed {
			t.Errorf("finding %s: %+v, want fixed %q", k, f, fixed)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d: %v", len(got), len(want), got)
	}
	f := got["DSA-0001-1 /var/lib/dpkg/status"]
	if f.Severity != "high" || f.Aliases[0] != "CVE-2024-0001" || f.Package != "libssl3" || f.Layer != "sha256:l1" {
		t.Errorf("DSA finding: %+v", f)
	}
	if got["GO-2024-0001 /usr/bin/tool"].Severity != "medium" {
		t.Errorf("GHSA MODERATE is medium: %+v", got["GO-2024-0001 /usr/bin/tool"])
	}
}

func TestLoadRefusesDamagedRecords(t *testing.T) {
	if _, err := Load(writeRecords(t, map[string]string{"x.json": `{"id":`})); err == nil {
		t.Error("a truncated record must fail the load")
	}
	if _, err := Load(writeRecords(t, map[string]string{"x.json": `{"summary":"no id"}`})); err == nil {
		t.Error("a file without id must fail the load")
	}
}

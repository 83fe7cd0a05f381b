package unpack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// fuzzOutside is a fixed directory outside every fuzz target, so that seed
// tars can name it in absolute symlinks and hard links. It is created once
// (atomically, several fuzz workers share it) and must never change.
const fuzzOutside = "/tmp/tirith-fuzz-outside"

func ensureFuzzOutside(t testing.TB) {
	if _, err := os.Stat(filepath.Join(fuzzOutside, "etc", "passwd")); err == nil {
		return
	}
	tmp, err := os.MkdirTemp("/tmp", "tirith-fuzz-outside-")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(tmp, "etc"), 0o755)
	os.WriteFile(filepath.Join(tmp, "etc", "passwd"), []byte("root:x:0:0\n"), 0o644)
	os.WriteFile(filepath.Join(tmp, "secret"), []byte("s3cret"), 0o600)
	os.Chmod(tmp, 0o755)
	if err := os.Rename(tmp, fuzzOutside); err != nil {
		os.RemoveAll(tmp) // another worker won the race
	}
}

// seedTars are the checked-in seeds (testdata/fuzz/FuzzUnpack), also used
// by TestFuzzSeedsUpToDate so they stay in sync with this list.
func seedTars(t testing.TB) map[string][]byte {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	plain := buildTar(t, dirE("etc/"), fileE("etc/hostname", "x\n"), symE("bin", "usr/bin"), hardE("etc/h2", "etc/hostname"))
	return map[string][]byte{
		"plain":           plain,
		"gzip":            gz(plain),
		"dotdot":          buildTar(t, fileE("../../../tmp/tirith-fuzz-outside/pwn", "x")),
		"symlink-root":    buildTar(t, symE("evil", "/"), fileE("evil/tmp/tirith-fuzz-outside/pwn", "x")),
		"symlink-outside": buildTar(t, symE("evil", fuzzOutside), fileE("evil/secret", "x"), hardE("h", "evil/secret")),
		"symlink-chain":   buildTar(t, symE("a", "b/../../.."), symE("b", "c"), dirE("c/"), fileE("a/tmp/x", "x")),
		"hardlink-shadow": buildTar(t, hardE("shadow", "/etc/shadow")),
		"leaf-symlink":    buildTar(t, symE("f", fuzzOutside+"/secret"), fileE("f", "x")),
		"whiteouts":       buildTar(t, dirE("d/"), fileE("d/.wh.x", ""), fileE("d/.wh..wh..opq", ""), charE("w", 0, 0), fileE(".wh...", "")),
		"device":          buildTar(t, charE("mem", 1, 1)),
		"huge-header":     buildTar(t, entry{name: "huge", typ: '0', mode: 0o644, size: 1 << 40}),
		"long-path":       buildTar(t, fileE(strings.Repeat("a/", 2100)+"f", "x")),
	}
}

func FuzzUnpack(f *testing.F) {
	ensureFuzzOutside(f)
	before := snapshot(f, fuzzOutside, "")
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSandbox(t)
		opts := Options{
			MaxFileSize: 1 << 20, MaxTotalSize: 4 << 20,
			AllowDevices:    len(data)%2 == 1,
			IgnoreOwnership: os.Geteuid() != 0,
		}
		// Errors are expected for most random input; the property is
		// only that nothing outside the target changed and nothing panicked.
		_, _ = Unpack(context.Background(), bytes.NewReader(data), s.target, opts)
		s.check()
		if d := diffSnapshots(before, snapshot(t, fuzzOutside, "")); len(d) > 0 {
			t.Fatalf("unpack changed %s:\n%s", fuzzOutside, strings.Join(d, "\n"))
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzUnpack when
// TIRITH_WRITE_FUZZ_SEEDS=1, and otherwise checks the files are present.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzUnpack")
	for name, data := range seedTars(t) {
		p := filepath.Join(dir, name)
		if os.Getenv("TIRITH_WRITE_FUZZ_SEEDS") == "1" {
			os.MkdirAll(dir, 0o755)
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("seed %s missing (run with TIRITH_WRITE_FUZZ_SEEDS=1): %v", name, err)
		}
	}
}

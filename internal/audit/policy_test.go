package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestPolicyViolationsAndCache(t *testing.T) {
	l := layerTar(t, dir("bin/", 0o755), file("bin/su", 0o4755, "su"))
	cfg := v1.Config{User: "app", Env: []string{"API_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789"}}
	in := input(t, "x:1", cfg, nil, l)
	in.ID = "sha256:1111"
	cache := t.TempDir()
	p := Policy{Mode: "warn", Severity: High}
	v, err := p.Violations(in, cache)
	if err != nil {
		t.Fatal(err)
	}
	// /bin/su is in the default allow-list; the token is not.
	if len(v) != 1 || v[0].ID != "IMG-SECRET-ENV" {
		t.Fatalf("violations = %+v", v)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}
	// The second call reads the cache, not the image.
	in.Open = nil
	if v2, err := p.Violations(in, cache); err != nil || len(v2) != 1 {
		t.Fatalf("cached: %v %v", v2, err)
	}
	// Another allow-list is another cache entry.
	p.AllowSetuid = []string{}
	in = input(t, "x:1", cfg, nil, l)
	in.ID = "sha256:1111"
	v, _ = p.Violations(in, cache)
	if len(v) != 2 {
		t.Fatalf("without the default allow-list: %+v", v)
	}
	if p.Severity = Critical; len(must1(p.Violations(in, cache))) != 0 {
		t.Fatal("nothing is critical")
	}
}

func must1(v []Finding, err error) []Finding {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLoadPolicy(t *testing.T) {
	d := t.TempDir()
	p, err := LoadPolicy(filepath.Join(d, "none.json"), "")
	if err != nil || p.Mode != "warn" || p.Severity != High {
		t.Fatalf("no file: %+v %v", p, err)
	}
	cfg := filepath.Join(d, "c.json")
	os.WriteFile(cfg, []byte(`{"imagePolicy":"refuse","imagePolicySeverity":"medium","allowSecrets":["X"]}`), 0o644)
	if p, err = LoadPolicy(cfg, ""); err != nil || p.Mode != "refuse" || p.Severity != Medium || p.AllowSecrets[0] != "X" {
		t.Fatalf("file: %+v %v", p, err)
	}
	if p, _ = LoadPolicy(cfg, "off"); p.Mode != "off" {
		t.Fatalf("the flag wins: %+v", p)
	}
	os.WriteFile(cfg, []byte(`{"imagepolicy":"refuse","extra":1}`), 0o644)
	if _, err = LoadPolicy(cfg, ""); err == nil || !strings.Contains(err.Error(), "extra") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err = LoadPolicy(filepath.Join(d, "none.json"), "strict"); err == nil || !strings.Contains(err.Error(), "--image-policy") {
		t.Fatalf("bad flag: %v", err)
	}
}

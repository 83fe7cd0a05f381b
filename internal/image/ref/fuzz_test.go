package ref

import (
	"strings"
	"testing"
)

// FuzzNormalize: no input makes Parse panic, and what parses is a fixed
// point: Normalize(Normalize(x)) == Normalize(x), the canonical form parses
// back to the same Reference, and the familiar form names the same image.
// Seeds live in testdata/fuzz/FuzzNormalize.
func FuzzNormalize(f *testing.F) {
	f.Add("busybox")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		n, nerr := Normalize(s)
		if (err == nil) != (nerr == nil) {
			t.Fatalf("Parse(%q) err %v but Normalize err %v", s, err, nerr)
		}
		if err != nil {
			return
		}
		if n != r.String() {
			t.Fatalf("Normalize(%q) = %q, Parse.String() = %q", s, n, r.String())
		}
		if r.Registry == "" || r.Repository == "" {
			t.Fatalf("Parse(%q) = %+v: empty registry or repository", s, r)
		}
		if (r.Tag == "") == (r.Digest == "") {
			t.Fatalf("Parse(%q) = %+v: want exactly one of tag and digest", s, r)
		}
		if r.Digest != "" && !strings.HasPrefix(r.Digest, "sha256:") && !strings.Contains(r.Digest, ":") {
			t.Fatalf("Parse(%q) digest %q has no algorithm", s, r.Digest)
		}
		n2, err := Normalize(n)
		if err != nil {
			t.Fatalf("Normalize(%q) = %q, which does not parse: %v", s, n, err)
		}
		if n2 != n {
			t.Fatalf("not idempotent: Normalize(%q) = %q, Normalize of that = %q", s, n, n2)
		}
		r2, _ := Parse(n)
		if r2 != r {
			t.Fatalf("Parse(%q) = %+v, Parse(canonical %q) = %+v", s, r, n, r2)
		}
		fam := r.Familiar()
		nf, err := Normalize(fam)
		if err != nil || nf != n {
			t.Fatalf("Familiar(%q) = %q normalizes to %q (%v), want %q", s, fam, nf, err, n)
		}
	})
}

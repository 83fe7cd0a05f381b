package landlock

import (
	"slices"
	"testing"
)

// FuzzParse: no annotation makes Parse panic; an accepted policy has only
// absolute paths and known scopes, and round-trips through String(): the
// rendered annotation parses to the same policy and renders identically.
// Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add(`{"readOnly":["/"],"execute":["/bin"],"readWrite":["/tmp"]}`)
	f.Add(`{"readOnly":["/"],"execute":["/"],"noExecute":["/tmp"],"readWrite":["/tmp"]}`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		for _, l := range [][]string{p.ReadOnly, p.Execute, p.NoExecute, p.ReadWrite} {
			for _, path := range l {
				if path == "" || path[0] != '/' {
					t.Fatalf("Parse(%q) accepted relative path %q", s, path)
				}
			}
		}
		for _, sc := range p.Scope {
			if _, ok := scopes[sc]; !ok {
				t.Fatalf("Parse(%q) accepted unknown scope %q", s, sc)
			}
		}
		out := p.String()
		q, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String() %q does not parse: %v", s, out, err)
		}
		if q.String() != out {
			t.Fatalf("String() not stable: %q -> %q", out, q.String())
		}
		if q.netHandled != p.netHandled {
			t.Fatalf("round trip of %q changed whether TCP is restricted: %v -> %v", s, p.netHandled, q.netHandled)
		}
		// nil and empty lists mean the same: nothing allowed.
		for _, pair := range [][2][]string{{p.ReadOnly, q.ReadOnly}, {p.Execute, q.Execute}, {p.NoExecute, q.NoExecute}, {p.ReadWrite, q.ReadWrite}, {p.Scope, q.Scope}} {
			if !slices.Equal(pair[0], pair[1]) {
				t.Fatalf("round trip of %q changed %q to %q", s, pair[0], pair[1])
			}
		}
		if !slices.Equal(p.BindTCP, q.BindTCP) || !slices.Equal(p.ConnectTCP, q.ConnectTCP) {
			t.Fatalf("round trip of %q changed ports: %v/%v -> %v/%v", s, p.BindTCP, p.ConnectTCP, q.BindTCP, q.ConnectTCP)
		}
	})
}

package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// The container's resolv.conf drops the host's loopback servers (its
// loopback is its own) and keeps everything else.
func TestFilterResolv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	in := "# comment\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.53\nnameserver bogus\nsearch example.test\noptions edns0\n"
	if err := os.WriteFile(p, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	out, n := filterResolv(p)
	want := "# comment\nnameserver 192.0.2.53\nsearch example.test\noptions edns0\n"
	if string(out) != want || n != 1 {
		t.Fatalf("filterResolv = %q, %d; want %q, 1", out, n, want)
	}
	if out, n := filterResolv(filepath.Join(t.TempDir(), "missing")); len(out) != 0 || n != 0 {
		t.Fatalf("missing file: %q %d", out, n)
	}
}

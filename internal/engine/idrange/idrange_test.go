package idrange

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func subuidFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "subuid")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Root's /etc/subuid range is used, and nothing outside it.
func TestAllocStaysInRootsRange(t *testing.T) {
	f := subuidFile(t, "alice:100000:65536\nroot:1000000:131072\n")
	used := map[uint32]bool{}
	for _, want := range []uint32{1000000, 1065536} {
		got, err := Alloc(f, used)
		if err != nil || got != want {
			t.Fatalf("Alloc = %d, %v; want %d", got, err, want)
		}
		used[got] = true
	}
	if got, err := Alloc(f, used); err == nil || !strings.Contains(err.Error(), "no free range") {
		t.Fatalf("third range from a two-range pool: %d, %v", got, err)
	}
}

// Without a root entry the pool starts at 2^31, above any entry that
// would overlap it, on a range boundary.
func TestAllocDefaultPoolAvoidsEntries(t *testing.T) {
	got, err := Alloc(filepath.Join(t.TempDir(), "missing"), nil)
	if err != nil || got != 1<<31 {
		t.Fatalf("no subuid file: %d, %v; want %d", got, err, uint32(1<<31))
	}
	f := subuidFile(t, "bob:2147483648:100\n")
	got, err = Alloc(f, nil)
	if want := uint32(1<<31 + Size); err != nil || got != want {
		t.Fatalf("bob owns 2^31..+100: %d, %v; want %d", got, err, want)
	}
}

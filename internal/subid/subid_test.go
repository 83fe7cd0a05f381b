package subid

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseAndFirst(t *testing.T) {
	p := filepath.Join(t.TempDir(), "subuid")
	data := "root:100000:65536\nbroken line\nalice:x:10\nalice:200000:0\nalice:300000:65536\n1001:400000:1000\n"
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	got := Parse(p)
	want := []Range{{"root", 100000, 65536}, {"alice", 300000, 65536}, {"1001", 400000, 1000}}
	if len(got) != len(want) {
		t.Fatalf("Parse = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Parse = %v, want %v", got, want)
		}
	}
	if r, ok := First(p, "alice", 1000); !ok || r.Start != 300000 {
		t.Errorf("First(alice) = %v %v", r, ok)
	}
	if r, ok := First(p, "bob", 1001); !ok || r.Start != 400000 {
		t.Errorf("First(uid 1001) = %v %v", r, ok)
	}
	if _, ok := First(p, "carol", 1002); ok {
		t.Error("First(carol) found a range")
	}
	if Parse(filepath.Join(t.TempDir(), "missing")) != nil {
		t.Error("a missing file gave ranges")
	}
}

package profgen

import (
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/seccomp"
)

func written(t *testing.T, p *Profile) *seccomp.Profile {
	t.Helper()
	data, _, err := Write(p)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := seccomp.ParseProfile(data)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestWriteReadMerge(t *testing.T) {
	a := Set{}
	a.Add("read", "trace: run 1")
	a.Add("clone", "static: runtime.clone")
	a.Add("keyctl", "static: main.main")
	data, refused, err := Write(&Profile{Allow: a})
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 1 || refused[0] != "keyctl" {
		t.Errorf("refused %v, want [keyctl]", refused)
	}
	back, err := Read(data)
	if err != nil {
		t.Fatal(err)
	}
	b := Set{"write": {"trace: run 2"}, "read": {"trace: run 2"}}
	back.Merge(b)
	if got := strings.Join(back.Names(), " "); got != "clone read write" {
		t.Errorf("merged names %q", got)
	}
	if got := strings.Join(back["read"], ","); got != "trace: run 1,trace: run 2" {
		t.Errorf("read's origins %q", got)
	}
	if _, _, err := Write(&Profile{Allow: Set{"nosuch": {"x"}}}); err == nil {
		t.Error("unknown syscall name written")
	}
}

func TestExplainAndDiff(t *testing.T) {
	p := written(t, &Profile{Allow: Set{"read": {"static: main.main"}, "clone": {"static: runtime.clone"}}})
	out, err := Explain(p, "read", nil, "amd64", "6.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "read (SCMP_ARCH_X86_64 0): SCMP_ACT_ALLOW\n") || !strings.Contains(out, "rule 1: SCMP_ACT_ALLOW  (from: static: main.main)") {
		t.Errorf("explain read:\n%s", out)
	}
	out, _ = Explain(p, "clone", nil, "amd64", "6.1.0")
	if !strings.Contains(out, "SCMP_ACT_ALLOW if arg0 & 0x7e020000 == 0x0; else SCMP_ACT_ERRNO(1) (default action)") {
		t.Errorf("explain clone:\n%s", out)
	}
	out, _ = Explain(p, "write", nil, "amd64", "6.1.0")
	if out != "write (SCMP_ARCH_X86_64 1): SCMP_ACT_ERRNO(1) (default action)\n" {
		t.Errorf("explain write:\n%s", out)
	}
	if _, err := Explain(p, "nosuch", nil, "amd64", ""); err == nil {
		t.Error("explain of an unknown syscall succeeded")
	}

	q := written(t, &Profile{Allow: Set{"read": {"x"}, "write": {"y"}}})
	lines, err := Diff(p.Resolve(nil, "amd64", ""), q.Resolve(nil, "amd64", ""), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(lines, "\n")
	want := "clone: SCMP_ACT_ALLOW if arg0 & 0x7e020000 == 0x0; else SCMP_ACT_ERRNO(1) (default action) | SCMP_ACT_ERRNO(1) (default action)\n" +
		"write: SCMP_ACT_ERRNO(1) (default action) | SCMP_ACT_ALLOW"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

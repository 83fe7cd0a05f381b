package landlock

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree makes, under a temp dir:
//
//	bin/sh            image program
//	entry.sh          a file at the top
//	srv/app/bin/x     program in an unusual place
//	srv/data/         a "writable volume"  (noExecute)
//	tmp/drop          a "scratch mount"    (noExecute)
//	tmp/bin/tool      beneath a noExecute path
//	usr -> srv/app    a symlink
//	var/run -> ../tmp a symlink into a noExecute path
func tree(t *testing.T) string {
	t.Helper()
	r := t.TempDir()
	for _, d := range []string{"bin", "srv/app/bin", "srv/data", "tmp/bin", "var"} {
		if err := os.MkdirAll(filepath.Join(r, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"bin/sh", "entry.sh", "srv/app/bin/x", "tmp/drop", "tmp/bin/tool"} {
		if err := os.WriteFile(filepath.Join(r, f), []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"usr": "srv/app", "var/run": "../tmp"} {
		if err := os.Symlink(target, filepath.Join(r, link)); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// rules runs the walk and returns its rules as "x path" (EXECUTE beneath
// path) or "r path" (read only: a directory on the way), relative to r.
func rules(t *testing.T, r string, execute, noExecute []string) (got, skipped []string) {
	t.Helper()
	abs := func(l []string) []string {
		out := []string{}
		for _, p := range l {
			out = append(out, filepath.Join(r, p))
		}
		return out
	}
	skipped, err := walkExecute(abs(execute), abs(noExecute), func(fd int, path string, dir, exec bool) error {
		if fd < 0 {
			t.Errorf("grant of %s without an fd", path)
		}
		kind := "r "
		if exec {
			kind = "x "
		}
		rel, _ := filepath.Rel(r, path)
		got = append(got, kind+rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got, skipped
}

func TestWalkExecute(t *testing.T) {
	for _, tc := range []struct {
		desc               string
		execute, noExecute []string
		want               []string
	}{
		{desc: "no noExecute: one rule per execute path",
			execute: []string{"."}, want: []string{"x ."}},
		{desc: "everything but the writable mounts",
			execute: []string{"."}, noExecute: []string{"tmp", "srv/data"},
			// srv/app comes whole; tmp and srv/data get nothing; the
			// symlinks get nothing (their targets have their own rule).
			want: []string{"r .", "r srv", "x bin", "x entry.sh", "x srv/app", "x var"}},
		{desc: "noExecute named through a symlink is the directory it names",
			execute: []string{"."}, noExecute: []string{"var/run"},
			want: []string{"r .", "x bin", "x entry.sh", "x srv", "x var"}},
		{desc: "a deeper execute path wins inside a noExecute path",
			execute: []string{".", "tmp/bin"}, noExecute: []string{"tmp"},
			want: []string{"r .", "x bin", "x entry.sh", "x srv", "x tmp/bin", "x var"}},
		{desc: "an execute path that is noExecute gets nothing",
			execute: []string{"tmp"}, noExecute: []string{"tmp"}, want: nil},
		{desc: "missing noExecute path excludes nothing",
			execute: []string{"srv"}, noExecute: []string{"srv/nothing/here"}, want: []string{"x srv"}},
		{desc: "execute path given as a symlink is walked as its target",
			execute: []string{"usr"}, noExecute: []string{"srv/app/bin"}, want: []string{"r srv/app"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := tree(t)
			got, skipped := rules(t, r, tc.execute, tc.noExecute)
			if !slices.Equal(got, tc.want) {
				t.Errorf("rules\n got %q\nwant %q", got, tc.want)
			}
			if len(skipped) != 0 {
				t.Errorf("skipped %q", skipped)
			}
		})
	}
}

func TestWalkExecuteSkipsMissingExecutePath(t *testing.T) {
	r := tree(t)
	got, skipped := rules(t, r, []string{"opt", "bin"}, nil)
	if !slices.Equal(got, []string{"x bin"}) || len(skipped) != 1 || !strings.HasSuffix(skipped[0], "/opt") {
		t.Errorf("rules %q skipped %q; want only bin, and opt skipped", got, skipped)
	}
}

func TestRefusal(t *testing.T) {
	r := tree(t)
	j := func(p string) string { return filepath.Join(r, p) }
	p := &Policy{Execute: []string{j("."), j("tmp/bin")}, NoExecute: []string{j("tmp"), j("srv/data")}}
	for _, tc := range []struct {
		path, noExec string
		refused      bool
	}{
		{"bin/sh", "", false},
		{"srv/app/bin/x", "", false},
		{"usr/bin/x", "", false},
		{"tmp/drop", j("tmp"), true},
		{"var/run/drop", j("tmp"), true},
		{"srv/data/new", j("srv/data"), true},
		{"tmp/bin/tool", "", false},
	} {
		n, refused := p.Refusal(j(tc.path))
		if refused != tc.refused || n != tc.noExec {
			t.Errorf("Refusal(%s) = %q, %v; want %q, %v", tc.path, n, refused, tc.noExec, tc.refused)
		}
	}
	if n, refused := (&Policy{Execute: []string{j("bin")}}).Refusal(j("srv/app/bin/x")); !refused || n != "" {
		t.Errorf("outside every execute path: %q, %v; want refused with no noExecute path", n, refused)
	}
}

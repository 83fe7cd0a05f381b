// Package testutil holds helpers shared by Tirith's tests: the loud root
// requirement, and locating the module to build binaries from.
package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireRoot skips a test that needs root, unless TIRITH_TEST_ROOT=1 is
// set (CI sets it): then a missing privilege fails instead of passing
// silently.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("TIRITH_TEST_ROOT") == "1" {
		t.Fatal("requires root, and TIRITH_TEST_ROOT=1 makes that fatal")
	}
	t.Skip("requires root (run as root, or set TIRITH_TEST_ROOT=1 to make this fatal)")
}

// ModuleRoot returns the repository root (where go.mod is).
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// OpenToAll makes dir and its parents traversable by every uid, so that a
// container root mapped to an unprivileged host uid can reach a bundle
// under a 0700 test temp dir.
func OpenToAll(t testing.TB, dir string) {
	t.Helper()
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, st.Mode().Perm()|0o055); err != nil {
				t.Fatal(err)
			}
		}
	}
}

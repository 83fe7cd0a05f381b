package caps

import (
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	if c, err := Lookup("CAP_NET_RAW"); err != nil || c != 13 {
		t.Errorf("Lookup(CAP_NET_RAW) = %d, %v; want 13", c, err)
	}
	for _, bad := range []string{"NET_RAW", "cap_net_raw", "CAP_FOO", ""} {
		if _, err := Lookup(bad); err == nil {
			t.Errorf("Lookup(%q) accepted a name that is not an OCI capability name", bad)
		}
	}
}

func TestFromFlag(t *testing.T) {
	for in, want := range map[string]string{"net_raw": "CAP_NET_RAW", "CAP_NET_RAW": "CAP_NET_RAW", "Sys_Admin": "CAP_SYS_ADMIN", "cap_chown": "CAP_CHOWN"} {
		if got, err := FromFlag(in); err != nil || got != want {
			t.Errorf("FromFlag(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := FromFlag("foo")
	if err == nil || err.Error() != `unknown capability "foo"` {
		t.Errorf("FromFlag(foo): %v; want the typed name quoted", err)
	}
}

// The tables agree: every name listed resolves, All is what this kernel
// has out of Names, and a mask decodes to names Lookup accepts.
func TestTablesAgree(t *testing.T) {
	names := Names()
	if len(names) < 38 || names[0] != "CAP_CHOWN" {
		t.Fatalf("Names() = %v", names)
	}
	for _, n := range names {
		if _, err := Lookup(n); err != nil {
			t.Errorf("listed %s does not resolve: %v", n, err)
		}
	}
	all := All()
	if len(all) == 0 || len(all) > len(names) || !slices.Contains(all, "CAP_SYS_ADMIN") {
		t.Errorf("All() = %v", all)
	}
	for _, n := range all {
		if !slices.Contains(names, n) {
			t.Errorf("All() has %s, not in Names()", n)
		}
	}
	if got := InMask(1<<0 | 1<<13 | 1<<21); !slices.Equal(got, []string{"CAP_CHOWN", "CAP_NET_RAW", "CAP_SYS_ADMIN"}) {
		t.Errorf("InMask = %v", got)
	}
	if got := InMask(0); got == nil || len(got) != 0 {
		t.Errorf("InMask(0) = %#v; want an empty, non-nil list (it is printed as [])", got)
	}
}

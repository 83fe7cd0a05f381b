package landlock

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		desc, in, wantErr string
		net               bool
	}{
		{desc: "paths only", in: `{"readOnly":["/"],"execute":["/bin"],"readWrite":["/tmp"]}`},
		{desc: "empty port list still restricts tcp", in: `{"readOnly":["/"],"bindTCP":[]}`, net: true},
		{desc: "ports", in: `{"connectTCP":[443]}`, net: true},
		{desc: "typo is refused", in: `{"readOnlyPaths":["/"]}`, wantErr: "unknown field"},
		{desc: "relative path", in: `{"readWrite":["tmp"]}`, wantErr: "must be absolute"},
		{desc: "noExecute", in: `{"readOnly":["/"],"execute":["/"],"noExecute":["/tmp","/dev"],"readWrite":["/tmp","/dev"]}`},
		{desc: "relative noExecute path names the field", in: `{"execute":["/"],"noExecute":["tmp"]}`, wantErr: `noExecute[0] "tmp": path must be absolute`},
		{desc: "misspelt noExecute is refused", in: `{"execute":["/"],"noExec":["/tmp"]}`, wantErr: "unknown field"},
		{desc: "a field given twice is refused", in: `{"execute":["/"],"noExecute":["/tmp"],"noexecute":[]}`, wantErr: `field "noExecute" given twice`},
		{desc: "unknown scope", in: `{"scope":["ptrace"]}`, wantErr: "unknown scope"},
		{desc: "not JSON", in: `readOnly=/`, wantErr: "invalid character"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := Parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.netHandled != tc.net {
				t.Errorf("net handled %v, want %v", p.netHandled, tc.net)
			}
			// The rendered annotation parses back to the same policy.
			q, err := Parse(p.String())
			if err != nil || q.String() != p.String() || q.netHandled != p.netHandled {
				t.Errorf("round trip: %q -> %q (%v)", p.String(), q.String(), err)
			}
		})
	}
}

func TestRightsGrowWithABI(t *testing.T) {
	if fsRights(1)&^fsRights(2) != 0 || fsRights(2) == fsRights(1) || fsRights(5) == fsRights(3) {
		t.Fatalf("fs rights must only grow with the ABI: v1 %#x v2 %#x v3 %#x v5 %#x", fsRights(1), fsRights(2), fsRights(3), fsRights(5))
	}
	if readWriteRights&unix.LANDLOCK_ACCESS_FS_EXECUTE != 0 {
		t.Fatalf("writable paths must never carry EXECUTE")
	}
}

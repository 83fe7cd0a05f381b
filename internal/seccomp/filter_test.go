package seccomp

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFilterJSON(t *testing.T) {
	f := Insns{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x6, K: 0x7fff0000}}
	data, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `"`) {
		t.Fatalf("filter encodes as %s, want a base64 string", data)
	}
	var back Insns
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, f) {
		t.Fatalf("round trip: %v %v", back, err)
	}
	// A plan written by an earlier Tirith holds objects.
	old, _ := json.Marshal([]unix.SockFilter(f))
	var fromOld Insns
	if err := json.Unmarshal(old, &fromOld); err != nil || !reflect.DeepEqual(fromOld, f) {
		t.Fatalf("old form %s: %v %v", old, fromOld, err)
	}
	for _, bad := range []string{`"AAE="`, `"!!"`, `12`, `{"Code":1}`} {
		var x Insns
		if err := json.Unmarshal([]byte(bad), &x); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}

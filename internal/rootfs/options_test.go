package rootfs

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseOptions(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		in    []string
		flags uintptr
		clear uintptr
		data  string
		bind  bool
		rec   bool
		props int
	}{
		{desc: "plain flags", in: []string{"nosuid", "noexec", "nodev", "ro"}, flags: unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_NODEV | unix.MS_RDONLY},
		{desc: "later option wins", in: []string{"ro", "rw"}, clear: unix.MS_RDONLY},
		{desc: "data passes through", in: []string{"size=64k", "mode=755", "nosuid"}, flags: unix.MS_NOSUID, data: "size=64k,mode=755"},
		{desc: "rbind", in: []string{"rbind", "ro"}, flags: unix.MS_RDONLY, bind: true, rec: true},
		{desc: "bind with propagation", in: []string{"bind", "rslave", "private"}, bind: true, props: 2},
		{desc: "runc-only hints dropped", in: []string{"tmpcopyup", "defaults"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			o := ParseOptions(tc.in)
			if o.Flags != tc.flags || o.ClearFlags != tc.clear || o.Data != tc.data || o.Bind != tc.bind || o.Recursive != tc.rec || len(o.Propagation) != tc.props {
				t.Fatalf("ParseOptions(%v) = %+v", tc.in, o)
			}
		})
	}
}

func TestParsePropagation(t *testing.T) {
	if p, ok := ParsePropagation("rslave"); !ok || p != unix.MS_SLAVE|unix.MS_REC {
		t.Fatalf("rslave: %#x %v", p, ok)
	}
	if _, ok := ParsePropagation("sideways"); ok {
		t.Fatal("unknown propagation accepted")
	}
}

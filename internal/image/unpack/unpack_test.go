package unpack

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/tirith-project/tirith/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestCleanName(t *testing.T) {
	cases := []struct {
		in, want string
		bad      bool
	}{
		{"a/b", "a/b", false},
		{"./a/b/", "a/b", false},
		{"/abs/path", "abs/path", false},
		{"a/../b", "b", false},
		{".", "", false},
		{"/", "", false},
		{"../x", "", true},
		{"a/../../x", "", true},
		{"/../x", "", true},
		{"a\x00b", "", true},
		{strings.Repeat("a/", 2500), "", true},
	}
	for _, c := range cases {
		got, err := cleanName(c.in)
		if (err != nil) != c.bad || (!c.bad && got != c.want) {
			t.Errorf("cleanName(%.40q) = %q, %v; want %q, bad=%v", c.in, got, err, c.want, c.bad)
		}
	}
}

// sandbox is a temp dir holding the unpack target and an "outside" dir
// with bait in it; check() asserts nothing outside the target changed.
type sandbox struct {
	t           *testing.T
	dir, target string
	outside     string
	before      map[string]string
	hostCanary  string
}

func newSandbox(t *testing.T) *sandbox {
	s := &sandbox{t: t, dir: t.TempDir()}
	s.target = filepath.Join(s.dir, "a", "b", "layer")
	s.outside = filepath.Join(s.dir, "outside")
	for _, d := range []string{s.target, filepath.Join(s.outside, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "etc", "passwd"), []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.outside, "secret"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.before = snapshot(t, s.dir, s.target)
	return s
}

func (s *sandbox) check() {
	s.t.Helper()
	if d := diffSnapshots(s.before, snapshot(s.t, s.dir, s.target)); len(d) > 0 {
		s.t.Errorf("unpack changed things outside the target:\n%s", strings.Join(d, "\n"))
	}
	for _, p := range []string{"/etc/x", "/x", "/pwn", "/etc/tirith-pwn"} {
		if _, err := os.Lstat(p); err == nil {
			s.t.Errorf("host path %s exists after unpack", p)
		}
	}
}

func (s *sandbox) in(p string) string { return filepath.Join(s.target, p) }

func TestMaliciousLayers(t *testing.T) {
	testutil.RequireRoot(t)
	type tc struct {
		name    string
		entries func(s *sandbox) []entry
		opts    Options
		wantErr string // substring; "" means success
		check   func(t *testing.T, s *sandbox, r *Result)
	}
	exists := func(t *testing.T, p string) {
		t.Helper()
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("want %s to exist: %v", p, err)
		}
	}
	absent := func(t *testing.T, p string) {
		t.Helper()
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("want %s absent", p)
		}
	}
	cases := []tc{
		{name: "dotdot escape", entries: func(*sandbox) []entry {
			return []entry{fileE("../../etc/passwd", "pwned")}
		}, wantErr: `"../../etc/passwd": path escapes`},
		{name: "dotdot escape deep", entries: func(*sandbox) []entry {
			return []entry{fileE("a/../../../outside/secret", "pwned")}
		}, wantErr: "path escapes"},
		{name: "absolute path is taken inside", entries: func(*sandbox) []entry {
			return []entry{fileE("/abs/path", "ok")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) { exists(t, s.in("abs/path")) }},
		{name: "symlink to root then write through it", entries: func(*sandbox) []entry {
			return []entry{symE("evil", "/"), fileE("evil/etc/x", "pwned")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			exists(t, s.in("etc/x"))
			if l, _ := os.Readlink(s.in("evil")); l != "/" {
				t.Errorf("symlink target = %q, want kept verbatim", l)
			}
		}},
		// The symlink resolves (inside the layer) to a path that does not
		// exist there: pathrs refuses to create through it.
		{name: "symlink to outside dir then write through it", entries: func(s *sandbox) []entry {
			return []entry{symE("evil", s.outside), fileE("evil/pwn", "pwned")}
		}, wantErr: `"evil/pwn": resolve parent "evil" inside layer`},
		{name: "symlink to outside dir existing inside too", entries: func(s *sandbox) []entry {
			return []entry{dirE(s.outside + "/"), symE("evil", s.outside), fileE("evil/pwn", "pwned"), fileE("evil/secret", "pwned")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			exists(t, s.in(filepath.Join(s.outside, "pwn")))
		}},
		{name: "symlink with dotdots then write through it", entries: func(*sandbox) []entry {
			return []entry{symE("up", "../../../.."), fileE("up/outside/pwn", "pwned")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) { exists(t, s.in("outside/pwn")) }},
		{name: "symlink chain escaping", entries: func(*sandbox) []entry {
			return []entry{
				dirE("d/"), dirE("outside/"), symE("d/l1", "../../.."), symE("l2", "d/l1/../.."), symE("l3", "l2/outside"),
				fileE("l3/pwn", "pwned"), dirE("l3/etc/"), fileE("l3/etc/passwd", "pwned"),
			}
		}, check: func(t *testing.T, s *sandbox, _ *Result) { exists(t, s.in("outside/pwn")) }},
		{name: "existing symlink leaf is replaced not followed", entries: func(s *sandbox) []entry {
			return []entry{symE("f", filepath.Join(s.outside, "secret")), fileE("f", "new")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			if b, err := os.ReadFile(s.in("f")); err != nil || string(b) != "new" {
				t.Errorf("f = %q, %v", b, err)
			}
		}},
		{name: "directory over a symlink to outside", entries: func(s *sandbox) []entry {
			e := dirE("d/")
			e.mode = 0o777
			return []entry{symE("d", s.outside), e}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			if st, err := os.Lstat(s.in("d")); err != nil || !st.IsDir() {
				t.Errorf("d is not a real directory: %v", err)
			}
		}},
		{name: "hardlink to host /etc/shadow", entries: func(*sandbox) []entry {
			return []entry{hardE("shadow", "/etc/shadow")}
		}, wantErr: `"shadow": hardlink target "etc/shadow" not found in layer`},
		{name: "hardlink with dotdot", entries: func(*sandbox) []entry {
			return []entry{hardE("x", "../../../outside/secret")}
		}, wantErr: `"x": hardlink target "../../../outside/secret": path escapes`},
		{name: "hardlink via symlink to outside", entries: func(s *sandbox) []entry {
			return []entry{symE("s", s.outside), hardE("h", "s/secret")}
		}, wantErr: `"h": hardlink target "s/secret" not found in layer`},
		{name: "hardlink via symlink to /etc", entries: func(*sandbox) []entry {
			return []entry{symE("s", "/etc"), hardE("h", "s/passwd")}
		}, wantErr: "not found in layer"},
		{name: "hardlink to symlink pointing outside links the symlink", entries: func(s *sandbox) []entry {
			return []entry{symE("evil", filepath.Join(s.outside, "secret")), hardE("h", "evil")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			if st, err := os.Lstat(s.in("h")); err != nil || st.Mode()&os.ModeSymlink == 0 {
				t.Errorf("h should be the symlink itself: %v", err)
			}
		}},
		{name: "hardlink inside works", entries: func(*sandbox) []entry {
			return []entry{fileE("a", "data"), hardE("b", "a")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			a, _ := os.Stat(s.in("a"))
			b, _ := os.Stat(s.in("b"))
			if a == nil || b == nil || !os.SameFile(a, b) {
				t.Errorf("b is not a hard link of a")
			}
		}},
		{name: "device node skipped", entries: func(*sandbox) []entry {
			return []entry{dirE("dev/"), charE("dev/mem", 1, 1), {name: "fifo", typ: tar.TypeFifo, mode: 0o644}}
		}, check: func(t *testing.T, s *sandbox, r *Result) {
			absent(t, s.in("dev/mem"))
			absent(t, s.in("fifo"))
			if len(r.Warnings) != 2 || r.Warnings[0].Path != "dev/mem" {
				t.Errorf("warnings = %v, want dev/mem and fifo", r.Warnings)
			}
		}},
		{name: "device node allowed by option", opts: Options{AllowDevices: true}, entries: func(*sandbox) []entry {
			return []entry{charE("null", 1, 3)}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			var st unix.Stat_t
			if err := unix.Lstat(s.in("null"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
				t.Errorf("null: %+v, %v", st, err)
			}
		}},
		{name: "setuid kept and recorded", entries: func(*sandbox) []entry {
			e := fileE("bin/su", "#!")
			e.mode = 0o4755
			e2 := fileE("bin/wall", "#!")
			e2.mode = 0o2755
			return []entry{e, e2}
		}, check: func(t *testing.T, s *sandbox, r *Result) {
			st, _ := os.Stat(s.in("bin/su"))
			if st == nil || st.Mode()&os.ModeSetuid == 0 {
				t.Errorf("setuid bit lost")
			}
			if !slices.Equal(r.Setuid, []string{"/bin/su", "/bin/wall"}) {
				t.Errorf("Setuid = %v", r.Setuid)
			}
		}},
		{name: "setuid defanged", opts: Options{DefangSetuid: true}, entries: func(*sandbox) []entry {
			e := fileE("bin/su", "#!")
			e.mode = 0o4755
			e.pax = map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}
			return []entry{e}
		}, check: func(t *testing.T, s *sandbox, r *Result) {
			st, _ := os.Stat(s.in("bin/su"))
			if st == nil || st.Mode().Perm() != 0o755 || st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
				t.Errorf("mode = %v, want 0755 without setuid", st.Mode())
			}
			if x := listXattrs(s.in("bin/su")); x != "" {
				t.Errorf("xattrs = %q, want none", x)
			}
			if !slices.Equal(r.Setuid, []string{"/bin/su"}) {
				t.Errorf("Setuid = %v", r.Setuid)
			}
		}},
		{name: "whiteout of dotdot", entries: func(*sandbox) []entry {
			return []entry{fileE("../.wh.x", "")}
		}, wantErr: "path escapes"},
		{name: "whiteout named dotdot", entries: func(*sandbox) []entry {
			return []entry{fileE("a/.wh...", "")}
		}, wantErr: `"a/.wh...": whiteout names no file`},
		{name: "whiteouts converted", entries: func(*sandbox) []entry {
			return []entry{dirE("d/"), fileE("d/.wh.gone", ""), fileE("d/.wh..wh..opq", ""), charE("ovl", 0, 0), fileE(".wh..wh.plnk", "")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			for _, p := range []string{"d/gone", "ovl"} {
				var st unix.Stat_t
				if err := unix.Lstat(s.in(p), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
					t.Errorf("%s is not a 0/0 whiteout: %v", p, err)
				}
			}
			absent(t, s.in("d/.wh.gone"))
			absent(t, s.in(".wh..wh.plnk"))
			if x := listXattrs(s.in("d")); x != "trusted.overlay.opaque=y" {
				t.Errorf("d xattrs = %q, want opaque", x)
			}
		}},
		{name: "opaque through symlink stays inside", entries: func(s *sandbox) []entry {
			return []entry{dirE(s.outside + "/"), symE("evil", s.outside), fileE("evil/.wh..wh..opq", ""), symE("up", "../../.."), fileE("up/.wh..wh..opq", "")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			if x := listXattrs(s.in(s.outside)); x != "trusted.overlay.opaque=y" {
				t.Errorf("opaque landed elsewhere: %q", x)
			}
		}},
		{name: "forged overlay and selinux xattrs dropped", entries: func(*sandbox) []entry {
			e := fileE("f", "x")
			e.pax = map[string]string{
				"SCHILY.xattr.trusted.overlay.redirect": "/etc",
				"SCHILY.xattr.security.selinux":         "system_u:object_r:shadow_t:s0",
				"SCHILY.xattr.user.keep":                "yes",
			}
			return []entry{e}
		}, check: func(t *testing.T, s *sandbox, r *Result) {
			if x := listXattrs(s.in("f")); x != "user.keep=yes" {
				t.Errorf("xattrs = %q, want only user.keep", x)
			}
			if len(r.Warnings) != 2 {
				t.Errorf("warnings = %v", r.Warnings)
			}
		}},
		{name: "1 TiB file header is capped before any write", entries: func(*sandbox) []entry {
			return []entry{{name: "huge", typ: tar.TypeReg, mode: 0o644, size: 1 << 40}}
		}, wantErr: `"huge": file size 1099511627776 exceeds the per-file limit`,
			check: func(t *testing.T, s *sandbox, _ *Result) { absent(t, s.in("huge")) }},
		{name: "total size capped", opts: Options{MaxTotalSize: 10}, entries: func(*sandbox) []entry {
			return []entry{fileE("a", "123456"), fileE("b", "123456")}
		}, wantErr: `"b": layer size exceeds the limit 10`},
		{name: "path over PATH_MAX", entries: func(*sandbox) []entry {
			return []entry{fileE(strings.Repeat("abcd/", 1000)+"f", "x")}
		}, wantErr: "over PATH_MAX"},
		{name: "ownership, offset, mode and mtime", opts: Options{UIDOffset: 100000, GIDOffset: 200000}, entries: func(*sandbox) []entry {
			e := fileE("f", "x")
			e.uid, e.gid, e.mode = 5, 7, 0o640
			d := dirE("d/")
			d.mode = 0o710
			return []entry{d, e, fileE("d/child", "y"), symE("d/l", "child")}
		}, check: func(t *testing.T, s *sandbox, _ *Result) {
			var st unix.Stat_t
			if err := unix.Lstat(s.in("f"), &st); err != nil || st.Uid != 100005 || st.Gid != 200007 || st.Mode&0o7777 != 0o640 {
				t.Errorf("f: uid=%d gid=%d mode=%o err=%v", st.Uid, st.Gid, st.Mode&0o7777, err)
			}
			for _, p := range []string{"f", "d", "d/l"} {
				if err := unix.Lstat(s.in(p), &st); err != nil || st.Mtim.Sec != testTime.Unix() {
					t.Errorf("%s mtime = %d, want %d", p, st.Mtim.Sec, testTime.Unix())
				}
			}
			if err := unix.Lstat(s.in("d"), &st); err != nil || st.Mode&0o7777 != 0o710 {
				t.Errorf("d mode = %o", st.Mode&0o7777)
			}
		}},
		{name: "uid overflow", opts: Options{UIDOffset: 1 << 31}, entries: func(*sandbox) []entry {
			e := fileE("f", "x")
			e.uid = 1 << 31
			return []entry{e}
		}, wantErr: `"f": uid: id`},
		{name: "file cannot replace root", entries: func(*sandbox) []entry {
			return []entry{fileE(".", "x")}
		}, wantErr: "layer root"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSandbox(t)
			data := buildTar(t, c.entries(s)...)
			r, err := Unpack(context.Background(), bytes.NewReader(data), s.target, c.opts)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("Unpack: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("Unpack succeeded, want error containing %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("Unpack error = %q, want it to contain %q", err, c.wantErr)
			}
			s.check()
			if c.check != nil {
				c.check(t, s, r)
			}
		})
	}
}

func TestSparseFileStaysSparse(t *testing.T) {
	testutil.RequireRoot(t)
	s := newSandbox(t)
	const size = 64 << 20
	// A plain (non-PAX-sparse) tar entry: 64 MiB of zeros with a marker
	// in the middle and a hole at the end.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "sparse", Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: testTime})
	zero := make([]byte, 1<<20)
	for i := range size >> 20 {
		chunk := zero
		if i == 7 {
			chunk = bytes.Clone(zero)
			copy(chunk[100:], "marker")
		}
		tw.Write(chunk)
	}
	tw.Close()
	if _, err := Unpack(context.Background(), &buf, s.target, Options{}); err != nil {
		t.Fatal(err)
	}
	s.check()
	var st unix.Stat_t
	if err := unix.Stat(s.in("sparse"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size {
		t.Errorf("size = %d, want %d", st.Size, size)
	}
	if st.Blocks*512 > 1<<20 {
		t.Errorf("allocated %d bytes for a file with 6 non-zero bytes: holes were written", st.Blocks*512)
	}
	f, _ := os.Open(s.in("sparse"))
	defer f.Close()
	got := make([]byte, 6)
	f.ReadAt(got, 7<<20+100)
	if string(got) != "marker" {
		t.Errorf("data at marker = %q", got)
	}
}

func TestCompressionAndDiffID(t *testing.T) {
	testutil.RequireRoot(t)
	raw := buildTar(t, dirE("etc/"), fileE("etc/hostname", "tirith\n"), symE("link", "etc/hostname"))
	want := fmt.Sprintf("sha256:%x", sha256.Sum256(raw))
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(raw)
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(raw)
	zw.Close()
	for name, data := range map[string][]byte{"raw": raw, "gzip": gz.Bytes(), "zstd": zs.Bytes()} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r, err := Unpack(context.Background(), bytes.NewReader(data), dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.DiffID != want {
				t.Errorf("DiffID = %s, want %s", r.DiffID, want)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "link")); err != nil || string(b) != "tirith\n" {
				t.Errorf("content = %q, %v", b, err)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Unpack(ctx, bytes.NewReader(buildTar(t, fileE("a", "b"))), t.TempDir(), Options{IgnoreOwnership: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestTruncatedTar(t *testing.T) {
	data := buildTar(t, fileE("a", strings.Repeat("x", 5000)))
	_, err := Unpack(context.Background(), bytes.NewReader(data[:1500]), t.TempDir(), Options{IgnoreOwnership: true})
	if err == nil || !strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("err = %v, want an error naming entry a", err)
	}
}

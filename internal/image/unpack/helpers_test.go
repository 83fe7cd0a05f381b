package unpack

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// entry describes one tar entry for building test layers.
type entry struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	body       string
	size       int64 // header size if body is empty and size > 0 (a lie)
	major      int64
	minor      int64
	pax        map[string]string
}

func dirE(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func fileE(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func symE(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}
func hardE(name, target string) entry {
	return entry{name: name, typ: tar.TypeLink, link: target, mode: 0o644}
}
func charE(name string, maj, min int64) entry {
	return entry{name: name, typ: tar.TypeChar, major: maj, minor: min, mode: 0o666}
}

var testTime = time.Unix(1700000000, 0)

// buildTar writes entries as a tar. A header whose size is a lie (size set,
// no body) ends the archive right after that header.
func buildTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: testTime, Devmajor: e.major, Devminor: e.minor,
			PAXRecords: e.pax, Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
			if e.body == "" && e.size > 0 {
				h.Size = e.size
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				tw.Flush() // errors (data missing); the header is out already
				return buf.Bytes()
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("header %q: %v", e.name, err)
		}
		if e.body != "" {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// snapshot describes every object under dir except skip (and below it):
// type, mode, owner, size, times, link target, content hash and xattrs.
func snapshot(t testing.TB, dir, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d size=%d mtime=%d.%d rdev=%d", st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Rdev)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			l, _ := os.Readlink(p)
			desc += " link=" + l
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha=%x", sha256.Sum256(b))
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			desc += " xattrs=" + listXattrs(p)
		}
		out[p] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}

func listXattrs(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var parts []string
	for _, nm := range names {
		v := make([]byte, 4096)
		m, _ := unix.Lgetxattr(p, nm, v)
		if m < 0 {
			m = 0
		}
		parts = append(parts, nm+"="+string(v[:m]))
	}
	return strings.Join(parts, ",")
}

func diffSnapshots(before, after map[string]string) []string {
	var d []string
	for p, b := range before {
		if a, ok := after[p]; !ok {
			d = append(d, "removed "+p)
		} else if a != b {
			d = append(d, "changed "+p+": "+b+" -> "+a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			d = append(d, "created "+p)
		}
	}
	sort.Strings(d)
	return d
}

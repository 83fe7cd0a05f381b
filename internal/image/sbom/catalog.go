// Package sbom lists the software in an image's layers (dpkg, apk, Go
// binaries' build info, Python dist-info/egg-info, npm package.json under
// node_modules) and writes it as CycloneDX or SPDX JSON. Each component
// names the layer and the path it was read from.
//
// Layers are read as the store unpacked them (overlayfs form): a file in
// a layer counts only if no layer above it replaces it, deletes it (a 0/0
// character device) or hides its directory (an opaque directory), so the
// list is what a container of the image sees. Files are image content,
// so nothing is followed: only regular files are opened, with O_NOFOLLOW,
// and each is size-capped.
package sbom

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Layer is one unpacked layer.
type Layer struct {
	DiffID string // names the layer in the output
	Dir    string
}

// Component is one package found.
type Component struct {
	Type    string `json:"type"` // deb, apk, golang, pypi, npm
	Name    string `json:"name"`
	Version string `json:"version"`
	PURL    string `json:"purl"`
	// Source is a Debian binary package's source package, when it differs.
	Source string `json:"source,omitempty"`
	// OS is "ID:VERSION_ID" of the image's os-release for distribution
	// packages ("debian:12"), what vulnerability records are keyed by.
	OS    string `json:"os,omitempty"`
	Arch  string `json:"arch,omitempty"`
	Layer string `json:"layer"` // DiffID
	Path  string `json:"path"`  // absolute, in the image
}

const (
	maxDB   = 256 << 20 // a dpkg status or apk db
	maxMeta = 4 << 20   // METADATA, PKG-INFO, package.json
	maxBin  = 1 << 30   // a Go binary read for its build info
)

// Scan lists the components of layers, given bottom first (the
// manifest's order).
func Scan(layers []Layer) ([]Component, error) {
	distro, release := "debian", ""
	var out []Component
	type found struct {
		layer int
		rel   string
		kind  string
	}
	var files []found
	for i, l := range layers {
		err := filepath.WalkDir(l.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(l.Dir, p)
			if k := kindOf(rel, d); k != "" {
				files = append(files, found{i, rel, k})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scan layer %s: %w", l.DiffID, err)
		}
	}
	var visible []found
	for _, f := range files {
		if vis, err := isVisible(layers, f.layer, f.rel); err != nil {
			return nil, err
		} else if vis {
			visible = append(visible, f)
			if f.rel == "etc/os-release" || f.rel == "usr/lib/os-release" {
				if id, v := osID(layers[f.layer].Dir, f.rel); id != "" {
					distro, release = id, v
				}
			}
		}
	}
	for _, f := range visible {
		l := layers[f.layer]
		abs := filepath.Join(l.Dir, f.rel)
		var cs []Component
		var err error
		switch f.kind {
		case "dpkg":
			cs, err = readDpkg(abs, distro)
		case "apk":
			cs, err = readApk(abs, distro)
		case "python":
			cs, err = readPython(abs)
		case "npm":
			cs, err = readNpm(abs)
		case "exec":
			cs = readGo(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("layer %s: /%s: %w", l.DiffID, f.rel, err)
		}
		for i := range cs {
			cs[i].Layer, cs[i].Path = l.DiffID, "/"+f.rel
			if (f.kind == "dpkg" || f.kind == "apk") && release != "" {
				cs[i].OS = distro + ":" + release
			}
		}
		out = append(out, cs...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Path < b.Path
	})
	return out, nil
}

// kindOf says which reader a file needs, "" for none.
func kindOf(rel string, d fs.DirEntry) string {
	dir, base := path.Split(filepath.ToSlash(rel))
	switch {
	case rel == "var/lib/dpkg/status", strings.HasPrefix(rel, "var/lib/dpkg/status.d/") && !strings.Contains(base, "."):
		return "dpkg"
	case rel == "lib/apk/db/installed":
		return "apk"
	case rel == "etc/os-release", rel == "usr/lib/os-release":
		return "os-release"
	case base == "METADATA" && strings.HasSuffix(dir, ".dist-info/"), base == "PKG-INFO" && strings.HasSuffix(dir, ".egg-info/"):
		return "python"
	case base == "package.json" && npmDir(dir):
		return "npm"
	}
	if info, err := d.Info(); err == nil && info.Mode().Perm()&0o111 != 0 && info.Size() > 4 {
		return "exec"
	}
	return ""
}

// npmDir: node_modules/NAME/ or node_modules/@SCOPE/NAME/.
func npmDir(dir string) bool {
	parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	n := len(parts)
	if n >= 2 && parts[n-2] == "node_modules" && !strings.HasPrefix(parts[n-1], "@") {
		return true
	}
	return n >= 3 && parts[n-3] == "node_modules" && strings.HasPrefix(parts[n-2], "@")
}

// isVisible reports whether rel in layer i is what the merged filesystem
// shows: no upper layer has the path, a whiteout for it or an ancestor,
// a non-directory in an ancestor's place, or an opaque ancestor.
func isVisible(layers []Layer, i int, rel string) (bool, error) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for j := i + 1; j < len(layers); j++ {
		for k := 1; k <= len(parts); k++ {
			p := filepath.Join(layers[j].Dir, filepath.FromSlash(strings.Join(parts[:k], "/")))
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
					break
				}
				return false, &os.PathError{Op: "lstat", Path: p, Err: err}
			}
			if k == len(parts) {
				return false, nil // replaced or deleted above
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				return false, nil // a whiteout or a file where the dir was
			}
			buf := make([]byte, 4)
			if n, err := unix.Lgetxattr(p, "trusted.overlay.opaque", buf); err == nil && n == 1 && buf[0] == 'y' {
				return false, nil
			}
		}
	}
	return true, nil
}

// open opens a regular file of image content without following a link.
func open(p string, limit int64) ([]byte, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%d bytes, more than the %d read", st.Size(), limit)
	}
	return io.ReadAll(io.LimitReader(f, limit))
}

// osID reads ID and VERSION_ID of an os-release file.
func osID(dir, rel string) (id, version string) {
	b, err := open(filepath.Join(dir, rel), maxMeta)
	if err != nil {
		return "", ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "ID="); ok {
			id = strings.Trim(strings.TrimSpace(v), `"'`)
		}
		if v, ok := strings.CutPrefix(l, "VERSION_ID="); ok {
			version = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return id, version
}

// paragraphs splits deb822/apk style records (blank-line separated);
// each is key -> value, continuation lines joined.
func paragraphs(b []byte, sep string) []map[string]string {
	var out []map[string]string
	cur := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.TrimSpace(l) == "" {
			if len(cur) > 0 {
				out = append(out, cur)
			}
			cur, last = map[string]string{}, ""
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && last != "" {
			cur[last] += "\n" + strings.TrimSpace(l)
			continue
		}
		k, v, ok := strings.Cut(l, sep)
		if !ok {
			continue
		}
		last = k
		if _, dup := cur[k]; !dup {
			cur[k] = strings.TrimSpace(v)
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// readDpkg lists what dpkg-query -W lists: every package of the status
// file that is not "not-installed".
func readDpkg(p, distro string) ([]Component, error) {
	b, err := open(p, maxDB)
	if err != nil {
		return nil, err
	}
	var out []Component
	for _, par := range paragraphs(b, ":") {
		name, ver := par["Package"], par["Version"]
		st := strings.Fields(par["Status"])
		if name == "" || (len(st) == 3 && st[2] == "not-installed") {
			continue
		}
		c := Component{Type: "deb", Name: name, Version: ver, Arch: par["Architecture"]}
		q := url.Values{}
		if c.Arch != "" {
			q.Set("arch", c.Arch)
		}
		if src := par["Source"]; src != "" {
			// "Source: name (version)" when the source version differs.
			sname, _, _ := strings.Cut(src, " ")
			if sname != name {
				c.Source = sname
				q.Set("upstream", sname)
			}
		}
		c.PURL = purl("deb", distro, name, ver, q)
		out = append(out, c)
	}
	return out, nil
}

func readApk(p, distro string) ([]Component, error) {
	if distro == "debian" {
		distro = "alpine"
	}
	b, err := open(p, maxDB)
	if err != nil {
		return nil, err
	}
	var out []Component
	for _, par := range paragraphs(b, ":") {
		if par["P"] == "" {
			continue
		}
		c := Component{Type: "apk", Name: par["P"], Version: par["V"], Arch: par["A"]}
		q := url.Values{}
		if c.Arch != "" {
			q.Set("arch", c.Arch)
		}
		if o := par["o"]; o != "" && o != c.Name {
			c.Source = o
			q.Set("upstream", o)
		}
		c.PURL = purl("apk", distro, c.Name, c.Version, q)
		out = append(out, c)
	}
	return out, nil
}

func readPython(p string) ([]Component, error) {
	b, err := open(p, maxMeta)
	if err != nil {
		return nil, err
	}
	// The headers end at the first blank line (the description follows).
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		b = b[:i]
	}
	pars := paragraphs(b, ":")
	if len(pars) == 0 || pars[0]["Name"] == "" {
		return nil, nil
	}
	name, ver := pars[0]["Name"], pars[0]["Version"]
	norm := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	return []Component{{Type: "pypi", Name: name, Version: ver, PURL: purl("pypi", "", norm, ver, nil)}}, nil
}

func readNpm(p string) ([]Component, error) {
	b, err := open(p, maxMeta)
	if err != nil {
		return nil, err
	}
	var pj struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pj); err != nil || pj.Name == "" {
		return nil, nil // not a package manifest we can read: nothing to list
	}
	ns, n := "", pj.Name
	if strings.HasPrefix(n, "@") {
		if s, rest, ok := strings.Cut(n, "/"); ok {
			ns, n = s, rest
		}
	}
	return []Component{{Type: "npm", Name: pj.Name, Version: pj.Version, PURL: purl("npm", ns, n, pj.Version, nil)}}, nil
}

// readGo lists a Go binary's main module and dependencies from its
// embedded build info; anything else (not ELF, not Go) lists nothing.
func readGo(p string) []Component {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != "\x7fELF" {
		return nil
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > maxBin {
		return nil
	}
	bi, err := buildinfo.Read(f)
	if err != nil {
		return nil
	}
	var out []Component
	add := func(path, ver string) {
		if path == "" {
			return
		}
		out = append(out, Component{Type: "golang", Name: path, Version: ver, PURL: golangPURL(path, ver)})
	}
	add(bi.Main.Path, bi.Main.Version)
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		add(d.Path, d.Version)
	}
	add("stdlib", bi.GoVersion)
	return out
}

func golangPURL(mod, ver string) string {
	ns, name := "", mod
	if i := strings.LastIndex(mod, "/"); i >= 0 {
		ns, name = mod[:i], mod[i+1:]
	}
	if ver == "(devel)" {
		ver = ""
	}
	return purl("golang", ns, name, ver, nil)
}

// esc percent-encodes a purl segment; "@" too, which separates the
// version ("pkg:npm/%40scope/name").
func esc(s string) string { return strings.ReplaceAll(url.PathEscape(s), "@", "%40") }

// purl builds a package URL (github.com/package-url/purl-spec).
func purl(typ, ns, name, ver string, q url.Values) string {
	var b strings.Builder
	b.WriteString("pkg:" + typ + "/")
	if ns != "" {
		for _, seg := range strings.Split(ns, "/") {
			b.WriteString(esc(seg) + "/")
		}
	}
	b.WriteString(esc(name))
	if ver != "" {
		b.WriteString("@" + esc(ver))
	}
	if len(q) > 0 {
		b.WriteString("?" + q.Encode())
	}
	return b.String()
}

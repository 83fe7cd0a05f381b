package audit

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// DefangOptions say what `tirith defang` takes out of an image besides
// setuid/setgid bits and file capabilities.
type DefangOptions struct {
	// Keep are paths left as they are (and everything beneath them).
	Keep []string
	// StripShells removes the shells, StripPackageManagers the package
	// managers, from the usual program directories.
	StripShells, StripPackageManagers bool
}

// DefangResult is the layer to add and what it does.
type DefangResult struct {
	// Layer is an uncompressed tar: copies of the privileged files
	// without their bits or capabilities, and whiteouts.
	Layer []byte
	// Defanged are the files copied without privileges, Removed the
	// paths whited out.
	Defanged, Removed []string
}

var (
	programDirs     = []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"}
	shells          = []string{"sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "rbash"}
	packageManagers = []string{"apt", "apt-get", "apt-cache", "apt-key", "apt-mark", "dpkg", "dpkg-deb", "dpkg-query", "apk",
		"yum", "dnf", "microdnf", "rpm", "zypper", "pip", "pip3", "npm", "npx", "yarn", "gem"}
)

// Defang computes the one layer that, added on top of in, leaves no
// setuid/setgid bit and no file capability in the image (but on the
// kept paths) and, if asked, no shell or package manager.
func Defang(in ImageInput, opts DefangOptions) (*DefangResult, error) {
	sc := &imageScan{files: map[string]*fileEntry{}, content: map[string][]byte{}}
	for i := 0; i < in.Layers; i++ {
		if err := sc.layer(in, i); err != nil {
			return nil, err
		}
	}
	res := &DefangResult{}
	// need: layer -> paths whose content that layer holds.
	need := map[int]map[string]bool{}
	for _, p := range sc.sorted() {
		e := sc.files[p]
		if !privileged(e) || allowed(p, opts.Keep) || slicesContains(opts.Keep, p) {
			continue
		}
		res.Defanged = append(res.Defanged, p)
		if need[e.layer] == nil {
			need[e.layer] = map[string]bool{}
		}
		need[e.layer][p] = true
		if e.typ == tar.TypeLink {
			need[e.layer][cleanPath(e.hdr.Linkname)] = true
		}
	}
	var names []string
	if opts.StripShells {
		names = append(names, shells...)
	}
	if opts.StripPackageManagers {
		names = append(names, packageManagers...)
	}
	for _, d := range programDirs {
		for _, n := range names {
			p := d + "/" + n
			if e, ok := sc.files[p]; ok && e.typ != tar.TypeDir && !allowed(p, opts.Keep) && !slicesContains(opts.Keep, p) {
				res.Removed = append(res.Removed, p)
			}
		}
	}
	removed := map[string]bool{}
	for _, p := range res.Removed {
		removed[p] = true
	}

	content := map[string][]byte{}
	for i, paths := range need {
		if err := readContent(in, i, paths, content); err != nil {
			return nil, err
		}
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	written := map[string]bool{}
	// Parents as the image has them: a directory this layer creates
	// implicitly would hide the image's mode and owner in the overlay.
	parents := func(p string) error {
		var chain []string
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			chain = append(chain, d)
		}
		for i := len(chain) - 1; i >= 0; i-- {
			d := chain[i]
			if written[d] {
				continue
			}
			written[d] = true
			h := &tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Typeflag: tar.TypeDir, Mode: 0o755}
			if e, ok := sc.files[d]; ok && e.typ == tar.TypeDir {
				h.Mode, h.Uid, h.Gid, h.ModTime = e.mode, e.uid, e.gid, e.hdr.ModTime
			}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range res.Defanged {
		if removed[p] {
			continue
		}
		e := sc.files[p]
		src := p
		if e.typ == tar.TypeLink {
			src = cleanPath(e.hdr.Linkname)
		}
		body, ok := content[src]
		if !ok {
			return nil, fmt.Errorf("defang %s: its content was not found in layer %d", p, e.layer)
		}
		if err := parents(p); err != nil {
			return nil, err
		}
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Typeflag: tar.TypeReg, Mode: e.mode &^ 0o6000,
			Uid: e.uid, Gid: e.gid, Uname: e.hdr.Uname, Gname: e.hdr.Gname, ModTime: e.hdr.ModTime, Size: int64(len(body))}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	for _, p := range res.Removed {
		if err := parents(p); err != nil {
			return nil, err
		}
		h := &tar.Header{Name: strings.TrimPrefix(path.Join(path.Dir(p), ".wh."+path.Base(p)), "/"), Typeflag: tar.TypeReg, Mode: 0o644}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	res.Layer = buf.Bytes()
	sort.Strings(res.Removed)
	return res, nil
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if path.Clean(x) == s {
			return true
		}
	}
	return false
}

// readContent reads from layer i the content of the regular files in
// paths.
func readContent(in ImageInput, i int, paths map[string]bool, out map[string][]byte) error {
	return eachEntry(in, i, func(p string, hdr *tar.Header, tr *tar.Reader) error {
		if hdr.Typeflag != tar.TypeReg || !paths[p] {
			return nil
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("read layer %d: %s: %w", i, p, err)
		}
		out[p] = b
		return nil
	})
}

package engine

import (
	"errors"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/tirith-project/tirith/internal/rootless"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Change is one line of `tirith diff`: Kind is "A" (added), "C"
// (changed) or "D" (deleted), Path is absolute in the container.
type Change struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	// Executable: an added or changed regular file with an x bit or ELF
	// magic, a program the container did not start with.
	Executable bool `json:"executable,omitempty"`
}

// DriftSummary counts a container's changes.
type DriftSummary struct {
	Added       int      `json:"added"`
	Changed     int      `json:"changed"`
	Deleted     int      `json:"deleted"`
	Executables []string `json:"executables"`
}

// Summarize counts changes by kind and lists the executables.
func Summarize(changes []Change) DriftSummary {
	d := DriftSummary{Executables: []string{}}
	for _, c := range changes {
		switch c.Kind {
		case "A":
			d.Added++
		case "C":
			d.Changed++
		case "D":
			d.Deleted++
		}
		if c.Executable {
			d.Executables = append(d.Executables, c.Path)
		}
	}
	return d
}

// Diff lists what the container changed compared with its image, read
// from the overlay upper dir: a 0/0 character device is a whiteout (D);
// an opaque directory replaced the image's (C, and its entries are all
// A); any other entry is C if some lower layer has the path, else A.
func (e *Engine) Diff(q string) ([]Change, error) {
	rec, err := e.Lookup(q)
	if err != nil {
		return nil, err
	}
	st, err := e.OpenStore()
	if err != nil {
		return nil, err
	}
	img, err := st.Get(rec.ImageID)
	if err != nil {
		return nil, err
	}
	lowers, err := st.LayerDirs(img)
	if err != nil {
		return nil, err
	}
	var targets []string
	if s, err := e.readSpec(rec.ID); err == nil {
		for _, m := range s.Mounts {
			targets = append(targets, path.Clean("/"+m.Destination))
		}
	}
	return diffUpper(e.snapshot(rec.ID).Upper(), lowers, targets)
}

// diffUpper walks upper. targets are the container's mount points: Tirith
// made them in the upper dir before the container ran (/etc/hosts, a
// volume's directory), so they and the directories copied up only to hold
// them are not the container's changes (Docker's init layer, likewise).
func diffUpper(upper string, lowers, targets []string) ([]Change, error) {
	var out []Change
	isTarget := map[string]bool{}
	for _, t := range targets {
		isTarget[t] = true
	}
	dirs := map[string]bool{}
	// opaque marks container paths whose lower contents are hidden.
	opaque := map[string]bool{}
	err := filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil || rel == "." {
			return err
		}
		cpath := "/" + filepath.ToSlash(rel)
		if isTarget[cpath] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			dirs[cpath] = true
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&fs.ModeCharDevice != 0 {
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Rdev == 0 {
				out = append(out, Change{Kind: "D", Path: cpath})
				return nil
			}
		}
		if d.IsDir() && isOpaque(p) {
			opaque[cpath] = true
		}
		kind := "A"
		if !hiddenByOpaque(cpath, opaque) && inLowers(cpath, lowers) {
			kind = "C"
		}
		out = append(out, Change{Kind: kind, Path: cpath, Executable: info.Mode().IsRegular() && isExecutable(p, info.Mode())})
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	out = dropTargetParents(out, dirs, targets)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, err
}

// dropTargetParents leaves out the directories on the way to a mount
// target that hold no change of the container's own, deepest first (a
// dropped directory does not keep its parent).
func dropTargetParents(out []Change, dirs map[string]bool, targets []string) []Change {
	parent := map[string]bool{}
	for _, t := range targets {
		for d := path.Dir(t); d != "/"; d = path.Dir(d) {
			parent[d] = true
		}
	}
	byDepth := slices.Clone(out)
	sort.Slice(byDepth, func(i, j int) bool { return len(byDepth[i].Path) > len(byDepth[j].Path) })
	dropped := map[string]bool{}
	for _, c := range byDepth {
		if !dirs[c.Path] || !parent[c.Path] {
			continue
		}
		if !slices.ContainsFunc(out, func(o Change) bool {
			return !dropped[o.Path] && strings.HasPrefix(o.Path, c.Path+"/")
		}) {
			dropped[c.Path] = true
		}
	}
	return slices.DeleteFunc(out, func(c Change) bool { return dropped[c.Path] })
}

func isOpaque(dir string) bool {
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(dir, rootless.OverlayXattrPrefix()+"opaque", buf)
	return err == nil && n == 1 && buf[0] == 'y'
}

// hiddenByOpaque says whether a strict ancestor of p is an opaque dir:
// then p is new whatever the lowers hold.
func hiddenByOpaque(p string, opaque map[string]bool) bool {
	for d := path.Dir(p); d != "/"; d = path.Dir(d) {
		if opaque[d] {
			return true
		}
	}
	return false
}

// inLowers says whether the merged lower layers have p: the topmost
// layer that has p or whites it out decides. The parent is resolved
// inside each layer (a layer's symlink must not send the lookup onto the
// host), the leaf is not followed.
func inLowers(p string, lowers []string) bool {
	for _, l := range lowers {
		parent, err := securejoin.SecureJoin(l, path.Dir(p))
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(parent, path.Base(p)), &st); err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
				return false // whited out by this layer
			}
			return true
		}
		if isOpaque(parent) {
			return false
		}
	}
	return false
}

// isExecutable says whether the upper dir's regular file p has an x bit
// or starts with ELF magic. The container owns the upper dir and can
// swap p for a fifo or a symlink at any time: the open neither follows
// nor blocks, and what it opened must still be a regular file.
func isExecutable(p string, mode fs.FileMode) bool {
	if mode&0o111 != 0 {
		return true
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	magic := make([]byte, 4)
	n, _ := unix.Read(fd, magic)
	return n == 4 && string(magic) == "\x7fELF"
}

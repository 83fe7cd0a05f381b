package static

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// dynInfo returns a binary's interpreter (PT_INTERP) and its DT_NEEDED
// libraries.
func dynInfo(f *elf.File) (interp string, needed []string) {
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err == nil {
				interp = strings.TrimRight(string(data), "\x00")
			}
		}
	}
	needed, _ = f.ImportedLibraries()
	return interp, needed
}

// libDirs are the directories the dynamic loader searches by default on
// Debian-like and other common x86_64 systems.
var libDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64",
	"/lib", "/usr/lib", "/usr/local/lib",
}

// loadLibraries adds the interpreter and every library f needs, found in
// rootfs, and their own dependencies. Each is analysed whole: the
// analysis does not narrow a library to the functions the program
// imports, because libraries call much of themselves through pointers
// (stdio, atexit, IFUNC resolvers) that a call graph does not see.
func (a *analysis) loadLibraries(f *elf.File, interp, rootfs string) error {
	if rootfs == "" {
		a.res.Unresolved = append(a.res.Unresolved, Site{Object: a.res.Path, Why: "dynamically linked and no --rootfs given: its interpreter and shared libraries were not analysed"})
		return nil
	}
	type want struct {
		name   string // as DT_NEEDED or PT_INTERP names it
		dirs   []string
		origin string
	}
	rpath := func(f *elf.File, origin string) []string {
		var dirs []string
		for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
			vals, _ := f.DynString(tag)
			for _, v := range vals {
				for _, d := range strings.Split(v, ":") {
					d = strings.ReplaceAll(strings.ReplaceAll(d, "${ORIGIN}", origin), "$ORIGIN", origin)
					if d != "" {
						dirs = append(dirs, d)
					}
				}
			}
		}
		return dirs
	}
	origin := "/"
	var queue []want
	if interp != "" {
		queue = append(queue, want{name: interp})
	}
	for _, n := range mustNeeded(f) {
		queue = append(queue, want{name: n, dirs: rpath(f, origin)})
	}
	done := map[string]bool{}
	for len(queue) > 0 {
		w := queue[0]
		queue = queue[1:]
		if done[w.name] {
			continue
		}
		done[w.name] = true
		inRoot, host, err := findLib(rootfs, w.name, w.dirs)
		if err != nil {
			a.res.Unresolved = append(a.res.Unresolved, Site{Object: a.res.Path, Why: fmt.Sprintf("library %s: %v", w.name, err)})
			continue
		}
		if done["path:"+host] {
			continue
		}
		done["path:"+host] = true
		lf, err := elf.Open(host)
		if err != nil {
			return fmt.Errorf("library %s (%s): %w", w.name, inRoot, err)
		}
		o, err := loadObject(host, filepath.Base(inRoot), lf)
		if err != nil {
			lf.Close()
			return err
		}
		a.objs = append(a.objs, o)
		a.res.Objects = append(a.res.Objects, inRoot)
		a.res.Notes = append(a.res.Notes, fmt.Sprintf("%s analysed whole, not only the functions the program imports", inRoot))
		for _, n := range mustNeeded(lf) {
			queue = append(queue, want{name: n, dirs: rpath(lf, filepath.Dir(inRoot))})
		}
		lf.Close()
	}
	return nil
}

func mustNeeded(f *elf.File) []string {
	n, _ := f.ImportedLibraries()
	return n
}

// findLib finds a library in rootfs, resolving symlinks inside it (an
// image's absolute links point into the image, not the host). It returns
// the path inside the root and the host path to open.
func findLib(rootfs, name string, dirs []string) (inRoot, host string, err error) {
	var cands []string
	if strings.Contains(name, "/") {
		cands = []string{name}
	} else {
		for _, d := range append(dirs, libDirs...) {
			cands = append(cands, filepath.Join(d, name))
		}
	}
	for _, c := range cands {
		h, err := securejoin.SecureJoin(rootfs, c)
		if err != nil {
			continue
		}
		st, err := os.Stat(h)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		return c, h, nil
	}
	return "", "", errors.New("not found in the rootfs")
}

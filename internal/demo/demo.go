// Package demo builds the built-in default bundle: a rootfs holding only a
// copy of the running tirith binary (and the few shared libraries its ELF
// header names), whose process is `tirith probe`. It needs no image and no
// network, so a fresh machine can run a real container at once.
//
// The same rootfs is also the built-in image tirith/demo (image.go:
// RootfsTar, EnsureBuiltin), which the front end's run creates in the
// image store on demand.
package demo

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/tirith-project/tirith/internal/spec"
)

// libDirs are where the dynamic loader looks on Debian-like and other
// common layouts.
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// MakeBundle writes a bundle into dir (which must exist and be empty):
// rootfs/bin/tirith plus its libraries, and a hardened config.json whose
// process runs args (default: the probe) as container root mapped to an
// unprivileged host uid when userns is true.
func MakeBundle(dir string, userns bool, args ...string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	rootfs := filepath.Join(dir, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "run", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(self, filepath.Join(rootfs, "bin", "tirith"), 0o755); err != nil {
		return err
	}
	libs, err := sharedLibs(self)
	if err != nil {
		return err
	}
	for _, l := range libs {
		if err := copyFile(l, filepath.Join(rootfs, l), 0o755); err != nil {
			return err
		}
	}
	s := spec.Default(userns)
	s.Process.Terminal = false
	s.Process.Args = []string{"/bin/tirith", "probe"}
	if len(args) > 0 {
		s.Process.Args = args
	}
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, spec.ConfigFile), data, 0o644)
}

// sharedLibs returns the ELF interpreter and the DT_NEEDED libraries of
// bin (one level: the runtime links only libc).
func sharedLibs(bin string) ([]string, error) {
	f, err := elf.Open(bin)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			if err != nil {
				return nil, err
			}
			out = append(out, string(b[:len(b)-1])) // NUL-terminated
		}
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		return out, nil // static binary
	}
	for _, n := range needed {
		found := ""
		for _, d := range libDirs {
			if _, err := os.Stat(filepath.Join(d, n)); err == nil {
				found = filepath.Join(d, n)
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("demo bundle: shared library %s of %s not found", n, bin)
		}
		out = append(out, found)
	}
	return out, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

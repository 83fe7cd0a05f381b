// Package atomicfile replaces files so that a reader, or the next run
// after a kill at any point, sees the old content or the new, never half
// of one: write a temp file beside the target, then rename it over.
//
// Write also makes the change durable (fsync of the file and of the
// directory), for what must outlive the machine: the image store, the
// front end's container records. Replace does not, for state that lives
// no longer than the machine's uptime: the runtime's --root (/run), whose
// containers die with the kernel anyway. Each fsync costs 0.4-3 ms on this
// machine's disk, and a `run` wrote three such files.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data, mode perm, durably.
func Write(path string, data []byte, perm os.FileMode) error {
	return replace(path, data, perm, true)
}

// Replace replaces path with data, mode perm: atomically, not durably.
func Replace(path string, data []byte, perm os.FileMode) error {
	return replace(path, data, perm, false)
}

func replace(path string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	done = true
	if !durable {
		return nil
	}
	// The rename itself must reach the disk before we rely on it.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

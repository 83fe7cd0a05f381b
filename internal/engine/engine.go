package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tirith-project/tirith/internal/engine/snapshot"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/runtime"
)

// Engine is the front end over one image store (--storage) and one
// runtime state root (--root).
type Engine struct {
	Storage string // e.g. /var/lib/tirith
	Root    string // runtime state, e.g. /run/tirith
	// Subuid is the subordinate id file that bounds the containers' id
	// ranges ("" is /etc/subuid).
	Subuid string
}

func (e *Engine) subuid() string {
	if e.Subuid == "" {
		return "/etc/subuid"
	}
	return e.Subuid
}

func (e *Engine) containersDir() string { return filepath.Join(e.Storage, "containers") }

// Dir is the container's directory: its bundle and records.
func (e *Engine) Dir(id string) string { return filepath.Join(e.containersDir(), id) }

// snapshot is the container's rootfs: the overlay and its layer views.
func (e *Engine) snapshot(id string) snapshot.Snapshot { return snapshot.Snapshot{Dir: e.Dir(id)} }
func (e *Engine) rootfs(id string) string              { return e.snapshot(id).Rootfs() }
func (e *Engine) secrets(id string) string             { return filepath.Join(e.Dir(id), "secrets") }
func (e *Engine) etc(id string) string                 { return filepath.Join(e.Dir(id), "etc") }
func (e *Engine) appliedPath(id string) string {
	return filepath.Join(e.Dir(id), "applied.json")
}
func (e *Engine) metaPath(id string) string  { return filepath.Join(e.Dir(id), "meta.json") }
func (e *Engine) busyLock(id string) string  { return filepath.Join(e.Dir(id), "run.lock") }
func (e *Engine) StdoutLog(id string) string { return filepath.Join(e.Dir(id), "stdout.log") }
func (e *Engine) StderrLog(id string) string { return filepath.Join(e.Dir(id), "stderr.log") }

// OpenStore opens the image store.
func (e *Engine) OpenStore() (*store.Store, error) { return store.Open(e.Storage) }

// cleanup removes everything of a container: its runtime state (killing
// it), the secrets tmpfs, the overlay mount and the container directory.
// Idempotent; the caller holds no lock.
func (e *Engine) cleanup(id string) error {
	if _, err := os.Stat(e.Dir(id)); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	unlock, err := e.lockContainer(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a concurrent cleanup removed it
	}
	if err != nil {
		return err
	}
	defer unlock()
	if c, err := runtime.Load(e.Root, id); err == nil {
		err = c.Delete(runtime.DeleteOptions{Force: true})
		c.Close()
		if err != nil {
			return fmt.Errorf("delete container %s: %w", id, err)
		}
	} else if !errors.Is(err, runtime.ErrNotExist) {
		return err
	} else {
		_ = runtime.RemoveDebris(e.Root, id)
	}
	runtime.CrashPoint("after-runtime-delete")
	if err := e.detachNetwork(id); err != nil {
		return err
	}
	if err := snapshot.Unmount(e.secrets(id)); err != nil {
		return err
	}
	if err := e.snapshot(id).Unmount(); err != nil {
		return err
	}
	runtime.CrashPoint("after-unmount")
	unlockNames, err := e.lockNames()
	if err != nil {
		return err
	}
	defer unlockNames()
	return os.RemoveAll(e.Dir(id))
}

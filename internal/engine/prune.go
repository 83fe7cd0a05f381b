package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/audit"
	"github.com/tirith-project/tirith/internal/engine/snapshot"
	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/runtime"
)

// held keeps markBusy's locked files (and so their locks) alive: an
// unreferenced *os.File is closed by its finalizer.
var held []*os.File

// markBusy takes a shared lock on the container's run.lock (made with
// its directory), held until this process exits: `run` holds it while it
// sets the container up and waits, a detached container's monitor while
// it starts it. Prune leaves a container whose lock is held alone, so
// that it never removes one that is still being created.
func (e *Engine) markBusy(id string) error {
	f, err := flock(e.busyLock(id), unix.O_RDONLY, 0, unix.LOCK_SH)
	if err != nil {
		return err
	}
	held = append(held, f)
	return nil
}

// busy reports whether a live process holds the container (markBusy).
func (e *Engine) busy(id string) bool {
	f, err := os.OpenFile(e.busyLock(id), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB), unix.EWOULDBLOCK)
}

// PruneReport is what Prune removed.
type PruneReport struct {
	Containers []string // ids of stopped containers
	// Debris is what crashed commands left: container dirs without a
	// record, runtime state dirs without state, stray mounts.
	Debris         []string
	SpaceReclaimed int64 // bytes
}

// Prune removes, like `docker system prune`, every container that is
// not running (exited, or created by a `run` that no longer lives) with
// its mounts and directory; the debris of crashed commands (container
// dirs without a record, mounts under the containers dir that belong to
// no container, runtime state dirs without state.json); and the image
// store's temp files and unreferenced content (store.GC). Running
// containers, containers a live `run` is still setting up, and images
// are left alone.
func (e *Engine) Prune() (*PruneReport, error) {
	rep := &PruneReport{}
	recs, err := e.List()
	if err != nil {
		return nil, err
	}
	var errs []error
	remove := func(id string) bool {
		size := dirSize(e.Dir(id))
		if err := e.cleanup(id); err != nil {
			errs = append(errs, err)
			return false
		}
		rep.SpaceReclaimed += size
		return true
	}
	for _, r := range recs {
		e.Refresh(r)
		if r.Status == StatusRunning || e.busy(r.ID) {
			continue
		}
		if remove(r.ID) {
			rep.Containers = append(rep.Containers, r.ID)
		}
	}

	// Container dirs without a record: newRecord writes the record under
	// the names lock, so a dir seen without one under that lock is a
	// crashed create's, not one being made.
	var orphans []string
	if unlock, err := e.lockNames(); err == nil {
		ents, _ := os.ReadDir(e.containersDir())
		for _, d := range ents {
			if d.IsDir() && isID(d.Name()) {
				if _, err := os.Stat(e.metaPath(d.Name())); errors.Is(err, fs.ErrNotExist) {
					orphans = append(orphans, d.Name())
				}
			}
		}
		unlock()
	} else {
		errs = append(errs, err)
	}
	for _, id := range orphans {
		if remove(id) {
			rep.Debris = append(rep.Debris, e.Dir(id))
		}
	}

	// Mounts under the containers dir whose container has no record
	// (its dir may be gone): deepest first.
	var stray []string
	for _, m := range procfs.MountPointsUnder(e.containersDir()) {
		rel, _ := filepath.Rel(e.containersDir(), m)
		id, _, _ := strings.Cut(rel, string(filepath.Separator))
		if _, err := os.Stat(e.metaPath(id)); errors.Is(err, fs.ErrNotExist) {
			stray = append(stray, m)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(stray)))
	for _, m := range stray {
		if err := snapshot.Unmount(m); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Debris = append(rep.Debris, m)
	}

	// Runtime state dirs without state.json: Load waits for a create
	// in progress (it holds the lock) and then finds its state.
	ids, err := runtime.List(e.Root)
	if err != nil {
		errs = append(errs, err)
	}
	for _, id := range ids {
		c, err := runtime.Load(e.Root, id)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, runtime.ErrNotExist) {
			if err := runtime.RemoveDebris(e.Root, id); err == nil {
				rep.Debris = append(rep.Debris, filepath.Join(e.Root, id))
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}

	// Network debris of containers that are gone (a kill -9 between
	// the attach and the record, or of the monitor): endpoints with
	// their veths, pinned namespaces, IPAM leases, and the bridges and
	// nftables tables nothing uses any more.
	nrep, err := e.Networks().Prune(context.Background(), func(id string) bool {
		_, err := os.Stat(e.Dir(id))
		return err == nil
	})
	if nrep != nil {
		for _, id := range nrep.Endpoints {
			rep.Debris = append(rep.Debris, "network endpoint of "+id)
		}
		for _, id := range nrep.Namespaces {
			rep.Debris = append(rep.Debris, e.Networks().NSPath(id))
		}
		for _, l := range nrep.Leases {
			rep.Debris = append(rep.Debris, "IPAM lease "+l)
		}
		for _, b := range nrep.Bridges {
			rep.Debris = append(rep.Debris, "bridge "+b)
		}
		for _, t := range nrep.Tables {
			rep.Debris = append(rep.Debris, "nftables table "+t)
		}
	}
	if err != nil {
		errs = append(errs, err)
	}

	st, err := e.OpenStore()
	if err == nil {
		before := dirSize(st.Root())
		if err = st.GC(); err == nil {
			rep.SpaceReclaimed += max(before-dirSize(st.Root()), 0)
			// The image policy's cache entries of images gone.
			var ids []string
			if list, err := st.List(); err == nil {
				for _, im := range list {
					ids = append(ids, im.ID)
				}
				rep.SpaceReclaimed += audit.PruneCache(filepath.Join(st.Root(), "audit"), ids)
			}
		}
	}
	if err != nil {
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

func isID(s string) bool { return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" }

// dirSize is the size of the files under dir, not crossing into mounts
// (a container's rootfs shows the shared image layers).
func dirSize(dir string) int64 {
	var root syscall.Stat_t
	if syscall.Lstat(dir, &root) != nil {
		return 0
	}
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != root.Dev {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			n += st.Size
		}
		return nil
	})
	return n
}

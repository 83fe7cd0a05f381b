package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// RemoveOptions tune Remove.
type RemoveOptions struct {
	// InUse reports whether a container uses the image with this ID; if
	// it says yes, the image is not deleted (untagging is still allowed).
	InUse func(id string) (bool, error)
}

// RemoveResult says what Remove did, for `tirith rmi` to print.
type RemoveResult struct {
	Untagged []string // names removed
	Deleted  []string // image IDs deleted
}

// Remove untags or deletes an image, as `docker rmi` does: given a name
// of an image that has other names, only that name goes; otherwise (or
// given an ID) the image record goes, then every blob and unpacked layer
// no other image references.
func (s *Store) Remove(nameOrID string, opts RemoveOptions) (*RemoveResult, error) {
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	res, err := s.removeRecord(nameOrID, opts)
	if err != nil {
		return nil, err
	}
	if len(res.Deleted) > 0 {
		if err := s.gcLocked(); err != nil {
			return res, fmt.Errorf("remove %s: %w", nameOrID, err)
		}
	}
	return res, nil
}

func (s *Store) removeRecord(q string, opts RemoveOptions) (*RemoveResult, error) {
	unlock, err := s.lockIndex()
	if err != nil {
		return nil, err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	img, matched, err := find(idx, q)
	if err != nil {
		return nil, err
	}
	res := &RemoveResult{}
	if matched != "" && len(img.Names)+len(img.Digests) > 1 {
		img.Names = slices.DeleteFunc(img.Names, func(n string) bool { return n == matched })
		img.Digests = slices.DeleteFunc(img.Digests, func(n string) bool { return n == matched })
		res.Untagged = []string{matched}
		if len(img.Names) > 0 {
			return res, s.writeIndex(idx)
		}
		// Only digest references were left: docker removes the image
		// with its last tag; so do we.
	}
	if opts.InUse != nil {
		used, err := opts.InUse(img.ID)
		if err != nil {
			return nil, fmt.Errorf("remove %s: check whether it is in use: %w", q, err)
		}
		if used {
			return nil, fmt.Errorf("remove %s (%s): %w", q, img.ID, ErrInUse)
		}
	}
	res.Untagged = append(res.Untagged, img.Names...)
	res.Untagged = append(res.Untagged, img.Digests...)
	res.Deleted = []string{img.ID}
	delete(idx.Images, img.ID)
	return res, s.writeIndex(idx)
}

// GC removes temp debris and every blob and unpacked layer that no image
// record references. It waits for running pulls to finish.
func (s *Store) GC() error {
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	return s.gcLocked()
}

// gcLocked: Preconditions: the store lock is held exclusively, so no add
// is between writing a blob and recording its image.
func (s *Store) gcLocked() error {
	if err := s.cleanTmp(); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	idx, err := s.readIndex()
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	blobs, layers, sigs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, img := range idx.Images {
		for _, d := range []string{img.ID, img.ManifestDigest} {
			blobs[strings.TrimPrefix(d, "sha256:")] = true
		}
		sigs[strings.TrimPrefix(img.ManifestDigest, "sha256:")+".json"] = true
		for _, d := range img.Digests {
			if _, dg, ok := strings.Cut(d, "@sha256:"); ok {
				sigs[dg+".json"] = true
			}
		}
		for _, l := range img.Layers {
			blobs[strings.TrimPrefix(l.Digest, "sha256:")] = true
			layers[strings.TrimPrefix(l.DiffID, "sha256:")] = true
		}
	}
	sweep := func(dir string, keep func(name string) bool) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if !keep(e.Name()) {
				if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := sweep(filepath.Join(s.root, "blobs", "sha256"), func(n string) bool { return blobs[n] }); err != nil {
		return fmt.Errorf("gc blobs: %w", err)
	}
	if err := sweep(filepath.Join(s.root, "layers"), func(n string) bool { return layers[n] }); err != nil {
		return fmt.Errorf("gc layers: %w", err)
	}
	if err := sweep(filepath.Join(s.root, "layermeta"), func(n string) bool { return layers[strings.TrimSuffix(n, ".json")] }); err != nil {
		return fmt.Errorf("gc layer metadata: %w", err)
	}
	err = sweep(filepath.Join(s.root, "signatures"), func(n string) bool { return sigs[n] })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("gc signatures: %w", err)
	}
	return nil
}

package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/image/unpack"
	"golang.org/x/sys/unix"
)

// Progress reports one layer's state, for progress bars.
type Progress struct {
	Layer string // compressed digest
	// Status is "exists", "downloading", "unpacking" or "done".
	Status string
	// Done and Total are bytes of the compressed blob; Total is -1 if
	// unknown.
	Done, Total int64
}

// ProgressFunc receives progress. Calls are serialised by the store (the
// callback need not be safe for concurrent use) and must not block long.
type ProgressFunc func(Progress)

type progress struct {
	mu sync.Mutex
	fn ProgressFunc
}

func (p *progress) report(pr Progress) {
	if p == nil || p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(pr)
}

// putBlob stores r under digest, verifying it: write to tmp/, fsync,
// compare sha256 (and size, if known), rename. A blob that is already
// present was verified when it came in and is not read again.
func (s *Store) putBlob(ctx context.Context, digest string, size int64, r io.Reader, onWrite func(int64)) error {
	h, err := hexOf(digest)
	if err != nil {
		return err
	}
	if _, err := os.Stat(s.blobPath(h)); err == nil {
		return nil
	}
	f, got, n, err := s.writeTemp(ctx, "blob-"+h[:12]+"-*", size, r, onWrite)
	if err != nil {
		return fmt.Errorf("store blob %s: %w", digest, err)
	}
	defer discard(f)
	if got != h {
		return fmt.Errorf("store blob %s: content has digest sha256:%s: refusing it", digest, got)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("store blob %s: got %d bytes, want %d", digest, n, size)
	}
	if err := s.publishBlob(f, h); err != nil {
		return fmt.Errorf("store blob %s: %w", digest, err)
	}
	return nil
}

// putStream stores r as a blob named by the digest of what was read, and
// returns that digest and the size: for content whose digest nobody
// announced (an imported layer). Same path as putBlob: tmp/, fsync, rename.
func (s *Store) putStream(ctx context.Context, r io.Reader) (string, int64, error) {
	f, h, n, err := s.writeTemp(ctx, "blob-*", -1, r, nil)
	if err != nil {
		return "", 0, fmt.Errorf("store blob: %w", err)
	}
	defer discard(f)
	if _, err := os.Stat(s.blobPath(h)); err == nil {
		return "sha256:" + h, n, nil // verified when it came in
	}
	if err := s.publishBlob(f, h); err != nil {
		return "", 0, fmt.Errorf("store blob sha256:%s: %w", h, err)
	}
	return "sha256:" + h, n, nil
}

// writeTemp copies r into a new file in tmp/ (name pattern pattern),
// hashing it on the way, and stops at more than size bytes (size >= 0).
// It returns the open file, the hex sha256 and the byte count; the caller
// discards the file unless publishBlob renamed it.
func (s *Store) writeTemp(ctx context.Context, pattern string, size int64, r io.Reader, onWrite func(int64)) (*os.File, string, int64, error) {
	f, err := os.CreateTemp(s.tmpDir(), pattern)
	if err != nil {
		return nil, "", 0, err
	}
	hash := sha256.New()
	w := io.MultiWriter(f, hash)
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			discard(f)
			return nil, "", 0, err
		}
		m, rerr := r.Read(buf)
		if m > 0 {
			if _, err := w.Write(buf[:m]); err != nil {
				discard(f)
				return nil, "", 0, err
			}
			n += int64(m)
			if size >= 0 && n > size {
				discard(f)
				return nil, "", 0, fmt.Errorf("more than the %d bytes announced", size)
			}
			if onWrite != nil {
				onWrite(n)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			discard(f)
			return nil, "", 0, rerr
		}
	}
	return f, hex.EncodeToString(hash.Sum(nil)), n, nil
}

// publishBlob fsyncs the verified temp file f and renames it to
// blobs/sha256/<h>.
func (s *Store) publishBlob(f *os.File, h string) error {
	if err := f.Sync(); err != nil {
		return err
	}
	final := s.blobPath(h)
	if err := os.Rename(f.Name(), final); err != nil {
		return err
	}
	return syncDir(filepath.Dir(final))
}

// discard closes and removes a temp file (a no-op remove once renamed).
func discard(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

func (s *Store) putBytes(ctx context.Context, digest string, b []byte) error {
	return s.putBlob(ctx, digest, int64(len(b)), bytes.NewReader(b), nil)
}

// layerMeta is layermeta/<hex>.json: what unpack said about a layer.
type layerMeta struct {
	Setuid   []string `json:"setuid,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

func (s *Store) readMeta(diffHex string) layerMeta {
	var m layerMeta
	if b, err := os.ReadFile(s.metaPath(diffHex)); err == nil {
		_ = json.Unmarshal(b, &m) // best effort: the metadata is advisory
	}
	return m
}

// unpackLayer unpacks blob <blobHex> into layers/<diffHex> unless that
// exists: into a temp dir first, DiffID checked, synced, then renamed, so
// layers/ only ever holds complete, verified layers.
func (s *Store) unpackLayer(ctx context.Context, blobHex, diffID string) error {
	diffHex, err := hexOf(diffID)
	if err != nil {
		return err
	}
	final := s.layerPath(diffHex)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	f, err := os.Open(s.blobPath(blobHex))
	if err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(s.tmpDir(), "layer-"+diffHex[:12]+"-*")
	if err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	// MkdirTemp made it 0700; a layer without a "./" entry would then
	// make the container's / unreadable to non-root users.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	res, err := unpack.Unpack(ctx, f, tmp, s.opts.Unpack)
	if err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	if res.DiffID != diffID {
		return fmt.Errorf("unpack layer %s: uncompressed content has digest %s: refusing it", diffID, res.DiffID)
	}
	meta := layerMeta{Setuid: res.Setuid}
	for _, w := range res.Warnings {
		meta.Warnings = append(meta.Warnings, w.String())
	}
	mb, _ := json.Marshal(meta)
	if err := atomicfile.Write(s.metaPath(diffHex), mb, 0o600); err != nil {
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	// One syncfs instead of an fsync per file: the rename below must not
	// reach the disk before the files it publishes.
	if d, err := os.Open(tmp); err == nil {
		_ = unix.Syncfs(int(d.Fd()))
		d.Close()
	}
	if err := os.Rename(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) || errors.Is(err, unix.ENOTEMPTY) {
			return nil // a concurrent pull finished the same layer first
		}
		return fmt.Errorf("unpack layer %s: %w", diffID, err)
	}
	ok = true
	return syncDir(filepath.Dir(final))
}

// add stores img (blobs, unpacked layers, record) under names and digest
// references. It is the common end of Pull, Load and Import.
func (s *Store) add(ctx context.Context, img v1.Image, names, digests []string, pr *progress) (*Image, error) {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.addLocked(ctx, img, names, digests, pr)
}

// addLocked is add for a caller that holds the store lock (shared).
func (s *Store) addLocked(ctx context.Context, img v1.Image, names, digests []string, pr *progress) (*Image, error) {
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	mdigest := fmt.Sprintf("sha256:%x", sha256.Sum256(rawManifest))
	manifest, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", mdigest, err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	configID := fmt.Sprintf("sha256:%x", sha256.Sum256(rawConfig))
	if manifest.Config.Digest.String() != configID {
		return nil, fmt.Errorf("config has digest %s, manifest says %s", configID, manifest.Config.Digest)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(rawConfig, &cf); err != nil {
		return nil, fmt.Errorf("parse config %s: %w", configID, err)
	}
	if len(cf.RootFS.DiffIDs) != len(manifest.Layers) {
		return nil, fmt.Errorf("config %s has %d diff_ids, manifest %d layers", configID, len(cf.RootFS.DiffIDs), len(manifest.Layers))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("read layers: %w", err)
	}
	if len(layers) != len(manifest.Layers) {
		return nil, fmt.Errorf("image has %d layers, manifest %d", len(layers), len(manifest.Layers))
	}

	rec := &Image{
		ID: configID, ManifestDigest: mdigest, Created: cf.Created.Time,
		OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant,
		Config: configFrom(cf.Config),
	}
	for i, d := range manifest.Layers {
		if !d.MediaType.IsDistributable() {
			return nil, fmt.Errorf("layer %s: foreign (non-distributable) layers are not supported", d.Digest)
		}
		rec.Layers = append(rec.Layers, Layer{
			Digest: d.Digest.String(), DiffID: cf.RootFS.DiffIDs[i].String(),
			MediaType: string(d.MediaType), Size: d.Size,
		})
		rec.Size += d.Size
	}

	// Layers: download and unpack in parallel, bounded by GOMAXPROCS; the
	// first error cancels the rest.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, max(runtime.GOMAXPROCS(0), 2))
	var wg sync.WaitGroup
	for i := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := s.fetchLayer(ctx, layers[i], rec.Layers[i], pr); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	for i := range rec.Layers {
		h, _ := hexOf(rec.Layers[i].DiffID)
		m := s.readMeta(h)
		rec.Layers[i].Setuid, rec.Layers[i].Warnings = m.Setuid, m.Warnings
	}
	// Config and manifest last: a blob of a half-stored image is then
	// just unreferenced content that GC removes.
	if err := s.putBytes(ctx, configID, rawConfig); err != nil {
		return nil, err
	}
	if err := s.putBytes(ctx, mdigest, rawManifest); err != nil {
		return nil, err
	}
	return s.record(rec, names, digests)
}

func (s *Store) fetchLayer(ctx context.Context, l v1.Layer, rec Layer, pr *progress) error {
	blobHex, err := hexOf(rec.Digest)
	if err != nil {
		return fmt.Errorf("layer %s: %w", rec.Digest, err)
	}
	diffHex, err := hexOf(rec.DiffID)
	if err != nil {
		return fmt.Errorf("layer %s: %w", rec.Digest, err)
	}
	_, berr := os.Stat(s.blobPath(blobHex))
	_, lerr := os.Stat(s.layerPath(diffHex))
	if berr == nil && lerr == nil {
		pr.report(Progress{Layer: rec.Digest, Status: "exists", Done: rec.Size, Total: rec.Size})
		return nil
	}
	if berr != nil {
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("layer %s: %w", rec.Digest, err)
		}
		pr.report(Progress{Layer: rec.Digest, Status: "downloading", Total: rec.Size})
		err = s.putBlob(ctx, rec.Digest, rec.Size, rc, func(n int64) {
			pr.report(Progress{Layer: rec.Digest, Status: "downloading", Done: n, Total: rec.Size})
		})
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", rec.Digest, err)
		}
	}
	pr.report(Progress{Layer: rec.Digest, Status: "unpacking", Done: rec.Size, Total: rec.Size})
	if err := s.unpackLayer(ctx, blobHex, rec.DiffID); err != nil {
		return err
	}
	pr.report(Progress{Layer: rec.Digest, Status: "done", Done: rec.Size, Total: rec.Size})
	return nil
}

// record writes rec into the index, moving names and digest references
// from any image that held them (a tag names one image).
func (s *Store) record(rec *Image, names, digests []string) (*Image, error) {
	unlock, err := s.lockIndex()
	if err != nil {
		return nil, err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	if old, ok := idx.Images[rec.ID]; ok {
		rec.Names, rec.Digests = old.Names, old.Digests
	}
	for _, other := range idx.Images {
		if other.ID == rec.ID {
			continue
		}
		other.Names = slices.DeleteFunc(other.Names, func(n string) bool { return slices.Contains(names, n) })
	}
	for _, n := range names {
		if !slices.Contains(rec.Names, n) {
			rec.Names = append(rec.Names, n)
		}
	}
	for _, d := range digests {
		if !slices.Contains(rec.Digests, d) {
			rec.Digests = append(rec.Digests, d)
		}
	}
	idx.Images[rec.ID] = rec
	if err := s.writeIndex(idx); err != nil {
		return nil, err
	}
	return rec, nil
}

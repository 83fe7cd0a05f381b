package store

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/unpack"
	"golang.org/x/sys/unix"
)

// Import stores a single-layer image made from rootfsTar (uncompressed or
// gzip/zstd) under name ("" for none), like `docker import`. The config
// has only os/architecture and a creation time: no Cmd, Env or User.
//
// The layer is stored uncompressed (OCI media type
// application/vnd.oci.image.layer.v1.tar, digest == DiffID): the tar is
// read once, hashed and written to its blob in one pass, then unpacked
// from that blob, which checks the DiffID again. Compressing it would
// cost most of the import's time for a blob that only this store reads;
// a compressed input is decompressed on the way in.
func (s *Store) Import(ctx context.Context, rootfsTar io.Reader, imageName string) (*Image, error) {
	var names []string
	if imageName != "" {
		canon, err := ref.Normalize(imageName)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		names = []string{canon}
	}
	// Held from the first byte written to tmp/ until the image is
	// recorded: neither garbage collection nor Open's clean-up of tmp/
	// may remove the new blob before an image references it.
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer unlock()
	stream, closeStream, err := unpack.Decompress(ctxReader{ctx, rootfsTar})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	digest, size, err := s.putStream(ctx, stream)
	closeStream()
	if err != nil {
		return nil, fmt.Errorf("import: read rootfs tar: %w", err)
	}
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	layer, err := partial.CompressedToLayer(&blobLayer{path: s.blobPath(h.Hex), digest: h, size: size})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	rec, err := s.addLocked(ctx, img, names, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return rec, nil
}

// blobLayer is an uncompressed layer already in blobs/: its digest is its
// DiffID.
type blobLayer struct {
	path   string
	digest v1.Hash
	size   int64
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *blobLayer) DiffID() (v1.Hash, error)            { return l.digest, nil }
func (l *blobLayer) Size() (int64, error)                { return l.size, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l *blobLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

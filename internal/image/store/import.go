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
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/tirith-project/tirith/internal/image/ref"
)

// Import stores a single-layer image made from rootfsTar (uncompressed or
// gzip/zstd) under name ("" for none), like `docker import`. The config
// has only os/architecture and a creation time: no Cmd, Env or User.
func (s *Store) Import(ctx context.Context, rootfsTar io.Reader, imageName string) (*Image, error) {
	var names []string
	if imageName != "" {
		canon, err := ref.Normalize(imageName)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		names = []string{canon}
	}
	// Spool to tmp/: the layer is read several times (digest, diffid,
	// blob) and the caller's reader may be a pipe.
	f, err := os.CreateTemp(s.tmpDir(), "import-*")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer func() {
		f.Close()
		os.Remove(f.Name())
	}()
	if _, err := io.Copy(f, ctxReader{ctx, rootfsTar}); err != nil {
		return nil, fmt.Errorf("import: read rootfs tar: %w", err)
	}
	layer, err := tarball.LayerFromFile(f.Name())
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
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
	rec, err := s.add(ctx, img, names, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return rec, nil
}

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

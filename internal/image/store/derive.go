package store

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/tirith-project/tirith/internal/image/ref"
)

// AppendLayer stores a new image: img's layers and config plus one
// layer made of layerTar (an uncompressed tar), recorded in the history
// as createdBy, tagged name. img itself is not changed: its layers are
// shared, its record and tags stay (unless name is one of them: a tag
// names one image).
func (s *Store) AppendLayer(ctx context.Context, img *Image, layerTar []byte, createdBy, name string) (*Image, error) {
	canon, err := ref.Normalize(name)
	if err != nil {
		return nil, fmt.Errorf("tag %q: %w", name, err)
	}
	cf, err := s.ConfigFile(img)
	if err != nil {
		return nil, err
	}
	mt := types.OCILayer
	var layers []v1.Layer
	for _, l := range img.Layers {
		h, err := hexOf(l.Digest)
		if err != nil {
			return nil, err
		}
		p := s.blobPath(h)
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(p) }, tarball.WithMediaType(types.MediaType(l.MediaType)))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		layers = append(layers, layer)
		if types.MediaType(l.MediaType) == types.DockerLayer {
			mt = types.DockerLayer
		}
	}
	base, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	// The original config, whole: its diff_ids match the layers above.
	if base, err = mutate.ConfigFile(base, cf.DeepCopy()); err != nil {
		return nil, err
	}
	manifestType := types.OCIManifestSchema1
	if mt == types.DockerLayer {
		manifestType = types.DockerManifestSchema2
	}
	base = mutate.MediaType(base, manifestType)
	if mt == types.OCILayer {
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	nl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil }, tarball.WithMediaType(mt))
	if err != nil {
		return nil, err
	}
	out, err := mutate.Append(base, mutate.Addendum{Layer: nl, MediaType: mt, History: v1.History{
		CreatedBy: createdBy, Created: v1.Time{Time: time.Now().UTC().Truncate(time.Second)}, Comment: "tirith defang",
	}})
	if err != nil {
		return nil, err
	}
	if out, err = mutate.CreatedAt(out, v1.Time{Time: time.Now().UTC().Truncate(time.Second)}); err != nil {
		return nil, err
	}
	return s.add(ctx, out, []string{canon}, nil, nil)
}

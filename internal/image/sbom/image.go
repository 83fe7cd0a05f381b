package sbom

import (
	"github.com/tirith-project/tirith/internal/image/store"
)

// ForImage scans image q of store s.
func ForImage(s *store.Store, q string) (Subject, []Component, error) {
	img, err := s.Get(q)
	if err != nil {
		return Subject{}, nil, err
	}
	dirs, err := s.LayerDirs(img) // top first
	if err != nil {
		return Subject{}, nil, err
	}
	layers := make([]Layer, len(img.Layers))
	for i, l := range img.Layers {
		layers[i] = Layer{DiffID: l.DiffID, Dir: dirs[len(dirs)-1-i]}
	}
	cs, err := Scan(layers)
	if err != nil {
		return Subject{}, nil, err
	}
	return Subject{Name: q, ID: img.ID, Digest: img.ManifestDigest}, cs, nil
}

package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/unpack"
)

// Image is a stored image record.
type Image struct {
	// ID is the config digest ("sha256:..."), as Docker uses it.
	ID string `json:"id"`
	// Names are canonical tags ("docker.io/library/busybox:latest").
	Names []string `json:"names,omitempty"`
	// Digests are canonical digest references ("repo@sha256:...") the
	// image was pulled as.
	Digests []string `json:"digests,omitempty"`
	// ManifestDigest is the digest of the stored (platform) manifest.
	ManifestDigest string    `json:"manifestDigest"`
	Created        time.Time `json:"created"`
	// Size is the sum of the compressed layer sizes.
	Size         int64  `json:"size"`
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
	// Layers, bottom first (the order of the manifest).
	Layers []Layer `json:"layers"`
	// Config is the part of the image config the engine needs.
	Config Config `json:"config"`
}

// Layer is one layer of an image.
type Layer struct {
	Digest    string `json:"digest"` // compressed blob digest
	DiffID    string `json:"diffID"` // uncompressed digest, names the unpacked dir
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
	// Setuid lists setuid/setgid/file-capability paths found in the layer.
	Setuid []string `json:"setuid,omitempty"`
	// Warnings from unpacking (skipped devices, dropped xattrs ...).
	Warnings []string `json:"warnings,omitempty"`
}

// Config is what the engine takes from the image config (the OCI image
// spec's "config" object), in Tirith's own types so callers need no
// go-containerregistry import. ConfigFile gives the whole thing.
type Config struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	User       string   `json:"user,omitempty"`
	// ExposedPorts like "80/tcp", sorted.
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Volumes      []string          `json:"volumes,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	StopSignal   string            `json:"stopSignal,omitempty"`
}

func configFrom(c v1.Config) Config {
	out := Config{
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir,
		User: c.User, Labels: c.Labels, StopSignal: c.StopSignal,
	}
	for p := range c.ExposedPorts {
		out.ExposedPorts = append(out.ExposedPorts, p)
	}
	for v := range c.Volumes {
		out.Volumes = append(out.Volumes, v)
	}
	sort.Strings(out.ExposedPorts)
	sort.Strings(out.Volumes)
	return out
}

// ImageSummary is one line of `tirith images`.
type ImageSummary struct {
	ID      string
	Names   []string
	Digests []string
	Created time.Time
	Size    int64
}

// List returns every image, newest first.
func (s *Store) List() ([]ImageSummary, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]ImageSummary, 0, len(idx.Images))
	for _, img := range idx.Images {
		out = append(out, ImageSummary{ID: img.ID, Names: img.Names, Digests: img.Digests, Created: img.Created, Size: img.Size})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.After(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Get finds an image by name ("busybox", "busybox:1.36",
// "repo@sha256:..."), full ID ("sha256:<hex>" or "<hex>") or unique ID
// prefix.
func (s *Store) Get(nameOrID string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	img, _, err := find(idx, nameOrID)
	return img, err
}

// find returns the image and, if it matched by name or digest reference,
// the canonical name it matched.
func find(idx *index, q string) (*Image, string, error) {
	if q == "" {
		return nil, "", fmt.Errorf("%w: empty name", ErrNotFound)
	}
	if img, ok := idx.Images[q]; ok {
		return img, "", nil
	}
	if img, ok := idx.Images["sha256:"+q]; ok {
		return img, "", nil
	}
	// A name first: "abc" could be both a repository and an ID prefix,
	// and Docker prefers the name.
	if canon, err := ref.Normalize(q); err == nil {
		for _, img := range idx.Images {
			if slices.Contains(img.Names, canon) || slices.Contains(img.Digests, canon) {
				return img, canon, nil
			}
		}
	}
	p := strings.TrimPrefix(q, "sha256:")
	if len(p) >= 3 && strings.Trim(p, "0123456789abcdef") == "" {
		var hit *Image
		for id, img := range idx.Images {
			if strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), p) {
				if hit != nil {
					return nil, "", fmt.Errorf("%w: %q", ErrAmbiguous, q)
				}
				hit = img
			}
		}
		if hit != nil {
			return hit, "", nil
		}
	}
	return nil, "", fmt.Errorf("%w: %q", ErrNotFound, q)
}

// LayerDirs returns the unpacked layer directories of img, top layer
// first: the order of overlayfs's lowerdir= option.
func (s *Store) LayerDirs(img *Image) ([]string, error) {
	dirs := make([]string, 0, len(img.Layers))
	for i := len(img.Layers) - 1; i >= 0; i-- {
		h, err := hexOf(img.Layers[i].DiffID)
		if err != nil {
			return nil, fmt.Errorf("image %s layer %d: %w", img.ID, i, err)
		}
		d := s.layerPath(h)
		if _, err := os.Stat(d); err != nil {
			return nil, fmt.Errorf("image %s layer %s is not unpacked (pull it again): %w", img.ID, img.Layers[i].DiffID, err)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// ConfigFile returns the full image config of img, read from its blob.
func (s *Store) ConfigFile(img *Image) (*v1.ConfigFile, error) {
	h, err := hexOf(img.ID)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.blobPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("config blob of image %s: %w", img.ID, err)
	}
	if err != nil {
		return nil, err
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return nil, fmt.Errorf("parse config of image %s: %w", img.ID, err)
	}
	return &cf, nil
}

// Manifest returns the stored raw manifest of img.
func (s *Store) Manifest(img *Image) ([]byte, error) {
	h, err := hexOf(img.ManifestDigest)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(s.blobPath(h))
}

// OpenLayer returns the uncompressed tar stream of img's layer i (bottom
// first), read from its stored blob, for callers that need the layer as
// the image shipped it: whiteouts as ".wh." entries, the tar's own
// modes and owners. The caller closes it.
func (s *Store) OpenLayer(img *Image, i int) (io.ReadCloser, error) {
	if i < 0 || i >= len(img.Layers) {
		return nil, fmt.Errorf("image %s has no layer %d", img.ID, i)
	}
	h, err := hexOf(img.Layers[i].Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s layer %d: %w", img.ID, i, err)
	}
	f, err := os.Open(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("image %s layer %s: %w", img.ID, img.Layers[i].Digest, err)
	}
	r, release, err := unpack.Decompress(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image %s layer %s: %w", img.ID, img.Layers[i].Digest, err)
	}
	return layerReader{r, func() error { release(); return f.Close() }}, nil
}

type layerReader struct {
	io.Reader
	close func() error
}

func (l layerReader) Close() error { return l.close() }

// Lookup is Get that also returns the canonical reference q matched as
// a name or digest reference ("" when it matched by ID).
func (s *Store) Lookup(q string) (*Image, string, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, "", err
	}
	return find(idx, q)
}

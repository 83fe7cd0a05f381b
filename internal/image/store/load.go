package store

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/unpack"
)

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// LoadOptions tune Load.
type LoadOptions struct {
	// Progress, if set, is called as layers are stored and unpacked.
	Progress ProgressFunc
	// Platform to pick from a multi-platform OCI index; default
	// linux/GOARCH.
	Platform *v1.Platform
}

// Load stores the images in path, which is a docker-archive tarball
// (`docker save`), an OCI image layout directory, or an OCI layout in a
// tar (`docker save` of recent Docker, `skopeo copy oci-archive:`).
func (s *Store) Load(ctx context.Context, path string, opts LoadOptions) ([]*Image, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	pr := &progress{fn: opts.Progress}
	platform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if opts.Platform != nil {
		platform = *opts.Platform
	}
	if st.IsDir() {
		return s.loadLayout(ctx, path, platform, pr)
	}
	hasOCI, hasDocker, err := archiveKind(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	switch {
	case hasDocker:
		// Recent `docker save` writes both; the docker manifest carries
		// the tags, so prefer it.
		return s.loadDockerArchive(ctx, path, pr)
	case hasOCI:
		return s.loadOCIArchive(ctx, path, platform, pr)
	default:
		return nil, fmt.Errorf("load %s: neither a docker archive (manifest.json) nor an OCI layout (oci-layout)", path)
	}
}

// archiveKind lists the tar's top-level names without reading any blob.
func archiveKind(path string) (oci, docker bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return oci, docker, nil
		}
		if err != nil {
			return false, false, fmt.Errorf("read archive: %w", err)
		}
		switch h.Name {
		case "oci-layout", "./oci-layout":
			oci = true
		case "manifest.json", "./manifest.json":
			docker = true
		}
	}
}

func (s *Store) loadDockerArchive(ctx context.Context, path string, pr *progress) ([]*Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("load %s: manifest.json lists no image", path)
	}
	var out []*Image
	for i, d := range m {
		var (
			tag   *name.Tag
			names []string
		)
		for _, t := range d.RepoTags {
			canon, err := ref.Normalize(t)
			if err != nil {
				return nil, fmt.Errorf("load %s: manifest.json[%d].RepoTags: %w", path, i, err)
			}
			names = append(names, canon)
			if tag == nil {
				nt, err := name.NewTag(t)
				if err != nil {
					return nil, fmt.Errorf("load %s: manifest.json[%d].RepoTags: %w", path, i, err)
				}
				tag = &nt
			}
		}
		if tag == nil && len(m) > 1 {
			return nil, fmt.Errorf("load %s: manifest.json[%d] has no RepoTags in a multi-image archive", path, i)
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return nil, fmt.Errorf("load %s: manifest.json[%d]: %w", path, i, err)
		}
		// ggcr builds the image from the config's diff_ids and ignores
		// extra entries of Layers; refuse the mismatch, as Docker does.
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("load %s: manifest.json[%d]: %w", path, i, err)
		}
		if len(cf.RootFS.DiffIDs) != len(d.Layers) {
			return nil, fmt.Errorf("load %s: manifest.json[%d] lists %d layers, its config %d diff_ids", path, i, len(d.Layers), len(cf.RootFS.DiffIDs))
		}
		rec, err := s.add(ctx, img, names, nil, pr)
		if err != nil {
			return nil, fmt.Errorf("load %s: manifest.json[%d]: %w", path, i, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// loadOCIArchive extracts the tar into the store's tmp/ (with the same
// safe unpacker as layers: the archive is untrusted too) and loads it as a
// layout.
func (s *Store) loadOCIArchive(ctx context.Context, path string, platform v1.Platform, pr *progress) ([]*Image, error) {
	dir, err := os.MkdirTemp(s.tmpDir(), "oci-archive-*")
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	_, err = unpack.Unpack(ctx, f, dir, unpack.Options{IgnoreOwnership: true})
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("load %s: extract: %w", path, err)
	}
	return s.loadLayout(ctx, dir, platform, pr)
}

// Annotations naming an image in an OCI layout.
const (
	annotationRefName    = "org.opencontainers.image.ref.name"
	annotationContainerd = "io.containerd.image.name"
)

func (s *Store) loadLayout(ctx context.Context, dir string, platform v1.Platform, pr *progress) ([]*Image, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	var out []*Image
	if err := s.loadIndex(ctx, ii, nil, platform, pr, &out, 0); err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load %s: no image for %s in the layout", dir, platform)
	}
	return out, nil
}

func (s *Store) loadIndex(ctx context.Context, ii v1.ImageIndex, names []string, platform v1.Platform, pr *progress, out *[]*Image, depth int) error {
	if depth > 4 {
		return fmt.Errorf("image indexes nested too deep")
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return err
	}
	for i, d := range im.Manifests {
		n := names
		for _, key := range []string{annotationContainerd, annotationRefName} {
			// ref.name may be only a tag ("latest"); only a full
			// reference can name an image in this store.
			if v, ok := d.Annotations[key]; ok {
				if canon, err := ref.Normalize(v); err == nil && v != "" && containsSlashOrColon(v) {
					n = append(append([]string(nil), names...), canon)
					break
				}
			}
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return fmt.Errorf("manifests[%d]: %w", i, err)
			}
			if err := s.loadIndex(ctx, child, n, platform, pr, out, depth+1); err != nil {
				return err
			}
		case d.MediaType.IsImage():
			if d.Platform != nil && !d.Platform.Satisfies(platform) {
				continue
			}
			img, err := ii.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("manifests[%d]: %w", i, err)
			}
			rec, err := s.add(ctx, img, n, nil, pr)
			if err != nil {
				return fmt.Errorf("manifests[%d] %s: %w", i, d.Digest, err)
			}
			*out = append(*out, rec)
		}
	}
	return nil
}

func containsSlashOrColon(s string) bool {
	for _, c := range s {
		if c == '/' || c == ':' {
			return true
		}
	}
	return false
}

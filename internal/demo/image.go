package demo

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/store"
)

// BuiltinImage is the name of the built-in default image: the demo
// rootfs as an image, so `tirith run tirith/demo` needs no network.
const BuiltinImage = "tirith/demo:latest"

// BinaryLabel is the image label holding the sha256 of the tirith binary
// the built-in image was made from; EnsureBuiltin rebuilds the image
// when the binary changes.
const BinaryLabel = "org.tirith.builtin.binary"

// RootfsTar writes the demo rootfs as an uncompressed tar: the running
// binary at /bin/tirith, its ELF interpreter and shared libraries, the
// directories a container needs (/proc /dev /sys /tmp /run /etc) and an
// /etc/passwd and /etc/group with root and nobody. Every entry belongs
// to 0:0 and carries the binary's modification time, so the same binary
// always gives the same tar (and so the same image ID).
func RootfsTar(w io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("demo rootfs: %w", err)
	}
	return rootfsTar(w, self)
}

func rootfsTar(w io.Writer, self string) error {
	st, err := os.Stat(self)
	if err != nil {
		return fmt.Errorf("demo rootfs: %w", err)
	}
	mtime := st.ModTime().UTC().Truncate(time.Second)
	libs, err := sharedLibs(self)
	if err != nil {
		return err
	}
	files := map[string]string{"bin/tirith": self} // tar name -> host path
	for _, l := range libs {
		files[strings.TrimPrefix(filepath.Clean(l), "/")] = l
	}
	dirs := map[string]int64{"bin": 0o755, "proc": 0o555, "dev": 0o755, "sys": 0o555, "tmp": 0o1777, "run": 0o755, "etc": 0o755}
	for n := range files {
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			if _, ok := dirs[d]; !ok {
				dirs[d] = 0o755
			}
		}
	}
	tw := tar.NewWriter(w)
	hdr := func(name string, typ byte, mode, size int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Mode: mode, Size: size, ModTime: mtime, Format: tar.FormatPAX}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(hdr(d+"/", tar.TypeDir, dirs[d], 0)); err != nil {
			return fmt.Errorf("demo rootfs: %w", err)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(files)) {
		if err := addFile(tw, hdr, n, files[n]); err != nil {
			return fmt.Errorf("demo rootfs: %w", err)
		}
	}
	etc := map[string]string{
		"etc/passwd": "root:x:0:0:root:/:/bin/tirith\nnobody:x:65534:65534:nobody:/nonexistent:/bin/tirith\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for _, n := range slices.Sorted(maps.Keys(etc)) {
		if err := tw.WriteHeader(hdr(n, tar.TypeReg, 0o644, int64(len(etc[n])))); err != nil {
			return fmt.Errorf("demo rootfs: %w", err)
		}
		if _, err := io.WriteString(tw, etc[n]); err != nil {
			return fmt.Errorf("demo rootfs: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("demo rootfs: %w", err)
	}
	return nil
}

func addFile(tw *tar.Writer, hdr func(string, byte, int64, int64) *tar.Header, name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(hdr(name, tar.TypeReg, 0o755, st.Size())); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, st.Size()); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// EnsureBuiltin returns the built-in image (BuiltinImage) from s,
// creating it from the running binary (see RootfsTar) if it is missing or
// was made from another binary. Its config runs `/bin/tirith probe`.
// The front end calls this when asked to run tirith/demo; listing images
// does not create it.
func EnsureBuiltin(s *store.Store) (*store.Image, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	return ensureBuiltin(context.Background(), s, self)
}

func ensureBuiltin(ctx context.Context, s *store.Store, self string) (*store.Image, error) {
	sum, err := fileDigest(self)
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	canon, err := ref.Normalize(BuiltinImage)
	if err != nil {
		return nil, err
	}
	if img, err := s.Get(canon); err == nil && img.Config.Labels[BinaryLabel] == sum && slices.Contains(img.Names, canon) {
		return img, nil
	}
	dir, err := os.MkdirTemp("", "tirith-builtin-")
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	defer os.RemoveAll(dir)
	rootfs := filepath.Join(dir, "rootfs.tar")
	f, err := os.Create(rootfs)
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	err = rootfsTar(f, self)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	st, err := os.Stat(self)
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	img, err := builtinImage(rootfs, sum, st.ModTime())
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	// store.Import cannot set a config (Cmd), so the image goes in as a
	// docker archive, the way `tirith load` takes it.
	tag, err := name.NewTag(BuiltinImage)
	if err != nil {
		return nil, err
	}
	archive := filepath.Join(dir, "image.tar")
	if err := tarball.WriteToFile(archive, tag, img); err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	imgs, err := s.Load(ctx, archive, store.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("built-in image: %w", err)
	}
	if len(imgs) != 1 {
		return nil, fmt.Errorf("built-in image: loaded %d images, want 1", len(imgs))
	}
	return imgs[0], nil
}

// builtinImage is one layer (the rootfs tar) with a config running the
// probe.
func builtinImage(rootfsTar, binarySum string, mtime time.Time) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(rootfsTar, tarball.WithCompressionLevel(gzip.BestSpeed))
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: mtime.UTC().Truncate(time.Second)}
	cf.Config = v1.Config{
		Cmd:        []string{"/bin/tirith", "probe"},
		Env:        []string{"PATH=/bin"},
		WorkingDir: "/",
		Labels:     map[string]string{BinaryLabel: binarySum},
	}
	return mutate.ConfigFile(img, cf)
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)), nil
}

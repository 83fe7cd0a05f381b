package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tirith-project/tirith/internal/rootless"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/image/unpack"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where the front end keeps images unless --storage says
// otherwise.
const DefaultRoot = "/var/lib/tirith"

var (
	// ErrNotFound: no image matches the name or ID.
	ErrNotFound = errors.New("image not found")
	// ErrAmbiguous: an ID prefix matches more than one image.
	ErrAmbiguous = errors.New("ambiguous image ID prefix")
	// ErrInUse: Remove refused because the caller's check said the image
	// is used by a container.
	ErrInUse = errors.New("image is in use")
)

// Options configure a Store.
type Options struct {
	// Unpack options applied to every layer: id shift for user
	// namespaces, DefangSetuid, size caps. Layers are unpacked once and
	// shared, so these must not change over a store's life.
	Unpack unpack.Options
}

// Store is an image store rooted at a directory. Its methods are safe for
// concurrent use, also by several processes.
type Store struct {
	root string
	opts Options
}

// Open opens (creating if needed) the store at root with default options.
func Open(root string) (*Store, error) {
	return OpenWithOptions(root, Options{Unpack: unpack.Options{OverlayXattrPrefix: rootless.OverlayXattrPrefix()}})
}

// OpenWithOptions opens the store at root. If no other process is writing
// to it, leftovers of interrupted writes in tmp/ are removed.
func OpenWithOptions(root string, opts Options) (*Store, error) {
	if root == "" {
		return nil, fmt.Errorf("open image store: empty root")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open image store: %w", err)
	}
	// 0700: layers keep their setuid-root and file-capability binaries,
	// so no other host user may reach anything stored by its path.
	for _, d := range []string{"", "blobs", "blobs/sha256", "layers", "layermeta", "tmp"} {
		if err := PrivateDir(filepath.Join(root, d)); err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	s := &Store{root: root, opts: opts}
	// Clean debris only when no writer holds the lock (non-blocking): a
	// concurrent pull's temp files are not debris.
	if unlock, err := s.lock(unix.LOCK_EX | unix.LOCK_NB); err == nil {
		err := s.cleanTmp()
		unlock()
		if err != nil {
			return nil, fmt.Errorf("open image store: %w", err)
		}
	}
	return s, nil
}

// PrivateDir makes dir, creating it if needed, a directory that only its
// owner may enter, tightening one made more open before (earlier Tirith
// made the store's directories 0711: searchable by every user).
func PrivateDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err == nil || !errors.Is(err, fs.ErrExist) {
		return err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return &os.PathError{Op: "open", Path: dir, Err: unix.ENOTDIR}
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return os.Chmod(dir, perm&^0o077)
	}
	return nil
}

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

func (s *Store) blobPath(hex string) string  { return filepath.Join(s.root, "blobs", "sha256", hex) }
func (s *Store) layerPath(hex string) string { return filepath.Join(s.root, "layers", hex) }
func (s *Store) metaPath(hex string) string  { return filepath.Join(s.root, "layermeta", hex+".json") }
func (s *Store) tmpDir() string              { return filepath.Join(s.root, "tmp") }

// lock flocks root/lock with how (LOCK_SH or LOCK_EX, maybe |LOCK_NB).
func (s *Store) lock(how int) (func(), error) { return flock(filepath.Join(s.root, "lock"), how) }

func (s *Store) lockIndex() (func(), error) {
	return flock(filepath.Join(s.root, "index.lock"), unix.LOCK_EX)
}

func flock(path string, how int) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() { f.Close() }, nil // closing the fd releases the flock
}

func (s *Store) cleanTmp() error {
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(s.tmpDir(), e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// index is index.json: every image record, by ID.
type index struct {
	Version int               `json:"version"`
	Images  map[string]*Image `json:"images"`
}

func (s *Store) readIndex() (*index, error) {
	b, err := os.ReadFile(filepath.Join(s.root, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &index{Version: 1, Images: map[string]*Image{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	var idx index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("parse image index %s: %w", filepath.Join(s.root, "index.json"), err)
	}
	if idx.Version != 1 {
		return nil, fmt.Errorf("image index version %d not supported", idx.Version)
	}
	if idx.Images == nil {
		idx.Images = map[string]*Image{}
	}
	// Records are keyed by their ID; anything else is a damaged index.
	for id, img := range idx.Images {
		if img == nil || img.ID != id {
			return nil, fmt.Errorf("parse image index %s: record %q is damaged", filepath.Join(s.root, "index.json"), id)
		}
	}
	return &idx, nil
}

func (s *Store) writeIndex(idx *index) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.root, "index.json"), b, 0o600); err != nil {
		return fmt.Errorf("write image index: %w", err)
	}
	return nil
}

// hexOf returns the hex of a "sha256:<hex>" digest, refusing anything else
// (a digest becomes a file name: it must be exactly 64 hex digits).
func hexOf(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
		return "", fmt.Errorf("unsupported digest %q (want sha256:<64 hex>)", digest)
	}
	return h, nil
}

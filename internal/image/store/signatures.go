package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tirith-project/tirith/internal/atomicfile"
)

// Signatures kept with images: <root>/signatures/<hex>.json holds what
// PullOptions.Verify returned for the manifest digest sha256:<hex>, so
// that the policy can be checked again when the image is used. The store
// does not read the contents.

func (s *Store) sigPath(hex string) string { return filepath.Join(s.root, "signatures", hex+".json") }

func (s *Store) putSignatures(digest string, b []byte) error {
	h, err := hexOf(digest)
	if err != nil {
		return err
	}
	if err := PrivateDir(filepath.Join(s.root, "signatures")); err != nil {
		return fmt.Errorf("keep signatures: %w", err)
	}
	if err := atomicfile.Write(s.sigPath(h), b, 0o600); err != nil {
		return fmt.Errorf("keep signatures of %s: %w", digest, err)
	}
	return nil
}

// Signatures returns what was kept for manifest digest when it was pulled
// under a signature policy, or nil if nothing was.
func (s *Store) Signatures(digest string) ([]byte, error) {
	h, err := hexOf(digest)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.sigPath(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read signatures of %s: %w", digest, err)
	}
	return b, nil
}

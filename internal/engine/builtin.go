package engine

import (
	"errors"
	"fmt"

	"github.com/tirith-project/tirith/internal/demo"
	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/store"
)

// IsBuiltin says whether name refers to demo.BuiltinImage, the image
// `tirith run` can run with no registry and no network (the tirith
// binary and its libraries; its command is `/bin/tirith probe`).
func IsBuiltin(name string) bool {
	a, err1 := ref.Normalize(name)
	b, err2 := ref.Normalize(demo.BuiltinImage)
	return err1 == nil && err2 == nil && a == b
}

// resolveImage finds the image in the store; the built-in one is
// (re)made from the running binary when missing or stale.
func resolveImage(st *store.Store, name string) (*store.Image, error) {
	if IsBuiltin(name) {
		img, err := demo.EnsureBuiltin(st)
		if err != nil {
			return nil, fmt.Errorf("built-in image %s: %w", name, err)
		}
		return img, nil
	}
	img, err := st.Get(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("image %s: %w (tirith pull %s first)", name, err, name)
	}
	return img, err
}

// ResolveImage is resolveImage for callers outside the engine (the
// image policy at run audits the image run would use).
func ResolveImage(st *store.Store, name string) (*store.Image, error) { return resolveImage(st, name) }

package audit

import (
	"io"

	"github.com/tirith-project/tirith/internal/image/store"
)

// StoreImage is the input for auditing img from the image store, named
// by ref as the user gave it.
func StoreImage(st *store.Store, img *store.Image, ref string) (ImageInput, error) {
	cf, err := st.ConfigFile(img)
	if err != nil {
		return ImageInput{}, err
	}
	return ImageInput{
		Ref: ref, Names: img.Names, ID: img.ID, Config: cf, Layers: len(img.Layers),
		Open: func(i int) (io.ReadCloser, error) { return st.OpenLayer(img, i) },
	}, nil
}

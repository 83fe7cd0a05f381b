package trust

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

const (
	// SimpleSigningMediaType is the media type of cosign's payload layers.
	SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds a payload layer's base64 signature.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"

	maxPayload    = 64 << 10 // a simple-signing payload is a few hundred bytes
	maxSignatures = 64
)

// FetchSignatures reads the cosign signatures of the manifest digest in
// repo: the layers of the image tagged sha256-<hex>.sig in the same
// repository. No such tag is no signatures, not an error. Each payload is
// read against its layer digest and size-capped; signatures are not
// verified here (Policy.Check does).
func FetchSignatures(ctx context.Context, repo name.Repository, digest string, opts ...remote.Option) ([]Signature, error) {
	tag := repo.Tag(SigTag(digest))
	opts = append(opts, remote.WithContext(ctx))
	img, err := remote.Image(tag, opts...)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("fetch signatures %s: %w", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("fetch signatures %s: %w", tag, err)
	}
	if len(m.Layers) > maxSignatures {
		return nil, fmt.Errorf("fetch signatures %s: %d layers, more than %d", tag, len(m.Layers), maxSignatures)
	}
	var out []Signature
	for _, l := range m.Layers {
		if string(l.MediaType) != SimpleSigningMediaType {
			continue
		}
		sig, ok := l.Annotations[SignatureAnnotation]
		if !ok {
			continue
		}
		if l.Size > maxPayload {
			return nil, fmt.Errorf("fetch signatures %s: payload %s is %d bytes, more than %d", tag, l.Digest, l.Size, maxPayload)
		}
		b, err := readBlob(img, l.Digest)
		if err != nil {
			return nil, fmt.Errorf("fetch signatures %s: payload %s: %w", tag, l.Digest, err)
		}
		out = append(out, Signature{Payload: b, Signature: sig})
	}
	return out, nil
}

// readBlob reads a layer blob; go-containerregistry checks it against its
// digest as it is read to the end.
func readBlob(img v1.Image, d v1.Hash) ([]byte, error) {
	l, err := img.LayerByDigest(d)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayload {
		return nil, fmt.Errorf("more than %d bytes", maxPayload)
	}
	return b, nil
}

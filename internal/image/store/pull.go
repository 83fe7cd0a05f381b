package store

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/tirith-project/tirith/internal/image/ref"
)

// PullOptions tune Pull.
type PullOptions struct {
	// InsecureRegistries may be spoken to over plain http ("host" or
	// "host:port"). Loopback registries always may; nothing else may.
	InsecureRegistries []string
	// Platform to pick from a multi-platform index; default linux/GOARCH.
	Platform *v1.Platform
	// Progress, if set, is called as layers download and unpack.
	Progress ProgressFunc
	// Keychain for credentials; default authn.DefaultKeychain
	// (~/.docker/config.json and credential helpers).
	Keychain authn.Keychain
	// Transport is the base HTTP transport; default remote.DefaultTransport.
	Transport http.RoundTripper
	// Verify, if set, decides on the image before any of it is stored
	// (package trust's signature policy). What it returns is kept with the
	// image (see Signatures); an error refuses the image.
	Verify func(context.Context, VerifyTarget) ([]byte, error)
}

// VerifyTarget is what PullOptions.Verify decides on.
type VerifyTarget struct {
	// Ref is the reference pulled, normalized.
	Ref ref.Reference
	// Repo is Ref's repository, parsed for go-containerregistry.
	Repo name.Repository
	// Digest is the digest of the manifest Ref resolved to (an index
	// for a multi-platform image): what signatures sign.
	Digest string
	// Remote reaches the registry as the pull does (transport, auth).
	Remote []remote.Option
}

// Pull fetches image s from its registry and stores it. Every blob is
// verified against its digest before it is kept; blobs and layers already
// in the store are not fetched again, so a Pull interrupted at any point
// can simply be run again.
func (s *Store) Pull(ctx context.Context, image string, opts PullOptions) (*Image, error) {
	r, err := ref.Parse(image)
	if err != nil {
		return nil, err
	}
	plainOK := ref.AllowsPlainHTTP(r.Registry, opts.InsecureRegistries)
	var nopts []name.Option
	if plainOK {
		nopts = append(nopts, name.Insecure)
	}
	nref, err := name.ParseReference(r.String(), nopts...)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", image, err)
	}
	platform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	if opts.Platform != nil {
		platform = *opts.Platform
	}
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	base := opts.Transport
	if base == nil {
		base = remote.DefaultTransport
	}
	tr := &httpsOnly{base: base, insecure: opts.InsecureRegistries}
	ropts := []remote.Option{remote.WithAuthFromKeychain(kc), remote.WithTransport(tr)}
	desc, err := remote.Get(nref, append(ropts, remote.WithContext(ctx), remote.WithPlatform(platform))...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	top := desc.Digest.String()
	var keep []byte
	if opts.Verify != nil {
		// Before any blob is fetched: a refused image leaves nothing.
		keep, err = opts.Verify(ctx, VerifyTarget{Ref: r, Repo: nref.Context(), Digest: top, Remote: ropts})
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", r, err)
		}
	}
	img, err := desc.Image() // resolves an index to the platform's image
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	var names, digests []string
	if r.Tag != "" {
		names = append(names, r.String())
	} else {
		digests = append(digests, r.String()) // may be the index digest
	}
	digests = append(digests, r.WithDigest(fmt.Sprintf("sha256:%x", sha256Sum(raw))).String())
	if d := r.WithDigest(top).String(); !slices.Contains(digests, d) {
		digests = append(digests, d) // the index a tag resolved to: what a signature signs
	}
	if keep != nil {
		// Before the record: an image recorded is never without the
		// signatures it was admitted with.
		if err := s.putSignatures(top, keep); err != nil {
			return nil, fmt.Errorf("pull %s: %w", r, err)
		}
	}
	out, err := s.add(ctx, img, names, digests, &progress{fn: opts.Progress})
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
	}
	return out, nil
}

// httpsOnly upgrades every plain-http request to https unless its host is
// loopback or listed as insecure. go-containerregistry would otherwise use
// http on its own for RFC 1918 and *.local registries, and a redirect could
// point anywhere; a LAN is not a trusted network.
type httpsOnly struct {
	base     http.RoundTripper
	insecure []string
}

func (t *httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !ref.AllowsPlainHTTP(req.URL.Host, t.insecure) {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	return t.base.RoundTrip(req)
}

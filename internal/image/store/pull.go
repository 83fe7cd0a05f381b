package store

import (
	"context"
	"fmt"
	"net/http"
	"runtime"

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
	desc, err := remote.Get(nref,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(tr),
		remote.WithPlatform(platform),
	)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r, err)
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

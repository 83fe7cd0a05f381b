package ref

import (
	"fmt"
	"net"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// DefaultRegistry is the registry of references that name none, as Docker
// does ("busybox" is "docker.io/library/busybox").
// (ggcr spells it "index.docker.io", its API host; users and Docker say
// "docker.io", and so do we.)
const DefaultRegistry = "docker.io"

// Reference is a parsed, normalised image reference. Exactly one of Tag
// and Digest is set when it came from Parse (a reference with both keeps
// the digest: the digest is what gets pulled, the tag is only a hint).
type Reference struct {
	// Registry is the registry host[:port], e.g. "docker.io".
	Registry string
	// Repository is the path inside the registry, e.g. "library/busybox".
	Repository string
	// Tag is e.g. "latest"; empty for digest references.
	Tag string
	// Digest is e.g. "sha256:..."; empty for tag references.
	Digest string
}

// Parse parses s, filling in docker.io, library/ and :latest as Docker
// does. It is strict: upper-case repositories, bad digests and empty
// strings are errors rather than guesses.
func Parse(s string) (Reference, error) {
	if strings.TrimSpace(s) == "" {
		return Reference{}, fmt.Errorf("parse image reference: empty")
	}
	// name.ParseReference accepts "repo:tag@digest" but then drops the tag;
	// we do the same deliberately (the digest pins the content).
	r, err := name.ParseReference(s, name.StrictValidation)
	if err != nil {
		// StrictValidation refuses a missing tag; retry with defaults.
		r, err = name.ParseReference(s)
		if err != nil {
			return Reference{}, fmt.Errorf("parse image reference %q: %w", s, err)
		}
	}
	reg := r.Context().RegistryStr()
	if reg == name.DefaultRegistry {
		reg = DefaultRegistry
	}
	out := Reference{
		Registry:   reg,
		Repository: r.Context().RepositoryStr(),
	}
	switch v := r.(type) {
	case name.Tag:
		out.Tag = v.TagStr()
	case name.Digest:
		out.Digest = v.DigestStr()
	}
	return out, nil
}

// Repo returns "registry/repository", e.g. "docker.io/library/busybox".
func (r Reference) Repo() string { return r.Registry + "/" + r.Repository }

// String returns the canonical form: "docker.io/library/busybox:latest" or
// "docker.io/library/busybox@sha256:...".
func (r Reference) String() string {
	if r.Digest != "" {
		return r.Repo() + "@" + r.Digest
	}
	return r.Repo() + ":" + r.Tag
}

// Familiar returns the short form Docker prints: "busybox:latest",
// "myreg:5000/x/y:1".
func (r Reference) Familiar() string {
	s := r.String()
	if r.Registry != DefaultRegistry {
		return s
	}
	// The shortest form that still names this image: "library/a/b"
	// shortened to "a/b", or "docker.io/my.host/x" to "my.host/x", would
	// name another repository or registry.
	short := strings.TrimPrefix(s, DefaultRegistry+"/")
	for _, c := range []string{strings.TrimPrefix(short, "library/"), short} {
		if n, err := Normalize(c); err == nil && n == s {
			return c
		}
	}
	return s
}

// Normalize is Parse followed by String.
func Normalize(s string) (string, error) {
	r, err := Parse(s)
	if err != nil {
		return "", err
	}
	return r.String(), nil
}

// WithDigest returns repo@digest for the same repository.
func (r Reference) WithDigest(d string) Reference {
	return Reference{Registry: r.Registry, Repository: r.Repository, Digest: d}
}

// IsLoopbackHost reports whether host ("name[:port]") is on this machine:
// localhost, 127.0.0.0/8 or ::1. Only such registries get plain http by
// default, because traffic to them never leaves the host.
func IsLoopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// AllowsPlainHTTP reports whether host may be spoken to over http: it is a
// loopback host, or listed (as "host" or "host:port") in insecure.
//
// This is narrower than go-containerregistry's own rule, which also uses
// http for RFC 1918 addresses and *.local: a LAN is not a trusted network.
func AllowsPlainHTTP(host string, insecure []string) bool {
	if IsLoopbackHost(host) {
		return true
	}
	bare := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		bare = hh
	}
	for _, i := range insecure {
		if strings.EqualFold(i, host) || strings.EqualFold(i, bare) {
			return true
		}
	}
	return false
}

package trust

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tirith-project/tirith/internal/image/ref"
)

// Signature is one cosign signature: the simple-signing payload (a layer
// of the sha256-<hex>.sig image) and the base64 signature over it (that
// layer's dev.cosignproject.cosign/signature annotation).
type Signature struct {
	Payload   []byte `json:"payload"`
	Signature string `json:"signature"`
}

// cosignType is the critical.type of cosign's payloads.
const cosignType = "cosign container image signature"

// payload is the simple-signing payload. Its "critical" part is parsed
// strictly, as containers/image does: a field Tirith does not know there
// could be a constraint it would silently ignore.
type payload struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// Check decides whether the image r, whose (top-level) manifest has
// digest, may be used: every requirement of r's scope must be satisfied,
// sigstoreSigned ones by one of sigs. The error names the scope and the
// requirement that failed.
func (p *Policy) Check(r ref.Reference, digest string, sigs []Signature) error {
	scope, reqs := p.Scope(r)
	at := r.WithDigest(digest).String()
	for _, req := range reqs {
		var err error
		switch req.Type {
		case TypeInsecureAcceptAnything:
		case TypeReject:
			err = fmt.Errorf("%s is rejected by the policy", at)
		case TypeSignedBy:
			err = fmt.Errorf("%s needs a GPG signature (signedBy), which Tirith does not verify: refusing it", at)
		case TypeSigstoreSigned:
			err = checkSigstore(req, r, digest, sigs)
		default:
			err = fmt.Errorf("requirement type %q is not implemented: refusing %s", req.Type, at)
		}
		if err != nil {
			src := "policy"
			if p.Path != "" {
				src = p.Path
			}
			return &RejectedError{Err: fmt.Errorf("%w (%s, scope %s, requirement %s)", err, src, scope, req.Type)}
		}
	}
	return nil
}

// RejectedError is the policy refusing an image.
type RejectedError struct{ Err error }

func (e *RejectedError) Error() string { return e.Err.Error() }
func (e *RejectedError) Unwrap() error { return e.Err }

// NeedsSignatures reports whether r's requirements ask for signatures, so
// that a pull fetches them only then.
func (p *Policy) NeedsSignatures(r ref.Reference) bool {
	_, reqs := p.Scope(r)
	for _, req := range reqs {
		if req.Type == TypeSigstoreSigned {
			return true
		}
	}
	return false
}

func checkSigstore(req Requirement, r ref.Reference, digest string, sigs []Signature) error {
	if req.KeyErr != nil {
		return fmt.Errorf("%s cannot be verified: %w", r.WithDigest(digest), req.KeyErr)
	}
	names := make([]string, len(req.Keys))
	for i, k := range req.Keys {
		names[i] = k.Name
	}
	keys := strings.Join(names, " or ")
	at := r.WithDigest(digest).String()
	if len(sigs) == 0 {
		return fmt.Errorf("no signature by key %s for %s: no signatures were found for it (%s:%s)",
			keys, at, r.Repo(), SigTag(digest))
	}
	var why []string
	for i, s := range sigs {
		err := checkOne(req, r, digest, s)
		if err == nil {
			return nil
		}
		why = append(why, fmt.Sprintf("signature %d: %v", i+1, err))
	}
	return fmt.Errorf("no signature by key %s for %s: %s", keys, at, strings.Join(why, "; "))
}

func checkOne(req Requirement, r ref.Reference, digest string, s Signature) error {
	raw, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %v", err)
	}
	if !signedByAny(req.Keys, s.Payload, raw) {
		return errors.New("not signed by this key")
	}
	// Only a payload whose signature verified is parsed: its contents are
	// attacker-controlled until then.
	var pl payload
	if err := strict(s.Payload, &pl); err != nil {
		return fmt.Errorf("payload: %v", err)
	}
	if pl.Critical.Type != cosignType {
		return fmt.Errorf("payload type %q is not %q", pl.Critical.Type, cosignType)
	}
	if got := pl.Critical.Image.DockerManifestDigest; got != digest {
		return fmt.Errorf("it signs manifest %s, not %s", got, digest)
	}
	signed := pl.Critical.Identity.DockerReference
	if err := matchIdentity(req.Identity, r, signed); err != nil {
		return fmt.Errorf("signed identity %q is not accepted by signedIdentity %s: %v", signed, req.Identity, err)
	}
	return nil
}

// signedByAny verifies sig over payload as cosign signs: ECDSA over the
// payload's SHA-256 (ASN.1 DER signature), Ed25519 over the payload itself.
func signedByAny(keys []Key, payload, sig []byte) bool {
	sum := sha256.Sum256(payload)
	for _, k := range keys {
		switch pub := k.Pub.(type) {
		case *ecdsa.PublicKey:
			if ecdsa.VerifyASN1(pub, sum[:], sig) {
				return true
			}
		case ed25519.PublicKey:
			if ed25519.Verify(pub, payload, sig) {
				return true
			}
		}
	}
	return false
}

// matchIdentity applies signedIdentity with containers/image's semantics.
func matchIdentity(id Identity, intended ref.Reference, signedStr string) error {
	signed, err := parseSigned(signedStr)
	if err != nil {
		return err
	}
	switch id.Type {
	case MatchExact:
		if signed.nameOnly || signed.ref.String() != intended.String() {
			return fmt.Errorf("want exactly %s", intended)
		}
	case MatchRepoDigestOrExact:
		return repoDigestOrExact(intended, signed)
	case MatchRepository:
		if signed.ref.Repo() != intended.Repo() {
			return fmt.Errorf("want repository %s", intended.Repo())
		}
	case ExactReference:
		if signed.nameOnly || signed.ref.String() != id.DockerReference {
			return fmt.Errorf("want exactly %s", id.DockerReference)
		}
	case ExactRepository:
		if signed.ref.Repo() != id.DockerRepository {
			return fmt.Errorf("want repository %s", id.DockerRepository)
		}
	case RemapIdentity:
		remapped := intended
		s := intended.String()
		if prefixMatches(s, id.Prefix) {
			rr, err := ref.Parse(id.SignedPrefix + s[len(id.Prefix):])
			if err != nil {
				return fmt.Errorf("remapping %s: %v", s, err)
			}
			remapped = rr
		}
		return repoDigestOrExact(remapped, signed)
	default:
		return fmt.Errorf("unknown signedIdentity type %q", id.Type)
	}
	return nil
}

// repoDigestOrExact: a tag reference needs a signature for that repo:tag;
// a digest reference one for the same repository (the digest itself is
// checked against the payload separately). A repository-only identity,
// what cosign writes by default, satisfies neither, as in containers/image.
func repoDigestOrExact(intended ref.Reference, signed signedRef) error {
	if signed.nameOnly {
		return errors.New("it names a repository only (cosign's default); matchRepoDigestOrExact wants repo:tag or repo@digest, use matchRepository to accept it")
	}
	if intended.Tag != "" {
		if signed.ref.String() != intended.String() {
			return fmt.Errorf("want %s", intended)
		}
		return nil
	}
	if signed.ref.Repo() != intended.Repo() {
		return fmt.Errorf("want repository %s", intended.Repo())
	}
	return nil
}

// prefixMatches reports whether reference s lies under prefix: a host
// prefix must be followed by "/", a namespace or repository prefix by
// "/", ":" or "@".
func prefixMatches(s, prefix string) bool {
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	if len(s) == len(prefix) {
		return true
	}
	c := s[len(prefix)]
	if !strings.Contains(prefix, "/") {
		return c == '/'
	}
	return c == '/' || c == ':' || c == '@'
}

// SigTag is the tag cosign stores a manifest's signatures under.
func SigTag(digest string) string {
	return strings.Replace(digest, ":", "-", 1) + ".sig"
}

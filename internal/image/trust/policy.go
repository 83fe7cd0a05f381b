package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/tirith-project/tirith/internal/image/ref"
)

// DefaultPolicyPath is where podman, skopeo and CRI-O read their policy.
const DefaultPolicyPath = "/etc/containers/policy.json"

// Requirement types (containers-policy.json(5)).
const (
	TypeReject                 = "reject"
	TypeInsecureAcceptAnything = "insecureAcceptAnything"
	TypeSigstoreSigned         = "sigstoreSigned"
	// TypeSignedBy (GPG simple signing) is parsed so that a host's policy
	// holding it still loads, but an image it governs is refused: Tirith
	// does not verify GPG signatures and fails closed.
	TypeSignedBy = "signedBy"
)

// Policy is a parsed containers-policy.json. Only the docker transport is
// evaluated (Tirith pulls only from registries); the other transports'
// requirements are parsed strictly and otherwise ignored.
type Policy struct {
	// Path the policy was read from ("" when parsed from bytes).
	Path    string
	Default []Requirement
	// Docker are transports.docker's scopes.
	Docker map[string][]Requirement
}

// Requirement is one policy requirement.
type Requirement struct {
	Type string
	// Keys are sigstoreSigned's (and signedBy's) public keys; a
	// signature by any one of them satisfies the requirement.
	Keys []Key
	// Identity is sigstoreSigned's signedIdentity.
	Identity Identity
	// KeyErr is why a keyPath could not be read. As in containers/image,
	// keys are a matter of the scopes that use them: a host policy naming
	// a key file this machine lacks still governs every other scope, and
	// refuses the images of this one.
	KeyErr error
}

// Key is a public key and the name errors give it.
type Key struct {
	Name string // the keyPath, or "keyData SHA256:<fingerprint>"
	Pub  crypto.PublicKey
}

// Identity types (signedIdentity).
const (
	MatchExact             = "matchExact"
	MatchRepoDigestOrExact = "matchRepoDigestOrExact"
	MatchRepository        = "matchRepository"
	ExactReference         = "exactReference"
	ExactRepository        = "exactRepository"
	RemapIdentity          = "remapIdentity"
)

// Identity is a signedIdentity: how the identity a signature claims must
// relate to the reference being pulled.
type Identity struct {
	Type             string
	DockerReference  string // exactReference, normalized
	DockerRepository string // exactRepository, normalized
	Prefix           string // remapIdentity
	SignedPrefix     string // remapIdentity
}

func (i Identity) String() string {
	switch i.Type {
	case ExactReference:
		return i.Type + " " + i.DockerReference
	case ExactRepository:
		return i.Type + " " + i.DockerRepository
	case RemapIdentity:
		return fmt.Sprintf("%s %s=>%s", i.Type, i.Prefix, i.SignedPrefix)
	}
	return i.Type
}

// LoadPolicy reads the policy at path. With explicit false, a missing
// file is not an error: it returns (nil, nil), meaning no policy is in
// force (the behaviour without /etc/containers/policy.json).
func LoadPolicy(path string, explicit bool) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("signature policy: %w", err)
	}
	p, err := ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("signature policy %s: %w", path, err)
	}
	p.Path = path
	return p, nil
}

// ParsePolicy parses a containers-policy.json strictly: an unknown field,
// an unknown requirement type or a malformed scope refuses the whole file,
// naming what is wrong.
func ParsePolicy(b []byte) (*Policy, error) {
	var raw struct {
		Default    []json.RawMessage                       `json:"default"`
		Transports map[string]map[string][]json.RawMessage `json:"transports"`
	}
	if err := strict(b, &raw); err != nil {
		return nil, err
	}
	if raw.Default == nil {
		return nil, errors.New(`"default" is missing: a policy must say what happens to images no scope names`)
	}
	p := &Policy{Docker: map[string][]Requirement{}}
	var err error
	if p.Default, err = parseRequirements(raw.Default, "default"); err != nil {
		return nil, err
	}
	for transport, scopes := range raw.Transports {
		for scope, reqs := range scopes {
			where := fmt.Sprintf("transports.%s[%q]", transport, scope)
			if transport == "docker" {
				if err := validDockerScope(scope); err != nil {
					return nil, fmt.Errorf("%s: %w", where, err)
				}
			}
			rs, err := parseRequirements(reqs, where)
			if err != nil {
				return nil, err
			}
			if transport == "docker" {
				p.Docker[scope] = rs
			}
		}
	}
	return p, nil
}

func parseRequirements(raws []json.RawMessage, where string) ([]Requirement, error) {
	if len(raws) == 0 {
		return nil, fmt.Errorf("%s: no requirements (an empty list would accept nothing and mean nothing; write reject or insecureAcceptAnything)", where)
	}
	out := make([]Requirement, 0, len(raws))
	for i, r := range raws {
		req, err := parseRequirement(r)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", where, i, err)
		}
		out = append(out, req)
	}
	return out, nil
}

func parseRequirement(b []byte) (Requirement, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Requirement{}, err
	}
	switch head.Type {
	case TypeReject, TypeInsecureAcceptAnything:
		var v struct {
			Type string `json:"type"`
		}
		if err := strict(b, &v); err != nil {
			return Requirement{}, fmt.Errorf("%s: %w", head.Type, err)
		}
		return Requirement{Type: head.Type}, nil
	case TypeSigstoreSigned:
		return parseSigstore(b)
	case TypeSignedBy:
		var v struct {
			Type           string          `json:"type"`
			KeyType        string          `json:"keyType"`
			KeyPath        string          `json:"keyPath"`
			KeyPaths       []string        `json:"keyPaths"`
			KeyData        string          `json:"keyData"`
			SignedIdentity json.RawMessage `json:"signedIdentity"`
		}
		if err := strict(b, &v); err != nil {
			return Requirement{}, fmt.Errorf("signedBy: %w", err)
		}
		return Requirement{Type: TypeSignedBy}, nil
	case "":
		return Requirement{}, errors.New(`requirement without "type"`)
	}
	return Requirement{}, fmt.Errorf("unknown requirement type %q (want reject, insecureAcceptAnything or sigstoreSigned)", head.Type)
}

func parseSigstore(b []byte) (Requirement, error) {
	var v struct {
		Type           string          `json:"type"`
		KeyPath        string          `json:"keyPath"`
		KeyPaths       []string        `json:"keyPaths"`
		KeyData        []byte          `json:"keyData"`  // base64, as in the format
		KeyDatas       [][]byte        `json:"keyDatas"` // base64
		SignedIdentity json.RawMessage `json:"signedIdentity"`
		// Keyless fields are known to the format; Tirith refuses them
		// below rather than as unknown.
		Fulcio             json.RawMessage `json:"fulcio"`
		RekorPublicKeyPath string          `json:"rekorPublicKeyPath"`
		RekorPublicKeyData []byte          `json:"rekorPublicKeyData"`
		PKI                json.RawMessage `json:"pki"`
	}
	if err := strict(b, &v); err != nil {
		return Requirement{}, fmt.Errorf("sigstoreSigned: %w", err)
	}
	for f, set := range map[string]bool{"fulcio": v.Fulcio != nil, "pki": v.PKI != nil,
		"rekorPublicKeyPath": v.RekorPublicKeyPath != "", "rekorPublicKeyData": v.RekorPublicKeyData != nil} {
		if set {
			return Requirement{}, fmt.Errorf("sigstoreSigned: %q is not supported: Tirith verifies key-based signatures offline only", f)
		}
	}
	n := 0
	for _, set := range []bool{v.KeyPath != "", v.KeyPaths != nil, v.KeyData != nil, v.KeyDatas != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return Requirement{}, errors.New("sigstoreSigned: exactly one of keyPath, keyPaths, keyData and keyDatas must be set")
	}
	req := Requirement{Type: TypeSigstoreSigned}
	paths := v.KeyPaths
	if v.KeyPath != "" {
		paths = []string{v.KeyPath}
	}
	for _, p := range paths {
		pemBytes, err := os.ReadFile(p)
		if err != nil {
			req.KeyErr = fmt.Errorf("keyPath: %w", err)
			break
		}
		k, err := parseKey(pemBytes)
		if err != nil {
			req.KeyErr = fmt.Errorf("keyPath %s: %w", p, err)
			break
		}
		req.Keys = append(req.Keys, Key{Name: p, Pub: k})
	}
	datas := v.KeyDatas
	if v.KeyData != nil {
		datas = [][]byte{v.KeyData}
	}
	for i, d := range datas {
		k, err := parseKey(d)
		if err != nil {
			return Requirement{}, fmt.Errorf("sigstoreSigned: keyData #%d: %w", i, err)
		}
		der, _ := x509.MarshalPKIXPublicKey(k)
		sum := sha256.Sum256(der)
		req.Keys = append(req.Keys, Key{Name: fmt.Sprintf("keyData SHA256:%x", sum[:8]), Pub: k})
	}
	if len(req.Keys) == 0 && req.KeyErr == nil {
		return Requirement{}, errors.New("sigstoreSigned: no keys")
	}
	id, err := parseIdentity(v.SignedIdentity)
	if err != nil {
		return Requirement{}, fmt.Errorf("sigstoreSigned: signedIdentity: %w", err)
	}
	req.Identity = id
	return req, nil
}

// parseKey reads a PEM "PUBLIC KEY" (PKIX), as cosign.pub holds, and
// accepts the key types cosign signs with that Tirith verifies.
func parseKey(b []byte) (crypto.PublicKey, error) {
	blk, rest := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("more than one PEM block")
	}
	if blk.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("PEM block is %q, want PUBLIC KEY", blk.Type)
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		return k, nil
	case ed25519.PublicKey:
		return k, nil
	}
	return nil, fmt.Errorf("%T keys are not supported (want ECDSA or Ed25519)", k)
}

func parseIdentity(b json.RawMessage) (Identity, error) {
	if b == nil {
		return Identity{Type: MatchRepoDigestOrExact}, nil // the format's default
	}
	var v struct {
		Type             string `json:"type"`
		DockerReference  string `json:"dockerReference"`
		DockerRepository string `json:"dockerRepository"`
		Prefix           string `json:"prefix"`
		SignedPrefix     string `json:"signedPrefix"`
	}
	if err := strict(b, &v); err != nil {
		return Identity{}, err
	}
	id := Identity{Type: v.Type}
	only := func(set ...string) error {
		given := map[string]bool{"dockerReference": v.DockerReference != "", "dockerRepository": v.DockerRepository != "",
			"prefix": v.Prefix != "", "signedPrefix": v.SignedPrefix != ""}
		for _, s := range set {
			if !given[s] {
				return fmt.Errorf("%s needs %q", v.Type, s)
			}
			delete(given, s)
		}
		for f, g := range given {
			if g {
				return fmt.Errorf("%s takes no %q", v.Type, f)
			}
		}
		return nil
	}
	switch v.Type {
	case MatchExact, MatchRepoDigestOrExact, MatchRepository:
		return id, only()
	case ExactReference:
		if err := only("dockerReference"); err != nil {
			return Identity{}, err
		}
		s, err := parseSigned(v.DockerReference)
		if err != nil || s.nameOnly {
			return Identity{}, fmt.Errorf("exactReference: dockerReference %q is not a repo:tag or repo@digest", v.DockerReference)
		}
		id.DockerReference = s.ref.String()
	case ExactRepository:
		if err := only("dockerRepository"); err != nil {
			return Identity{}, err
		}
		s, err := parseSigned(v.DockerRepository)
		if err != nil || !s.nameOnly {
			return Identity{}, fmt.Errorf("exactRepository: dockerRepository %q is not a repository", v.DockerRepository)
		}
		id.DockerRepository = s.ref.Repo()
	case RemapIdentity:
		if err := only("prefix", "signedPrefix"); err != nil {
			return Identity{}, err
		}
		for _, p := range []string{v.Prefix, v.SignedPrefix} {
			if err := validPrefix(p); err != nil {
				return Identity{}, fmt.Errorf("remapIdentity: %w", err)
			}
		}
		id.Prefix, id.SignedPrefix = v.Prefix, v.SignedPrefix
	case "":
		return Identity{}, errors.New(`no "type"`)
	default:
		return Identity{}, fmt.Errorf("unknown type %q", v.Type)
	}
	return id, nil
}

// validDockerScope accepts the docker transport's scope forms: "" (the
// transport's default), "*.domain", "host[:port]", "host[:port]/ns..."
// and "repo:tag" / "repo@digest", all fully qualified (docker.io/library/x,
// not x) because that is what scopes are matched against.
func validDockerScope(s string) error {
	if s == "" {
		return nil
	}
	if d, ok := strings.CutPrefix(s, "*."); ok {
		if d == "" || strings.ContainsAny(d, "/:@*") {
			return fmt.Errorf("wildcard scope %q: want *.DOMAIN", s)
		}
		return nil
	}
	if strings.Contains(s, "*") {
		return fmt.Errorf("scope %q: a wildcard may only lead (*.DOMAIN)", s)
	}
	if !strings.Contains(s, "/") {
		// Docker's rule for what names a registry: a dot, a port or
		// localhost. "busybox" is a repository written short.
		if strings.ContainsAny(s, ".:") || s == "localhost" {
			if _, err := name.NewRegistry(s, name.StrictValidation); err != nil {
				return fmt.Errorf("scope %q: not a registry host: %w", s, err)
			}
			return nil
		}
	}
	sg, err := parseSigned(s)
	if err != nil {
		return fmt.Errorf("scope %q: %w", s, err)
	}
	want := sg.ref.Repo()
	if !sg.nameOnly {
		want = sg.ref.String()
	}
	if want != s {
		return fmt.Errorf("scope %q is not fully qualified: write %q", s, want)
	}
	return nil
}

// validPrefix checks a remapIdentity prefix: a host, a namespace or a
// repository, fully qualified.
func validPrefix(p string) error {
	if strings.ContainsAny(p, "@*") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("prefix %q: want HOST[/NAMESPACE...]", p)
	}
	if !strings.Contains(p, "/") {
		if _, err := name.NewRegistry(p, name.StrictValidation); err != nil {
			return fmt.Errorf("prefix %q: %w", p, err)
		}
		return nil
	}
	if _, err := name.NewRepository(p, name.StrictValidation); err != nil {
		return fmt.Errorf("prefix %q: %w", p, err)
	}
	return nil
}

// signedRef is a parsed docker reference as a signature or a policy
// writes it: it may name only a repository.
type signedRef struct {
	ref      ref.Reference
	nameOnly bool
}

func parseSigned(s string) (signedRef, error) {
	nameOnly := !strings.Contains(s, "@") && !strings.Contains(s[strings.LastIndex(s, "/")+1:], ":")
	r, err := ref.Parse(s)
	if err != nil {
		return signedRef{}, err
	}
	if nameOnly {
		r.Tag = "" // Parse filled in :latest
	}
	return signedRef{ref: r, nameOnly: nameOnly}, nil
}

// Scope returns the requirements that govern r and the scope they came
// from, most specific first as containers/image chooses: the exact
// repo:tag or repo@digest, the repository, each parent namespace, the
// registry host, "*.domain" wildcards from the longest, the docker
// transport's "" scope, then "default".
func (p *Policy) Scope(r ref.Reference) (string, []Requirement) {
	for _, s := range scopesOf(r) {
		if reqs, ok := p.Docker[s]; ok {
			return s, reqs
		}
	}
	if reqs, ok := p.Docker[""]; ok {
		return `transports.docker[""]`, reqs
	}
	return "default", p.Default
}

func scopesOf(r ref.Reference) []string {
	out := []string{r.String()}
	repo := r.Repo()
	for {
		out = append(out, repo)
		i := strings.LastIndex(repo, "/")
		if i < 0 {
			break
		}
		repo = repo[:i]
	}
	host := r.Registry
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	for {
		i := strings.Index(host, ".")
		if i < 0 {
			break
		}
		host = host[i+1:]
		out = append(out, "*."+host)
	}
	return out
}

package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/image/ref"
)

const dig = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
const dig2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"

func pemOf(t *testing.T, pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func keyFile(t *testing.T, pub crypto.PublicKey) string {
	p := filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(p, pemOf(t, pub), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func payloadFor(identity, digest string) []byte {
	return fmt.Appendf(nil, `{"critical":{"identity":{"docker-reference":%q},"image":{"docker-manifest-digest":%q},"type":"cosign container image signature"},"optional":null}`, identity, digest)
}

func signECDSA(t *testing.T, k *ecdsa.PrivateKey, pl []byte) Signature {
	sum := sha256.Sum256(pl)
	sig, err := ecdsa.SignASN1(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return Signature{Payload: pl, Signature: base64.StdEncoding.EncodeToString(sig)}
}

func mustRef(t *testing.T, s string) ref.Reference {
	r, err := ref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func parse(t *testing.T, s string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return p
}

func TestParseStrictNamesTheField(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kp := keyFile(t, &k.PublicKey)
	for _, c := range []struct{ doc, want string }{
		{`{"default":[{"type":"reject"}],"defualt":[]}`, `unknown field "defualt"`},
		{`{"default":[{"type":"reject","keyPath":"x"}]}`, `unknown field "keyPath"`},
		{`{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"r.example/a":[{"type":"sigstoreSigned","keyPath":"` + kp + `","keyPaht":"y"}]}}}`, `unknown field "keyPaht"`},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + kp + `","signedIdentity":{"type":"matchRepository","dockerRepository":"x"}}]}`, `takes no "dockerRepository"`},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + kp + `","signedIdentity":{"type":"matchRepository","extra":1}}]}`, `unknown field "extra"`},
		{`{"default":[{"type":"signedByX"}]}`, `unknown requirement type "signedByX"`},
		{`{"default":[]}`, `no requirements`},
		{`{"transports":{}}`, `"default" is missing`},
		{`{"default":[{"type":"reject"}]} {}`, `trailing data`},
		{`{"default":[{"type":"reject"}],"Transports":{}}`, `unknown field "Transports"`},
		{`{"default":[{"type":"sigstoreSigned","KeyPath":"` + kp + `"}]}`, `unknown field "KeyPath"`},
		{`{"default":[{"type":"reject"}],"default":[{"type":"insecureAcceptAnything"}]}`, `duplicate field "default"`},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + kp + `","signedIdentity":{"type":"matchRepository","Type":"matchExact"}}]}`, `unknown field "Type"`},
		{`{"default":[{"type":"reject"}],"transports":{"docker":{"busybox":[{"type":"reject"}]}}}`, `not fully qualified: write "docker.io/library/busybox"`},
		{`{"default":[{"type":"sigstoreSigned","keyPath":"` + kp + `","fulcio":{}}]}`, `"fulcio" is not supported`},
		{`{"default":[{"type":"sigstoreSigned"}]}`, `exactly one of keyPath`},
	} {
		_, err := ParsePolicy([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePolicy(%s) = %v, want an error containing %q", c.doc, err, c.want)
		}
	}
}

func TestMissingKeyRefusesItsScopeOnly(t *testing.T) {
	p := parse(t, `{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker":{"r.example.com":[{"type":"sigstoreSigned","keyPath":"/nonexistent/key.pub"}]}}}`)
	if err := p.Check(mustRef(t, "docker.io/library/busybox:1"), dig, nil); err != nil {
		t.Errorf("another scope: %v", err)
	}
	err := p.Check(mustRef(t, "r.example.com/app:1"), dig, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot be verified: keyPath: open /nonexistent/key.pub") {
		t.Errorf("scope whose key is missing: %v", err)
	}
}

func TestLoadPolicyMissing(t *testing.T) {
	p, err := LoadPolicy(filepath.Join(t.TempDir(), "none.json"), false)
	if p != nil || err != nil {
		t.Fatalf("implicit missing policy: %v %v, want none in force", p, err)
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "none.json"), true); err == nil {
		t.Fatal("an explicit --signature-policy that does not exist must be an error")
	}
}

func TestScopesMostSpecificWins(t *testing.T) {
	p := parse(t, `{"default":[{"type":"reject"}],"transports":{"docker":{
		"r.example.com":[{"type":"insecureAcceptAnything"}],
		"r.example.com/team":[{"type":"reject"}],
		"r.example.com/team/app":[{"type":"insecureAcceptAnything"}],
		"r.example.com/team/app:bad":[{"type":"reject"}],
		"*.example.org":[{"type":"insecureAcceptAnything"}],
		"docker.io/library/busybox":[{"type":"insecureAcceptAnything"}]}}}`)
	for _, c := range []struct {
		ref, scope string
		ok         bool
	}{
		{"r.example.com/other:1", "r.example.com", true},
		{"r.example.com/team/x:1", "r.example.com/team", false},
		{"r.example.com/team/app:1", "r.example.com/team/app", true},
		{"r.example.com/team/app:bad", "r.example.com/team/app:bad", false},
		{"a.b.example.org/x:1", "*.example.org", true},
		{"busybox", "docker.io/library/busybox", true},
		{"alpine", "default", false},
		{"r.example.com:5000/x:1", "default", false},
	} {
		r := mustRef(t, c.ref)
		scope, _ := p.Scope(r)
		err := p.Check(r, dig, nil)
		if scope != c.scope || (err == nil) != c.ok {
			t.Errorf("%s: scope %q, check %v; want scope %q, accepted %v", c.ref, scope, err, c.scope, c.ok)
		}
	}
	err := p.Check(mustRef(t, "alpine"), dig, nil)
	if err == nil || !strings.Contains(err.Error(), "docker.io/library/alpine@"+dig+" is rejected") || !strings.Contains(err.Error(), "scope default, requirement reject") {
		t.Errorf("reject error = %v", err)
	}
}

func TestSigstoreSigned(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	kp := keyFile(t, &k.PublicKey)
	pol := func(identity string) *Policy {
		id := ""
		if identity != "" {
			id = `,"signedIdentity":` + identity
		}
		return parse(t, `{"default":[{"type":"reject"}],"transports":{"docker":{"r.example.com/app":[{"type":"sigstoreSigned","keyPath":"`+kp+`"`+id+`}]}}}`)
	}
	byDigest := mustRef(t, "r.example.com/app@"+dig)
	byTag := mustRef(t, "r.example.com/app:1")
	good := signECDSA(t, k, payloadFor("r.example.com/app", dig))
	tagged := signECDSA(t, k, payloadFor("r.example.com/app:1", dig))
	for _, c := range []struct {
		name   string
		p      *Policy
		r      ref.Reference
		sigs   []Signature
		errHas string // "" = accepted
	}{
		{"matchRepository", pol(`{"type":"matchRepository"}`), byDigest, []Signature{good}, ""},
		{"matchRepository by tag", pol(`{"type":"matchRepository"}`), byTag, []Signature{good}, ""},
		{"unsigned", pol(`{"type":"matchRepository"}`), byDigest, nil, "no signature by key " + kp + " for r.example.com/app@" + dig + ": no signatures were found"},
		{"other key", pol(`{"type":"matchRepository"}`), byDigest, []Signature{signECDSA(t, other, payloadFor("r.example.com/app", dig))}, "not signed by this key"},
		{"other digest", pol(`{"type":"matchRepository"}`), byDigest, []Signature{signECDSA(t, k, payloadFor("r.example.com/app", dig2))}, "it signs manifest " + dig2},
		{"tampered", pol(`{"type":"matchRepository"}`), byDigest, []Signature{{Payload: payloadFor("r.example.com/app", dig), Signature: tagged.Signature}}, "not signed by this key"},
		{"other repo", pol(`{"type":"matchRepository"}`), byDigest, []Signature{signECDSA(t, k, payloadFor("r.example.com/evil", dig))}, `signed identity "r.example.com/evil" is not accepted by signedIdentity matchRepository`},
		{"default identity, repo only", pol(""), byDigest, []Signature{good}, "names a repository only"},
		{"default identity, digest ref", pol(""), byDigest, []Signature{tagged}, ""},
		{"default identity, tag ref exact", pol(""), byTag, []Signature{tagged}, ""},
		{"default identity, other tag", pol(""), mustRef(t, "r.example.com/app:2"), []Signature{tagged}, "want r.example.com/app:2"},
		{"exactRepository", pol(`{"type":"exactRepository","dockerRepository":"r.example.com/app"}`), byDigest, []Signature{good}, ""},
		{"exactReference", pol(`{"type":"exactReference","dockerReference":"r.example.com/app:1"}`), byDigest, []Signature{good}, "want exactly r.example.com/app:1"},
		{"matchExact", pol(`{"type":"matchExact"}`), byTag, []Signature{tagged}, ""},
		{"one bad one good", pol(`{"type":"matchRepository"}`), byDigest, []Signature{signECDSA(t, other, payloadFor("r.example.com/app", dig)), good}, ""},
	} {
		err := c.p.Check(c.r, dig, c.sigs)
		if c.errHas == "" && err != nil {
			t.Errorf("%s: refused: %v", c.name, err)
		}
		if c.errHas != "" && (err == nil || !strings.Contains(err.Error(), c.errHas)) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.errHas)
		}
	}
}

func TestRemapIdentityAndEd25519(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	data := base64.StdEncoding.EncodeToString(pemOf(t, pub))
	p := parse(t, `{"default":[{"type":"sigstoreSigned","keyData":"`+data+`","signedIdentity":{"type":"remapIdentity","prefix":"mirror.example.com/up","signedPrefix":"up.example.com/team"}}]}`)
	pl := payloadFor("up.example.com/team/app:1", dig)
	s := Signature{Payload: pl, Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, pl))}
	if err := p.Check(mustRef(t, "mirror.example.com/up/app:1"), dig, []Signature{s}); err != nil {
		t.Errorf("remapped mirror: %v", err)
	}
	if err := p.Check(mustRef(t, "mirror.example.com/upx/app:1"), dig, []Signature{s}); err == nil {
		t.Error("a prefix must match whole path components")
	}
	err := p.Check(mustRef(t, "mirror.example.com/up/app:2"), dig, []Signature{s})
	if err == nil || !strings.Contains(err.Error(), "keyData SHA256:") {
		t.Errorf("keyData key named in error: %v", err)
	}
}

func TestPayloadCriticalStrict(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p := parse(t, `{"default":[{"type":"sigstoreSigned","keyPath":"`+keyFile(t, &k.PublicKey)+`","signedIdentity":{"type":"matchRepository"}}]}`)
	var m map[string]any
	json.Unmarshal(payloadFor("r.example.com/app", dig), &m)
	m["critical"].(map[string]any)["unexpected"] = "constraint"
	pl, _ := json.Marshal(m)
	err := p.Check(mustRef(t, "r.example.com/app@"+dig), dig, []Signature{signECDSA(t, k, pl)})
	if err == nil || !strings.Contains(err.Error(), `unknown field "unexpected"`) {
		t.Errorf("unknown critical field: %v", err)
	}
	// Two digests: parsers that keep the first and the last would
	// disagree on what was signed.
	dup := []byte(`{"critical":{"identity":{"docker-reference":"r.example.com/app"},"image":{"docker-manifest-digest":"` + dig2 +
		`","docker-manifest-digest":"` + dig + `"},"type":"cosign container image signature"},"optional":null}`)
	err = p.Check(mustRef(t, "r.example.com/app@"+dig), dig, []Signature{signECDSA(t, k, dup)})
	if err == nil || !strings.Contains(err.Error(), `duplicate field "docker-manifest-digest"`) {
		t.Errorf("duplicate digest in payload: %v", err)
	}
}

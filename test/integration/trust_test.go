package integration

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Image trust against cosign itself: images built here, pushed to a
// registry on 127.0.0.1, signed with `cosign sign --key`, pulled and run
// under containers-policy.json files.

// cosignVersion is the cosign the tests sign with.
const cosignVersion = "v2.6.5"

var (
	cosignOnce sync.Once
	cosignPath string
	cosignErr  error
)

// cosignBin finds cosign 2.x (PATH, GOPATH/bin, or the test cache) or
// installs it with `go install` into /var/cache/tirith-test/bin, outside
// the repository. It skips only when it cannot be installed at all.
func cosignBin(t *testing.T) string {
	t.Helper()
	cosignOnce.Do(func() {
		cands := []string{}
		if p, err := exec.LookPath("cosign"); err == nil {
			cands = append(cands, p)
		}
		if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			cands = append(cands, filepath.Join(strings.TrimSpace(string(gp)), "bin", "cosign"))
		}
		cache := "/var/cache/tirith-test/bin"
		cands = append(cands, filepath.Join(cache, "cosign"))
		for _, c := range cands {
			if out, err := exec.Command(c, "version").CombinedOutput(); err == nil && strings.Contains(string(out), "v2.") {
				cosignPath = c
				return
			}
		}
		if err := os.MkdirAll(cache, 0o755); err != nil {
			cosignErr = err
			return
		}
		cmd := exec.Command("go", "install", "github.com/sigstore/cosign/v2/cmd/cosign@"+cosignVersion)
		cmd.Dir = os.TempDir() // not inside this module
		cmd.Env = append(os.Environ(), "GOBIN="+cache, "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			cosignErr = fmt.Errorf("go install cosign@%s: %v\n%s", cosignVersion, err, out)
			return
		}
		cosignPath = filepath.Join(cache, "cosign")
	})
	if cosignErr != nil {
		t.Skipf("cosign %s cannot be installed here, so signatures cannot be made with it: %v", cosignVersion, cosignErr)
	}
	return cosignPath
}

func cosign(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(cosignBin(t), args...)
	cmd.Dir = dir
	// An empty password, no TUF or transparency-log lookups: offline.
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD=", "TUF_ROOT="+filepath.Join(dir, "tuf"), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cosign %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// keyPair makes a cosign key pair in a new dir and returns the dir.
func keyPair(t *testing.T) string {
	dir := t.TempDir()
	cosign(t, dir, "generate-key-pair")
	return dir
}

func cosignSign(t *testing.T, keyDir, ref string, extra ...string) {
	args := append([]string{"sign", "--key", filepath.Join(keyDir, "cosign.key"), "--tlog-upload=false",
		"--allow-insecure-registry", "-y"}, extra...)
	cosign(t, keyDir, append(args, ref)...)
}

func writePolicy(t *testing.T, doc string) string {
	p := filepath.Join(t.TempDir(), "policy.json")
	must(t, os.WriteFile(p, []byte(doc), 0o600))
	return p
}

// sigstorePolicy requires key for everything on host; elsewhere reject.
func sigstorePolicy(t *testing.T, host, pub, identity string) string {
	return writePolicy(t, fmt.Sprintf(`{"default":[{"type":"reject"}],"transports":{"docker":{%q:[
		{"type":"sigstoreSigned","keyPath":%q,"signedIdentity":%s}]}}}`, host, pub, identity))
}

func pushed(t *testing.T, refStr string, img v1.Image) string {
	t.Helper()
	push(t, refStr, img)
	d, err := img.Digest()
	must(t, err)
	return d.String()
}

// copySig copies the signature image of digest from in repo "from" to
// the signature tag of digest "to" in repo "dst".
func copySig(t *testing.T, from, digest, dst, to string, change func(v1.Image) v1.Image) {
	t.Helper()
	src, err := name.ParseReference(from + ":" + strings.Replace(digest, ":", "-", 1) + ".sig")
	must(t, err)
	img, err := remote.Image(src)
	must(t, err)
	if change != nil {
		img = change(img)
	}
	push(t, dst+":"+strings.Replace(to, ":", "-", 1)+".sig", img)
}

// assertStoreEmpty: a refused pull left no blob, layer or record.
func assertStoreEmpty(t *testing.T, dir string) {
	t.Helper()
	for _, sub := range []string{"blobs/sha256", "layers", "layermeta", "signatures"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Errorf("refused pull left %d entries in %s", len(ents), sub)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil && strings.Contains(string(b), "sha256:") {
		t.Errorf("refused pull left an image record:\n%s", b)
	}
}

func TestImageTrustCosign(t *testing.T) {
	e := newEnv(t)
	host := testRegistry(t)
	keyA, keyB := keyPair(t), keyPair(t)
	pubA, pubB := filepath.Join(keyA, "cosign.pub"), filepath.Join(keyB, "cosign.pub")

	app := testImage(t)
	appRepo := host + "/trust/app"
	appDigest := pushed(t, appRepo+":1", app)
	appRef := appRepo + "@" + appDigest
	cosignSign(t, keyA, appRef)

	// A second image, for the unsigned case and the digest swap.
	other, err := mutate.Config(app, v1.Config{Cmd: []string{"/bin/echo", "other"}, Env: []string{"PATH=/bin"}})
	must(t, err)

	matchRepo := `{"type":"matchRepository"}`
	polA := sigstorePolicy(t, host, pubA, matchRepo)

	t.Run("signed image pulls and runs", func(t *testing.T) {
		st := t.TempDir()
		out := e.storageOK(st, "pull", "--signature-policy", polA, appRef)
		if !strings.Contains(out, "Pulled "+appRef) {
			t.Fatalf("pull output:\n%s", out)
		}
		if ents, _ := os.ReadDir(filepath.Join(st, "signatures")); len(ents) != 1 {
			t.Errorf("want the signature kept with the image, signatures/ has %d files", len(ents))
		}
		r := e.storage(st, "run", "--rm", "--pull", "never", "--signature-policy", polA, appRef)
		if r.code != 0 || !strings.Contains(r.stdout, "hello from the image") {
			t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		// By tag too: its digest was pulled from the same repository.
		e.storageOK(st, "pull", "--signature-policy", polA, appRepo+":1")
		r = e.storage(st, "run", "--rm", "--pull", "never", "--signature-policy", polA, appRepo+":1")
		if r.code != 0 {
			t.Fatalf("run by tag: exit %d\n%s", r.code, r.stderr)
		}
		// The store's copy is checked again: under another key it is refused.
		polB := sigstorePolicy(t, host, pubB, matchRepo)
		r = e.storage(st, "run", "--rm", "--pull", "never", "--signature-policy", polB, appRef)
		want := "no signature by key " + pubB + " for " + appRef
		if r.code != 125 || !strings.Contains(r.stderr, want) {
			t.Fatalf("run under another key: exit %d, want 125 and %q\n%s", r.code, want, r.stderr)
		}
		// By ID: accepted through any of its names, refused under another key.
		id := e.inspect(st, appRef).ID
		if r := e.storage(st, "run", "--rm", "--pull", "never", "--signature-policy", polA, id); r.code != 0 {
			t.Fatalf("run by ID: exit %d\n%s", r.code, r.stderr)
		}
		if r := e.storage(st, "run", "--rm", "--pull", "never", "--signature-policy", polB, id); r.code != 125 || !strings.Contains(r.stderr, "no signature by key "+pubB) {
			t.Fatalf("run by ID under another key: exit %d\n%s", r.code, r.stderr)
		}
		// Removing the image removes the signatures kept with it.
		e.storageOK(st, "rmi", appRef, appRepo+":1")
		if ents, _ := os.ReadDir(filepath.Join(st, "signatures")); len(ents) != 0 {
			t.Errorf("rmi left %d signature files", len(ents))
		}
	})

	refused := func(t *testing.T, policy, image string, wants ...string) {
		t.Helper()
		st := t.TempDir()
		r := e.storageFails(st, "pull", "--signature-policy", policy, image)
		for _, w := range wants {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("pull %s: stderr lacks %q:\n%s", image, w, r.stderr)
			}
		}
		assertStoreEmpty(t, st)
	}

	t.Run("multi-platform index signed", func(t *testing.T) {
		// cosign signs the index a tag names; the platform's image is
		// pulled, the index's signature admits it, and run finds it.
		repo := host + "/trust/multi"
		idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: app,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: goarch()}}})
		r, err := name.ParseReference(repo + ":1")
		must(t, err)
		must(t, remote.WriteIndex(r, idx))
		d, err := idx.Digest()
		must(t, err)
		cosignSign(t, keyA, repo+"@"+d.String())
		st := t.TempDir()
		e.storageOK(st, "pull", "--signature-policy", polA, repo+":1")
		if ins := e.inspect(st, repo+":1"); !slices.Contains(ins.Digests, repo+"@"+d.String()) {
			t.Errorf("the index digest is not recorded: %v", ins.Digests)
		}
		if r := e.storage(st, "run", "--rm", "--pull", "never", "--signature-policy", polA, repo+":1"); r.code != 0 {
			t.Fatalf("run: exit %d\n%s", r.code, r.stderr)
		}
		// Signing only the platform manifest does not admit a pull of the index.
		repo2 := host + "/trust/multi2"
		r2, err := name.ParseReference(repo2 + ":1")
		must(t, err)
		must(t, remote.WriteIndex(r2, idx))
		cosignSign(t, keyA, repo2+"@"+appDigest)
		refused(t, polA, repo2+":1", "no signature by key "+pubA+" for "+repo2+"@"+d.String())
	})

	t.Run("another key", func(t *testing.T) {
		refused(t, sigstorePolicy(t, host, pubB, matchRepo), appRef,
			"no signature by key "+pubB+" for "+appRef, "not signed by this key", "requirement sigstoreSigned")
	})

	t.Run("unsigned", func(t *testing.T) {
		d := pushed(t, host+"/trust/unsigned:1", other)
		ref := host + "/trust/unsigned@" + d
		refused(t, polA, ref, "no signature by key "+pubA+" for "+ref+": no signatures were found")
		refused(t, polA, host+"/trust/unsigned:1", "no signature by key "+pubA+" for "+ref)
	})

	t.Run("tampered signature", func(t *testing.T) {
		repo := host + "/trust/tampered"
		pushed(t, repo+":1", app)
		cosignSign(t, keyA, repo+"@"+appDigest)
		tamperSig(t, repo+":"+strings.Replace(appDigest, ":", "-", 1)+".sig")
		refused(t, polA, repo+"@"+appDigest, "no signature by key "+pubA, "not signed by this key")
	})

	t.Run("signature for another digest", func(t *testing.T) {
		repo := host + "/trust/swap"
		d := pushed(t, repo+":other", other)
		cosignSign(t, keyA, repo+"@"+d)
		pushed(t, repo+":1", app)
		copySig(t, repo, d, repo, appDigest, nil)
		refused(t, polA, repo+"@"+appDigest, "it signs manifest "+d+", not "+appDigest)
	})

	t.Run("signature pushed for another repository", func(t *testing.T) {
		repo := host + "/elsewhere/copy"
		pushed(t, repo+":1", app)
		copySig(t, appRepo, appDigest, repo, appDigest, nil)
		refused(t, polA, repo+"@"+appDigest, `signed identity "`+appRepo+`" is not accepted by signedIdentity matchRepository`)
	})

	t.Run("identities", func(t *testing.T) {
		// cosign signs the repository only; the format's default
		// identity rule wants repo:tag or a digest (as containers/image).
		refused(t, sigstorePolicy(t, host, pubA, `{"type":"matchRepoDigestOrExact"}`), appRef, "names a repository only")
		refused(t, sigstorePolicy(t, host, pubA, fmt.Sprintf(`{"type":"exactRepository","dockerRepository":%q}`, host+"/trust/nope")), appRef, "want repository "+host+"/trust/nope")
		// A signature claiming repo:tag (--sign-container-identity)
		// satisfies matchRepoDigestOrExact for a digest pull.
		repo := host + "/trust/named"
		pushed(t, repo+":1", app)
		cosignSign(t, keyA, repo+"@"+appDigest, "--sign-container-identity", repo+":1")
		st := t.TempDir()
		e.storageOK(st, "pull", "--signature-policy", sigstorePolicy(t, host, pubA, `{"type":"matchRepoDigestOrExact"}`), repo+"@"+appDigest)
		// remapIdentity: a mirror of trust/app accepts its signature.
		mirror := host + "/mirror/app"
		pushed(t, mirror+":1", app)
		copySig(t, appRepo, appDigest, mirror, appDigest, nil)
		remap := sigstorePolicy(t, host, pubA, fmt.Sprintf(`{"type":"remapIdentity","prefix":%q,"signedPrefix":%q}`, host+"/mirror", host+"/trust"))
		// Remapped, the rule is matchRepoDigestOrExact: a repository-only
		// identity by digest is still refused, as in containers/image.
		refused(t, remap, mirror+"@"+appDigest, "names a repository only")
	})

	t.Run("reject and insecureAcceptAnything", func(t *testing.T) {
		rej := writePolicy(t, `{"default":[{"type":"reject"}]}`)
		refused(t, rej, appRef, appRef+" is rejected by the policy", "scope default, requirement reject")
		// Scopes: the repository's scope wins over the host's.
		scoped := writePolicy(t, fmt.Sprintf(`{"default":[{"type":"reject"}],"transports":{"docker":{
			%q:[{"type":"reject"}], %q:[{"type":"insecureAcceptAnything"}]}}}`, host, host+"/trust/unsigned"))
		st := t.TempDir()
		e.storageOK(st, "pull", "--signature-policy", scoped, host+"/trust/unsigned:1")
		refused(t, scoped, appRef, "scope "+host+", requirement reject")
		// Pulled without verification, then run under a policy that
		// asks for a signature: refused from the store.
		acc := writePolicy(t, `{"default":[{"type":"insecureAcceptAnything"}]}`)
		st = t.TempDir()
		e.storageOK(st, "pull", "--signature-policy", acc, appRepo+":1")
		r := e.storage(st, "run", "--rm", "--pull", "never", "--signature-policy", polA, appRepo+":1")
		if r.code != 125 || !strings.Contains(r.stderr, "no signature by key "+pubA) {
			t.Fatalf("run of an unverified image under a sigstoreSigned policy: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("malformed policy", func(t *testing.T) {
		bad := writePolicy(t, fmt.Sprintf(`{"default":[{"type":"sigstoreSigned","keyPaht":%q}]}`, pubA))
		st := t.TempDir()
		r := e.storageFails(st, "pull", "--signature-policy", bad, appRef)
		if !strings.Contains(r.stderr, bad) || !strings.Contains(r.stderr, `unknown field "keyPaht"`) {
			t.Errorf("malformed policy error:\n%s", r.stderr)
		}
		r = e.storage(st, "run", "--rm", "--signature-policy", bad, appRef)
		if r.code != 125 || !strings.Contains(r.stderr, `unknown field "keyPaht"`) {
			t.Errorf("run with a malformed policy: exit %d\n%s", r.code, r.stderr)
		}
		assertStoreEmpty(t, st)
	})
}

// rawManifest is a manifest pushed as these bytes.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// tamperSig flips a bit of the first signature annotation of the
// signature image at tag (its payload blob stays as it is), as an attacker
// with write access to the registry could.
func tamperSig(t *testing.T, tag string) {
	t.Helper()
	r, err := name.ParseReference(tag)
	must(t, err)
	d, err := remote.Get(r)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(d.Manifest, &m))
	ann := m["layers"].([]any)[0].(map[string]any)["annotations"].(map[string]any)
	raw, err := base64.StdEncoding.DecodeString(ann["dev.cosignproject.cosign/signature"].(string))
	must(t, err)
	raw[len(raw)/2] ^= 1
	ann["dev.cosignproject.cosign/signature"] = base64.StdEncoding.EncodeToString(raw)
	b, err := json.Marshal(m)
	must(t, err)
	must(t, remote.Put(r, rawManifest{b, d.MediaType}))
}

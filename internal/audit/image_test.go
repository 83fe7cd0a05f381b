package audit

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tfile is one tar entry of a test layer.
type tfile struct {
	name string
	typ  byte
	mode int64
	uid  int
	body string
}

func dir(name string, mode int64) tfile { return tfile{name: name, typ: tar.TypeDir, mode: mode} }
func file(name string, mode int64, body string) tfile {
	return tfile{name: name, typ: tar.TypeReg, mode: mode, body: body}
}

func layerTar(t *testing.T, files ...tfile) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Typeflag: f.typ, Mode: f.mode, Uid: f.uid, Size: int64(len(f.body))}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// input makes an image of layers (bottom first) with cfg and hist, as
// the audit reads one from the store.
func input(t *testing.T, ref string, cfg v1.Config, hist []v1.History, layers ...v1.Layer) ImageInput {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.History = hist
	return ImageInput{Ref: ref, Config: cf, Layers: len(layers), Open: func(i int) (io.ReadCloser, error) {
		return layers[i].Uncompressed()
	}}
}

// base is a small clean root filesystem.
func base(t *testing.T) v1.Layer {
	return layerTar(t,
		dir("bin/", 0o755), dir("etc/", 0o755), dir("tmp/", 0o1777), dir("var/", 0o755), dir("var/tmp/", 0o1777),
		file("bin/app", 0o755, "\x7fELF..."),
		file("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
		file("etc/group", 0o644, "root:x:0:\napp:x:1000:\n"),
		file("etc/shadow", 0o640, "root:*:19000:0:99999:7:::\napp:!:19000:0:99999:7:::\n"),
	)
}

var cleanConfig = v1.Config{
	User: "app", Env: []string{"PATH=/bin", "APP_VERSION=1.2.3", "GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D"},
	Labels:      map[string]string{"org.opencontainers.image.source": "https://example.com/app"},
	Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "/bin/app", "-health"}},
}

func problems(r *Report) []string {
	var out []string
	for _, f := range r.Findings {
		if f.Problem() {
			out = append(out, f.ID)
		}
	}
	return out
}

func TestImageCleanPasses(t *testing.T) {
	r, err := Image(input(t, "example.com/app:1.0", cleanConfig, []v1.History{{CreatedBy: "COPY app /bin/app # buildkit"}}, base(t)), ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := problems(r); len(p) != 0 {
		var buf bytes.Buffer
		WriteTable(&buf, r, false)
		t.Fatalf("clean image has problems %v:\n%s", p, buf.String())
	}
	// Every check ran and said so: the report is not just empty.
	for _, id := range []string{"IMG-ROOT-USER", "IMG-SETUID", "IMG-WORLD-WRITABLE", "IMG-SECRET-ENV", "IMG-SECRET-FILE",
		"IMG-DELETED-FILE", "IMG-PKG-CACHE", "IMG-SSHD", "IMG-SUDO", "IMG-HEALTHCHECK", "IMG-LATEST-TAG", "IMG-EMPTY-PASSWORD"} {
		if f := r.Find(id); len(f) != 1 || f[0].Result != Pass {
			t.Errorf("%s: %+v, want one pass", id, f)
		}
	}
}

// want asserts finding id is a problem with severity sev whose evidence
// mentions each of subs.
func want(t *testing.T, r *Report, id string, sev Severity, res Result, subs ...string) Finding {
	t.Helper()
	fs := r.Find(id)
	if len(fs) != 1 {
		t.Fatalf("%s: %d findings, want 1", id, len(fs))
	}
	f := fs[0]
	if f.Severity != sev || f.Result != res {
		t.Fatalf("%s: %s/%s, want %s/%s (%+v)", id, f.Severity, f.Result, sev, res, f)
	}
	ev := strings.Join(f.Evidence, "\n")
	for _, s := range subs {
		if !strings.Contains(ev, s) {
			t.Fatalf("%s: evidence lacks %q:\n%s", id, s, ev)
		}
	}
	return f
}

func TestImageProblems(t *testing.T) {
	const awsSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	const npmToken = "npm_Zq8ylE5dXhR0pLw3TfVbN7cKmA2sGj9uYo1e"
	l1 := layerTar(t,
		dir("bin/", 0o755), dir("etc/", 0o755), dir("tmp/", 0o1777), dir("root/", 0o700), dir("root/.ssh/", 0o700),
		dir("srv/", 0o777), dir("usr/", 0o755), dir("usr/bin/", 0o755), dir("usr/sbin/", 0o755),
		tfile{name: "bin/su", typ: tar.TypeReg, mode: 0o4755, body: "x"},
		tfile{name: "usr/bin/wall", typ: tar.TypeReg, mode: 0o2755, uid: 0, body: "x"},
		file("usr/bin/sudo", 0o755, "x"), file("usr/sbin/sshd", 0o755, "x"),
		file("etc/passwd", 0o644, "root::0:0:root:/root:/bin/sh\ntoor:x:0:0::/:/bin/sh\n"),
		file("etc/shadow", 0o640, "root::19000::::::\n"),
		file("root/.ssh/id_ed25519", 0o600, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"),
		file("root/.npmrc", 0o600, "//registry.npmjs.org/:_authToken="+npmToken+"\n"),
		file("tmp/scratch", 0o666, "ok in /tmp"),
		dir("dev/", 0o755), tfile{name: "dev/null", typ: tar.TypeChar, mode: 0o666},
		file("etc/app.conf", 0o666, "writable"),
		dir("var/", 0o755), dir("var/cache/", 0o755), dir("var/cache/apt/", 0o755), dir("var/cache/apt/archives/", 0o755),
		file("var/cache/apt/archives/curl_8.0_amd64.deb", 0o644, "deb"),
		dir("app/", 0o755), dir("app/.git/", 0o755), file("app/.git/HEAD", 0o644, "ref: refs/heads/main\n"),
	)
	// The second layer deletes the key: it still ships in layer 0.
	l2 := layerTar(t, dir("root/.ssh/", 0o700), file("root/.ssh/.wh.id_ed25519", 0, ""), file("root/.env", 0o600, "DB_PASSWORD=x\n"))
	cfg := v1.Config{
		Env:     []string{"PATH=/bin", "AWS_SECRET_ACCESS_KEY=" + awsSecret, "BUILD=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo"},
		Labels:  map[string]string{"deploy.token": "abc123", "maintainer": "me"},
		Volumes: map[string]struct{}{"/proc/sys": {}},
	}
	hist := []v1.History{
		{CreatedBy: "/bin/sh -c #(nop) ADD file:123abc in / "},
		{CreatedBy: "RUN |1 GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 /bin/sh -c make"},
		{CreatedBy: "/bin/sh -c apt-get update"},
		{CreatedBy: "/bin/sh -c apt-get install -y curl && sudo make install"},
		{CreatedBy: "/bin/sh -c apk upgrade && apk add curl"},
		{CreatedBy: "ADD https://example.com/x.tgz /opt/ # buildkit"},
	}
	r, err := Image(input(t, "example.com/bad", cfg, hist, l1, l2), ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want(t, r, "IMG-ROOT-USER", High, Fail, "config.User is empty")
	want(t, r, "IMG-SETUID", High, Fail, "/bin/su (owner 0:0, mode 4755, layer 0)", "/usr/bin/wall (owner 0:0, mode 2755")
	ww := want(t, r, "IMG-WORLD-WRITABLE", Medium, Fail, "dir /srv (mode 0777", "file /etc/app.conf (mode 0666")
	if e := strings.Join(ww.Evidence, ""); strings.Contains(e, "/tmp") || strings.Contains(e, "/dev/null") {
		t.Fatalf("/tmp reported as world-writable: %v", ww.Evidence)
	}
	env := want(t, r, "IMG-SECRET-ENV", High, Fail, "ENV AWS_SECRET_ACCESS_KEY", "ENV BUILD: the value has high entropy")
	want(t, r, "IMG-SECRET-LABEL", High, Fail, "LABEL deploy.token: the name looks like a secret's")
	want(t, r, "IMG-SECRET-HISTORY", High, Fail, "history[1]: GITHUB_TOKEN")
	sf := want(t, r, "IMG-SECRET-FILE", High, Fail,
		"/root/.ssh/id_ed25519: a private key (layer 0, deleted or replaced later but still in that layer's blob)",
		"/root/.npmrc: an npm token (layer 0)", "/root/.env: a dotenv file (layer 1)")
	want(t, r, "IMG-DELETED-FILE", Low, Warn, "/root/.ssh/id_ed25519 (in layer 0, deleted in layer 1)")
	want(t, r, "IMG-PKG-CACHE", Low, Warn, "/var/cache/apt/archives: 1 files")
	want(t, r, "IMG-SSHD", Medium, Warn, "/usr/sbin/sshd")
	want(t, r, "IMG-SUDO", Medium, Warn, "/usr/bin/sudo")
	want(t, r, "IMG-HEALTHCHECK", Low, Warn)
	want(t, r, "IMG-LATEST-TAG", Low, Warn, `"example.com/bad" resolves to the tag latest`)
	want(t, r, "IMG-SENSITIVE-VOLUME", Medium, Warn, "VOLUME /proc/sys")
	want(t, r, "IMG-EMPTY-PASSWORD", High, Fail, "user root has an empty password in /etc/shadow")
	want(t, r, "IMG-DUPLICATE-ID", Medium, Warn, "/etc/passwd: id 0 is shared by root, toor")
	want(t, r, "IMG-UNNECESSARY-FILES", Low, Warn, "/app/.git")
	want(t, r, "IMG-UPDATE-ALONE", Low, Warn, "history[2]")
	want(t, r, "IMG-SUDO-HISTORY", Low, Warn, "history[3]")
	want(t, r, "IMG-APT-LISTS", Low, Warn, "history[3]")
	want(t, r, "IMG-UPGRADE", Low, Warn, "history[4]")
	want(t, r, "IMG-APK-NO-CACHE", Low, Warn, "history[4]")
	add := want(t, r, "IMG-ADD", Low, Warn, "history[5]")
	if strings.Contains(strings.Join(add.Evidence, ""), "history[0]") {
		t.Fatalf("the base layer's ADD file: is reported: %v", add.Evidence)
	}
	// No secret value is ever printed, in any format.
	var all bytes.Buffer
	WriteTable(&all, r, false)
	WriteJSON(&all, r)
	WriteSARIF(&all, r, "t")
	for _, v := range []string{awsSecret, npmToken, "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo", "abc123", "ghp_abcdef", "OPENSSH PRIVATE KEY-----\nb3Bl"} {
		if strings.Contains(all.String(), v) {
			t.Fatalf("the output prints a secret value %q", v)
		}
	}
	_ = env
	_ = sf

	// The allow-list silences the names and paths it lists, nothing else.
	r, err = Image(input(t, "example.com/bad", cfg, hist, l1, l2), ImageOptions{
		AllowSecrets: []string{"BUILD", "deploy.*", "/root/.ssh"}, AllowSetuid: []string{"/bin/su"}})
	if err != nil {
		t.Fatal(err)
	}
	env = want(t, r, "IMG-SECRET-ENV", High, Fail, "AWS_SECRET_ACCESS_KEY")
	if strings.Contains(strings.Join(env.Evidence, ""), "BUILD") {
		t.Fatalf("allowed BUILD still reported: %v", env.Evidence)
	}
	if f := r.Find("IMG-SECRET-LABEL")[0]; f.Result != Pass {
		t.Fatalf("allowed label still reported: %+v", f)
	}
	sf = want(t, r, "IMG-SECRET-FILE", High, Fail, "/root/.npmrc")
	if strings.Contains(strings.Join(sf.Evidence, ""), "id_ed25519") {
		t.Fatalf("allowed path still reported: %v", sf.Evidence)
	}
	su := r.Find("IMG-SETUID")[0]
	if strings.Contains(strings.Join(su.Evidence, ""), "/bin/su") || su.Severity != Medium {
		t.Fatalf("allowed setuid /bin/su: %+v (want only the setgid wall, medium)", su)
	}
}

// An opaque directory hides the lower layers' entries: a world-writable
// dir replaced by an opaque one is gone, and its files count as deleted.
func TestImageOpaqueAndReplacedDir(t *testing.T) {
	l1 := layerTar(t, dir("data/", 0o777), file("data/old", 0o644, "x"), dir("opt/", 0o755), file("opt/x", 0o644, "x"))
	l2 := layerTar(t, dir("data/", 0o755), file("data/.wh..wh..opq", 0, ""), file("data/new", 0o644, "y"), file("opt", 0o644, "now a file"))
	r, err := Image(input(t, "x:1", cleanConfig, nil, l1, l2), ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f := r.Find("IMG-WORLD-WRITABLE")[0]; f.Result != Pass {
		t.Fatalf("replaced dir still world-writable: %+v", f)
	}
	want(t, r, "IMG-DELETED-FILE", Low, Warn, "/data/old (in layer 0, deleted in layer 1)", "/opt/x (in layer 0, deleted in layer 1)")
}

func TestSecretHeuristics(t *testing.T) {
	for _, c := range []struct {
		k, v   string
		secret bool
	}{
		{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", false},
		{"PYTHON_SHA256", "8fb5f9fbc7609fa822cb31549884575db7fd9657cbffb89510b5d7975963a83a", false},
		{"GPG_KEY", "A035C8C19219BA821ECEA86B64E628F8D684696D", false},
		{"LANG", "C.UTF-8", false},
		{"NGINX_VERSION", "1.25.3", false},
		{"DB_PASSWORD", "", false},
		{"DB_PASSWORD", "hunter2", true},
		{"X", "AKIAIOSFODNN7EXAMPLE", true},
		{"DATABASE_URL", "postgres://app:s3cr3t@db:5432/app", true},
		{"SESSION", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", true},
	} {
		if got := secretReason(c.k, c.v) != ""; got != c.secret {
			t.Errorf("secretReason(%s=%s) = %v, want %v", c.k, c.v, got, c.secret)
		}
	}
}

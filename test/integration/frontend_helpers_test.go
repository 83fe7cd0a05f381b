package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/probe"
)

// Front-end tests share one image store (the image is pulled once per
// test binary) and give every test its own runtime --root.

var (
	feOnce    sync.Once
	feStorage string
	feImage   string // reference to run
	feErr     error
)

// feEnv is a front-end test's environment.
type feEnv struct {
	*env
	storage string
	image   string
	// nets are the user networks the test made (netCreate), for the
	// check that none of their bridges is left.
	nets []string
}

func newFE(t *testing.T) *feEnv {
	t.Helper()
	e := newEnv(t)
	feOnce.Do(func() { feStorage, feImage, feErr = feSetup() })
	if feErr != nil {
		t.Fatal(feErr)
	}
	return &feEnv{env: e, storage: feStorage, image: feImage}
}

// feLayer is the test image's only layer: busybox and the probe, users,
// a world-writable /data (container root cannot write root-owned image
// files, see internal/engine/doc.go), a program outside the usual
// program dirs (/app/busybox), an empty /usr/local/bin and a file that
// is not executable.
func feLayer() ([]byte, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	pr, err := os.ReadFile(probeBin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dir := func(n string, mode int64) {
		tw.WriteHeader(&tar.Header{Name: n + "/", Typeflag: tar.TypeDir, Mode: mode, ModTime: now})
	}
	file := func(n string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: now})
		tw.Write(data)
	}
	for _, d := range []string{"bin", "etc", "proc", "dev", "sys", "run", "app", "home", "mnt"} {
		dir(d, 0o755)
	}
	dir("tmp", 0o1777)
	dir("data", 0o777)
	dir("home/app", 0o755)
	dir("usr", 0o755)
	dir("usr/local", 0o755)
	dir("usr/local/bin", 0o755)
	file("bin/busybox", 0o755, bb)
	file("bin/probe", 0o755, pr)
	file("app/busybox", 0o755, bb)
	file("bin/notexec", 0o644, []byte("#!/bin/sh\necho no\n"))
	file("data/file", 0o666, []byte("orig\n"))
	file("data/gone", 0o666, []byte("gone\n"))
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\napp:x:1000:1000:app:/home/app:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\napp:x:1000:\nextra:x:2000:app\n"))
	for _, a := range []string{"sh", "ls", "cat", "echo", "sleep", "id", "touch", "mkdir", "rm", "stat", "env", "pwd", "hostname", "grep", "true", "false", "head", "wc", "test", "chmod", "seq", "dd", "kill", "ps", "mount"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", ModTime: now})
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// feSetup builds the image with go-containerregistry, serves it from an
// in-process registry on 127.0.0.1 and pulls it with `tirith pull`.
func feSetup() (string, string, error) {
	if buildErr != nil {
		return "", "", buildErr
	}
	data, err := feLayer()
	if err != nil {
		return "", "", err
	}
	layer, err := tarball.LayerFromReader(bytes.NewReader(data))
	if err != nil {
		return "", "", err
	}
	img, err := oneLayerImage(layer, v1.Config{Cmd: []string{"/bin/probe"}, Env: []string{"PATH=/bin", "FROM_IMAGE=yes"}, WorkingDir: "/"}, time.Time{})
	if err != nil {
		return "", "", err
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	// The server lives as long as the test binary: pulls happen once.
	u, _ := url.Parse(srv.URL)
	refStr := u.Host + "/it/frontend:1"
	r, err := name.ParseReference(refStr, name.Insecure)
	if err != nil {
		return "", "", err
	}
	if err := remote.Write(r, img); err != nil {
		return "", "", err
	}
	dir, err := os.MkdirTemp("", "tirith-it-storage-")
	if err != nil {
		return "", "", err
	}
	// Shared by every front-end test; their containers are gone by the
	// time the test binary exits.
	atExit(func() { os.RemoveAll(dir) })
	out, err := exec.Command(tirithBin, "--storage", dir, "pull", refStr).CombinedOutput()
	if err != nil {
		// The image verbs live elsewhere; the store itself will do.
		st, serr := store.Open(dir)
		if serr != nil {
			return "", "", serr
		}
		if _, perr := st.Pull(context.Background(), refStr, store.PullOptions{}); perr != nil {
			return "", "", fmt.Errorf("tirith pull: %v\n%s\nstore.Pull: %v", err, out, perr)
		}
	}
	return dir, refStr, nil
}

// sub is f for subtest t (so that failures stop the subtest).
func (f *feEnv) sub(t *testing.T) *feEnv {
	e := *f.env
	e.t = t
	return &feEnv{env: &e, storage: f.storage, image: f.image}
}

// fe runs `tirith --storage S ARGS...`.
func (f *feEnv) fe(args ...string) result {
	f.t.Helper()
	return f.frontEnd(nil, append([]string{"--storage", f.storage}, args...)...)
}

// feOK runs and requires exit 0.
func (f *feEnv) feOK(args ...string) result {
	f.t.Helper()
	r := f.fe(args...)
	if r.code != 0 {
		f.t.Fatalf("tirith %v: exit %d\nstdout: %s\nstderr: %s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// runOut runs the test image with flags and a command, returns stdout.
func (f *feEnv) runOut(flags []string, cmd ...string) string {
	f.t.Helper()
	return f.feOK(append(append(append([]string{"run", "--rm"}, flags...), f.image), cmd...)...).stdout
}

// probeWith runs the image's default command (the probe) with flags.
func (f *feEnv) probeWith(flags ...string) *probe.Report {
	f.t.Helper()
	out := f.runOut(flags)
	var r probe.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		f.t.Fatalf("probe output: %v\n%s", err, out)
	}
	return &r
}

// rec reads a container's record via `ps -a --format json`.
type feRow struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	ExitCode  int    `json:"exitCode"`
	OOMKilled bool   `json:"oomKilled"`
}

func (f *feEnv) row(nameOrID string) *feRow {
	f.t.Helper()
	var rows []feRow
	must(f.t, json.Unmarshal([]byte(f.feOK("ps", "-a", "--format", "json").stdout), &rows))
	for i := range rows {
		if rows[i].Name == nameOrID || rows[i].ID == nameOrID {
			return &rows[i]
		}
	}
	return nil
}

// name returns a container name unique to this test run.
func (f *feEnv) name() string { return strings.TrimPrefix(f.id(), "it-") }

// cleanupFE removes a container at the end whatever happened.
func (f *feEnv) cleanupFE(name string) {
	f.t.Cleanup(func() {
		_ = exec.Command(tirithBin, "--root", f.root, "--storage", f.storage, "rm", "-f", name).Run()
	})
}

// assertFEGone checks that nothing of container id is left: its
// directory, its mounts, its runtime state and cgroups.
func (f *feEnv) assertFEGone(id string) {
	f.t.Helper()
	if _, err := os.Stat(filepath.Join(f.storage, "containers", id)); err == nil {
		f.t.Errorf("container dir of %s left behind", id)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), id) {
		f.t.Errorf("mounts of %s left behind", id)
	}
	f.assertGone(id, "")
}

// waitGone polls until the container's directory is gone (--rm).
func (f *feEnv) waitGone(id string) {
	f.t.Helper()
	for range 200 {
		if _, err := os.Stat(filepath.Join(f.storage, "containers", id)); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.t.Fatalf("container %s not removed", id)
}

package integration

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// Helpers for the tests that run Tirith under real clients (podman,
// containerd with crictl, Docker): each client runs on private paths
// under a temp dir, the same scenario runs with runc beside Tirith, and
// whatever a client leaves mounted under its dir is unmounted even when
// a test fails.

// clientRuntimes are the OCI runtimes every client scenario runs with:
// Tirith, and runc as the reference.
func clientRuntimes(t *testing.T) map[string]string {
	t.Helper()
	rt := map[string]string{"tirith": runcBin}
	if p, err := exec.LookPath("runc"); err == nil {
		rt["runc"] = p
	} else {
		t.Log("runc is not installed: the scenarios run with Tirith only (.ci/run installs runc)")
	}
	return rt
}

// clientDir is a temp dir for a client's root, state and socket. Its path
// is short (unix socket paths are limited to 108 bytes) and searchable by
// container root (0711). Mounts left below it are unmounted at cleanup.
func clientDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	must(t, err)
	must(t, os.Chmod(dir, 0o711))
	t.Cleanup(func() {
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// unmountUnder lazily unmounts every mount below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	t.Helper()
	for range 3 {
		var mps []string
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			return
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) > 4 && (fs[4] == dir || strings.HasPrefix(fs[4], dir+"/")) {
				mps = append(mps, fs[4])
			}
		}
		f.Close()
		if len(mps) == 0 {
			return
		}
		for i := len(mps) - 1; i >= 0; i-- {
			_ = unix.Unmount(mps[i], unix.MNT_DETACH)
		}
	}
}

// clientImageArchive writes a docker-archive (docker save's format, which
// podman load, docker load and ctr images import read) of a one-layer
// busybox image tagged ref, whose command is cat /etc/hello, and returns
// its path.
func clientImageArchive(t *testing.T, dir, ref string) string {
	t.Helper()
	return clientImageArchiveCmd(t, dir, ref, []string{"/bin/sh", "-c", "cat /etc/hello"})
}

// clientImageArchiveCmd is clientImageArchive with the command cmd.
func clientImageArchiveCmd(t *testing.T, dir, ref string, cmd []string) string {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	must(t, err)
	lt := newLayerTar(t)
	add := lt.add
	for _, d := range []string{"bin/", "etc/", "dev/", "proc/", "sys/", "tmp/", "root/"} {
		add(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
	}
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range []string{"sh", "cat", "echo", "sleep", "id", "true", "false", "test", "ls", "stty", "touch", "grep", "head", "dd", "tr"} {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox"}, nil)
	}
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"))
	add(&tar.Header{Name: "etc/group", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:\nnobody:x:65534:\n"))
	add(&tar.Header{Name: "etc/hello", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("hello from the image\n"))
	data := lt.bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	must(t, err)
	img, err := oneLayerImage(layer, v1.Config{Cmd: cmd, Env: []string{"PATH=/bin"}}, time.Now())
	must(t, err)
	tag, err := name.NewTag(ref)
	must(t, err)
	archive := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(ref)+".tar")
	must(t, tarball.MultiRefWriteToFile(archive, map[name.Reference]v1.Image{tag: img}))
	return archive
}

// cmdResult is what a client command did.
type cmdResult struct {
	code           int
	stdout, stderr string
}

// runClient runs a client command with a timeout, stdin from stdin.
func runClient(t *testing.T, timeout time.Duration, stdin string, env []string, argv ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r := cmdResult{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		r.code = -1
		r.stderr += fmt.Sprintf("\n(timed out after %s)", timeout)
	} else if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return r
}

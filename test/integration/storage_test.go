package integration

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/probe"
	"github.com/tirith-project/tirith/internal/rootfs"
	"github.com/tirith-project/tirith/internal/testutil"
)

// nobody is the unprivileged host user of these tests.
const nobody = 65534

// asNobody runs a host program as uid/gid 65534 with no groups and
// returns its stdout, or the error of starting or running it.
func asNobody(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), errors.Join(err, errors.New(errb.String()))
	}
	return out.String(), nil
}

// suidImageLayer is busybox, the probe and a setuid-root copy of the
// probe (which reports the capabilities it runs with).
func suidImageLayer(t *testing.T) v1.Layer {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	must(t, err)
	pr, err := os.ReadFile(probeBin)
	must(t, err)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	for _, d := range []string{"bin", "etc", "proc", "dev", "sys", "run", "tmp", "mnt"} {
		must(t, tw.WriteHeader(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}))
	}
	file := func(n string, mode int64, data []byte) {
		must(t, tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: now}))
		_, err := tw.Write(data)
		must(t, err)
	}
	file("bin/busybox", 0o755, bb)
	file("bin/probe", 0o755, pr)
	file("bin/probe-suid", 0o4755, pr)
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n"))
	for _, a := range []string{"sh", "cat", "sleep", "touch", "stat", "id"} {
		must(t, tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", ModTime: now}))
	}
	must(t, tw.Close())
	l, err := tarball.LayerFromReader(bytes.NewReader(buf.Bytes()))
	must(t, err)
	return l
}

// Nothing under --storage or --root is reachable by other host users:
// the image store keeps every image's setuid-root binaries, and with the
// old 0711 directories anyone who knew a layer's digest could execute
// one by its path and become root. The store and root start out as an
// older Tirith left them (0711, under parents every user can search)
// and are tightened on use; front-end containers, which run as
// unprivileged host uids, keep working in all their forms.
func TestStorageUnreachableByOtherUsers(t *testing.T) {
	e := newEnv(t)
	storage, root := t.TempDir(), t.TempDir()
	for _, d := range []string{storage, root} {
		testutil.OpenToAll(t, d)
		must(t, os.Chmod(d, 0o711))
	}
	must(t, os.Mkdir(filepath.Join(storage, "containers"), 0o711))
	e.root = root
	layer := suidImageLayer(t)
	diffID, err := layer.DiffID()
	must(t, err)
	img, err := oneLayerImage(layer, v1.Config{Cmd: []string{"/bin/probe"}, Env: []string{"PATH=/bin"}, WorkingDir: "/"}, time.Time{})
	must(t, err)
	ref := testRegistry(t) + "/it/suid:1"
	push(t, ref, img)
	f := &feEnv{env: e, storage: storage, image: ref}
	f.feOK("pull", "-q", ref)

	id := strings.TrimSpace(f.feOK("run", "-d", ref, "sleep", "1000").stdout)
	t.Cleanup(func() { f.fe("rm", "-f", id) })
	hostID := strings.TrimSpace(f.feOK("run", "-d", "--userns=host", ref, "sleep", "1000").stdout)
	t.Cleanup(func() { f.fe("rm", "-f", hostID) })

	layerSuid := filepath.Join(storage, "layers", diffID.Hex, "bin", "probe-suid")
	if st, err := os.Stat(layerSuid); err != nil || st.Mode()&os.ModeSetuid == 0 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("the layer's setuid-root file is not where this test looks (%s): %v %v", layerSuid, st, err)
	}
	// What an attacker would run: the setuid-root probe by its path.
	if out, err := asNobody(t, layerSuid); err == nil {
		var r probe.Report
		_ = json.Unmarshal([]byte(out), &r)
		t.Fatalf("uid %d executed %s: euid gave capabilities %v", nobody, layerSuid, r.CapEff)
	} else if !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("exec %s as uid %d: %v, want permission denied", layerSuid, nobody, err)
	}
	for _, p := range []string{
		layerSuid,
		filepath.Join(storage, "index.json"),
		filepath.Join(storage, "containers", id, "rootfs", "bin", "probe-suid"),
		filepath.Join(storage, "containers", id, "layers", "0", "bin", "probe-suid"),
		filepath.Join(storage, "containers", hostID, "rootfs", "bin", "probe-suid"),
		filepath.Join(root, id, "state.json"),
	} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s does not exist, so this test proves nothing: %v", p, err)
		}
		if out, err := asNobody(t, busybox, "stat", "-c", "%a", p); err == nil {
			t.Errorf("uid %d can stat %s (mode %s)", nobody, p, strings.TrimSpace(out))
		}
	}
	for _, d := range []string{storage, filepath.Join(storage, "layers"), filepath.Join(storage, "blobs"), filepath.Join(storage, "containers"), filepath.Join(storage, "containers", id), root} {
		st, err := os.Stat(d)
		must(t, err)
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s is mode %#o, want 0700", d, st.Mode().Perm())
		}
	}

	// Containers with their own user namespace reach their rootfs,
	// secrets and volumes without a path through the 0700 dirs.
	secret := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(secret, []byte("s3cret\n"), 0o600))
	vol := filepath.Join(t.TempDir(), "vol") // in a 0700 root-owned dir
	must(t, os.Mkdir(vol, 0o755))
	must(t, os.WriteFile(filepath.Join(vol, "f"), []byte("from-host\n"), 0o644))
	for _, userns := range []string{"auto", "host"} {
		t.Run("userns="+userns, func(t *testing.T) {
			f := f.sub(t)
			out := f.runOut([]string{"--userns=" + userns, "--secret", secret + ",target=tok", "-v", vol + ":/mnt/v:ro"},
				"sh", "-c", "cat /run/secrets/tok /mnt/v/f; touch /mnt/v/x 2>/dev/null && echo WROTE; id -u")
			if out != "s3cret\nfrom-host\n0\n" {
				t.Fatalf("output %q, want the secret, the volume's file, uid 0 and no write", out)
			}
		})
	}
}

// The OCI runtime: a bundle with a user namespace whose rootfs and bind
// mount source sit in a 0700 root-owned directory runs, its root never
// looking either up by path (rootfs.Prepare, rootfs.CloneSource).
func TestUsernsBundleInPrivateDir(t *testing.T) {
	for _, idmap := range []string{"", "true"} {
		t.Run(map[string]string{"": "owned by host root", "true": "idmapped"}[idmap], func(t *testing.T) {
			e := newEnv(t)
			b := e.bundle(func(s *specs.Spec) {
				userNS(s)
				noLandlock(s)
				if idmap != "" {
					s.Annotations[rootfs.IdmapAnnotation] = idmap
				}
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/src", Type: "bind", Source: "hostdir", Options: []string{"rbind", "ro"}})
			}, "sh", "-c", "cat /mnt/src/f; stat -c OWNER=%u /bin/busybox")
			// The mount point exists in the image, as it would in a
			// real one (container root cannot create it without idmap).
			must(t, os.Mkdir(filepath.Join(b, "rootfs", "mnt", "src"), 0o755))
			must(t, os.Mkdir(filepath.Join(b, "hostdir"), 0o755))
			must(t, os.WriteFile(filepath.Join(b, "hostdir", "f"), []byte("bound\n"), 0o644))
			must(t, os.Chmod(b, 0o700))
			if _, err := asNobody(t, busybox, "stat", filepath.Join(b, "rootfs")); err == nil {
				t.Fatal("the bundle is not private: this test proves nothing")
			}
			id := e.id()
			out := e.ok("run", "--bundle", b, id)
			want := "OWNER=65534\n"
			if idmap == "true" {
				want = "OWNER=0\n"
			}
			if out != "bound\n"+want {
				t.Fatalf("output %q, want the bound file and %s", out, want)
			}
			e.assertGone(id, b)
		})
	}
}

// An idmapped rootfs (cloned by the runtime in the host's mount
// namespace) inside a shared mount: the container starts, and the mounts
// it makes on its rootfs do not propagate to the host's peers.
func TestIdmappedRootfsInSharedMount(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		userNS(s)
		noLandlock(s)
		s.Annotations[rootfs.IdmapAnnotation] = "true"
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "hostdir", Options: []string{"rbind"}})
	}, "sleep", "100")
	must(t, os.Mkdir(filepath.Join(b, "hostdir"), 0o755))
	must(t, unix.Mount(b, b, "", unix.MS_BIND, ""))
	t.Cleanup(func() { _ = unix.Unmount(b, unix.MNT_DETACH) })
	must(t, unix.Mount("", b, "", unix.MS_SHARED, ""))
	id := e.created(b)
	defer e.cleanup(id)
	if m := mountsBelow(b); len(m) != 0 {
		t.Fatalf("the container's mounts reached the host: %v", m)
	}
}

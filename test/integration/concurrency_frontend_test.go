package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"golang.org/x/sys/unix"
)

// Concurrency (issue #7) of the front end, and the image store under
// killed pulls and a full disk. Every test has a store and runtime root
// of its own, so that the leak checks see only its own containers.

// parallel runs n front-end commands at once; args(i) gives the i-th.
func (f *feEnv) parallel(n int, args func(i int) []string) []result {
	f.t.Helper()
	res := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = f.fe(args(i)...)
		}()
	}
	wg.Wait()
	return res
}

// 100 `run --rm` of distinct names, 25 at a time (TIRITH_TEST_LONG=1:
// 1000, 50 at a time): every one runs and is removed, each in its own
// container (its hostname, the short id, is unique), and nothing is left:
// container dirs, mounts, idmapped layer mounts, runtime state, cgroups,
// processes.
func TestFrontEndConcurrentRuns(t *testing.T) {
	f := privateFE(t)
	batches, per := 4, 25
	if os.Getenv("TIRITH_TEST_LONG") == "1" {
		batches, per = 20, 50
	}
	seen := map[string]bool{}
	for b := range batches {
		res := f.parallel(per, func(i int) []string {
			return []string{"run", "--rm", "--name", fmt.Sprintf("%s-%d-%d", f.name(), b, i), f.image, "hostname"}
		})
		for i, r := range res {
			id := strings.TrimSpace(r.stdout)
			if r.code != 0 || len(id) != 12 {
				t.Fatalf("batch %d run %d: exit %d, stdout %q\n%s", b, i, r.code, r.stdout, r.stderr)
			}
			if seen[id] {
				t.Fatalf("two containers with the id %s", id)
			}
			seen[id] = true
		}
	}
	if rows := f.rows(); len(rows) != 0 {
		t.Fatalf("ps -a after %d run --rm: %d containers: %+v", batches*per, len(rows), rows)
	}
	var ids []string
	for id := range seen {
		ids = append(ids, id)
	}
	f.assertStoreClean(ids...)
}

// Ten `run -d` sharing two names, twice: exactly one winner per name
// each round; the others fail with exit 125 and "already in use" and
// leave nothing. Then five concurrent `rm -f` of each winner all succeed
// or say "no such container", and nothing is left.
func TestFrontEndConcurrentNames(t *testing.T) {
	f := privateFE(t)
	var all []string
	for round := range 2 {
		names := []string{f.name(), f.name()}
		for _, n := range names {
			f.cleanupFE(n)
		}
		res := f.parallel(10, func(i int) []string {
			return []string{"run", "-d", "--name", names[i%2], f.image, "sleep", "1000"}
		})
		winners := map[string]string{}
		for i, r := range res {
			n := names[i%2]
			switch {
			case r.code == 0:
				if w, dup := winners[n]; dup {
					t.Fatalf("round %d: two containers named %s: %s and %s", round, n, w, r.stdout)
				}
				winners[n] = strings.TrimSpace(r.stdout)
			case r.code == 125 && strings.Contains(r.stderr, "already in use"):
			default:
				t.Fatalf("round %d: run %d (%s): exit %d: %s", round, i, n, r.code, r.stderr)
			}
		}
		if len(winners) != 2 {
			t.Fatalf("round %d: winners %v, want one per name", round, winners)
		}
		rows := f.rows()
		if len(rows) != 2 {
			t.Fatalf("round %d: ps -a: %+v", round, rows)
		}
		for _, r := range rows {
			if winners[r.Name] != r.ID || r.Status != "running" {
				t.Fatalf("round %d: ps -a row %+v, winners %v", round, r, winners)
			}
		}
		for _, n := range names {
			id := winners[n]
			all = append(all, id[:12])
			res := f.parallel(5, func(int) []string { return []string{"rm", "-f", n} })
			okCount := 0
			for i, r := range res {
				switch {
				case r.code == 0 && r.stdout == n+"\n":
					okCount++
				case r.code == 1 && strings.HasPrefix(r.stderr, "tirith: no such container") && strings.Count(r.stderr, "\n") == 1:
				default:
					t.Fatalf("rm -f %d of %s: exit %d\nstdout: %s\nstderr: %s", i, n, r.code, r.stdout, r.stderr)
				}
			}
			if okCount == 0 {
				t.Fatalf("no rm -f of %s succeeded", n)
			}
			f.assertFEGone(id)
		}
	}
	f.assertStoreClean(all...)
}

// storeConsistent checks the store's invariants: every blob is complete
// (its content has the digest it is named by), every unpacked layer is
// complete (its metadata was written before it was published), no
// temp files, and `images` works. It returns the image ids listed.
func (e *env) storeConsistent(storage string) []string {
	e.t.Helper()
	blobs, _ := filepath.Glob(filepath.Join(storage, "blobs", "sha256", "*"))
	for _, b := range blobs {
		fh, err := os.Open(b)
		must(e.t, err)
		h := sha256.New()
		_, err = io.Copy(h, fh)
		fh.Close()
		must(e.t, err)
		if got := hex.EncodeToString(h.Sum(nil)); got != filepath.Base(b) {
			e.t.Fatalf("partial or corrupt blob %s (content sha256:%s)", b, got)
		}
	}
	layers, _ := filepath.Glob(filepath.Join(storage, "layers", "*"))
	for _, l := range layers {
		if _, err := os.Stat(filepath.Join(storage, "layermeta", filepath.Base(l)+".json")); err != nil {
			e.t.Fatalf("layer %s without its metadata: %v", l, err)
		}
	}
	var imgs []struct {
		ID string `json:"id"`
	}
	must(e.t, json.Unmarshal([]byte(e.storageOK(storage, "images", "--format", "json")), &imgs))
	// That command opened the store with no pull running: temp files
	// of killed pulls are gone.
	if tmp, _ := os.ReadDir(filepath.Join(storage, "tmp")); len(tmp) > 0 {
		e.t.Fatalf("temp files left in the store: %v", tmp)
	}
	var ids []string
	for _, i := range imgs {
		ids = append(ids, i.ID)
	}
	return ids
}

// A pull killed with SIGKILL at random points leaves a consistent store
// (only complete blobs and layers, `images` works and lists nothing or
// the whole image); a normal pull afterwards succeeds.
func TestStoreSurvivesKilledPull(t *testing.T) {
	e := newEnv(t)
	img, err := random.Image(2<<20, 4)
	must(t, err)
	ref := testRegistry(t) + "/it/big:1"
	push(t, ref, img)
	want, err := img.ConfigName()
	must(t, err)
	storage := t.TempDir()
	killedMidway := 0
	for i := range 8 {
		cmd := exec.Command(tirithBin, "--storage", storage, "pull", "-q", ref)
		must(t, cmd.Start())
		delay := time.Duration(rand.IntN(300)) * time.Millisecond
		if i == 0 {
			delay = 20 * time.Millisecond
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signaled() {
			killedMidway++
		}
		ids := e.storeConsistent(storage)
		if len(ids) > 1 || len(ids) == 1 && ids[0] != want.String() {
			t.Fatalf("after kill %d (%v): images %v", i, delay, ids)
		}
		if len(ids) == 1 {
			// Complete: start again from an empty store.
			e.storageOK(storage, "rmi", ref)
		}
	}
	if killedMidway == 0 {
		t.Fatal("no pull was killed before it finished: the test proves nothing")
	}
	e.storageOK(storage, "pull", "-q", ref)
	if ids := e.storeConsistent(storage); len(ids) != 1 || ids[0] != want.String() {
		t.Fatalf("images after a normal pull: %v", ids)
	}
}

// A pull onto a full filesystem fails cleanly (exit 1, an error naming
// "no space left on device") and leaves the store consistent and empty;
// once space is freed the same pull succeeds.
func TestStoreFullDisk(t *testing.T) {
	e := newEnv(t)
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		t.Fatal("mkfs.ext4 not found: apt-get install e2fsprogs")
	}
	dir := t.TempDir()
	fsImage, mnt := filepath.Join(dir, "fs.img"), filepath.Join(dir, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	fh, err := os.Create(fsImage)
	must(t, err)
	must(t, fh.Truncate(24<<20))
	fh.Close()
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", fsImage).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	requireLoopDevice(t)
	if out, err := exec.Command("mount", "-o", "loop", fsImage, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop (loop devices are available): %v\n%s", err, out)
	}
	t.Cleanup(func() {
		// Lazily: a failed test may still hold files open. The loop
		// device goes with the mount (autoclear).
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", mnt, err)
		}
	})
	storage := filepath.Join(mnt, "storage")

	// ~6 MiB of incompressible layers: ~12 MiB stored (blobs and
	// unpacked layers).
	img, err := random.Image(3<<19, 4)
	must(t, err)
	ref := testRegistry(t) + "/it/big:1"
	push(t, ref, img)
	want, err := img.ConfigName()
	must(t, err)

	// Leave ~6 MiB free.
	var sfs unix.Statfs_t
	must(t, unix.Statfs(mnt, &sfs))
	free := int64(sfs.Bavail) * sfs.Bsize
	filler := filepath.Join(mnt, "filler")
	if free > 6<<20 {
		fh, err := os.Create(filler)
		must(t, err)
		_, err = io.CopyN(fh, zeroReader{}, free-6<<20)
		fh.Close()
		must(t, err)
	}

	r := e.storage(storage, "pull", "-q", ref)
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("pull onto a full disk: exit %d, want 1 and ENOSPC\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if ids := e.storeConsistent(storage); len(ids) != 0 {
		t.Fatalf("images after the failed pull: %v", ids)
	}

	must(t, os.Remove(filler))
	e.storageOK(storage, "pull", "-q", ref)
	if ids := e.storeConsistent(storage); len(ids) != 1 || ids[0] != want.String() {
		t.Fatalf("images after freeing space: %v", ids)
	}
}

// requireLoopDevice skips when the host cannot give a loop device: no
// /dev/loop-control (no loop driver, or a /dev without it, as in many
// sandboxes) or no free device to be had. It asks the kernel itself
// rather than reading mount's error message, so that any other failure
// of the mount fails the test.
func requireLoopDevice(t *testing.T) {
	t.Helper()
	fd, err := unix.Open("/dev/loop-control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("loop devices unavailable: open /dev/loop-control: %v (kernel without the loop driver?)", err)
	}
	defer unix.Close(fd)
	// LOOP_CTL_GET_FREE finds (or adds) a free device; mount then takes
	// one the same way.
	if _, err := unix.IoctlRetInt(fd, unix.LOOP_CTL_GET_FREE); err != nil {
		t.Skipf("loop devices unavailable: LOOP_CTL_GET_FREE: %v (all in use, or max_loop reached)", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

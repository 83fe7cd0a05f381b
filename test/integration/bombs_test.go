package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/testutil"
)

// Bombs (issue #7): a container attacks the host's resources. Each test
// checks, from host-side evidence, that (1) a limit the kernel enforces
// stops the attack inside the container, (2) the host still starts
// processes while the bomb runs, and (3) Tirith still stops and removes
// the container, leaving nothing. Fork bombs and memory hogs are in
// resources_test.go.

const mib = 1 << 20

var (
	bombsOnce sync.Once
	bombsBin  string // static test/bombs, built on first use
	bombsErr  error
)

// bombsBinary builds test/bombs once per test binary, beside the
// tirith binary (TestMain removes that directory).
func bombsBinary(t *testing.T) string {
	t.Helper()
	bombsOnce.Do(func() {
		if buildErr != nil {
			bombsErr = buildErr
			return
		}
		bombsBin = filepath.Join(filepath.Dir(tirithBin), "bombs")
		bombsErr = build(bombsBin, "./test/bombs", []string{"CGO_ENABLED=0"})
	})
	if bombsErr != nil {
		t.Fatal(bombsErr)
	}
	return bombsBin
}

// withBombs puts the bombs binary into bundle b's /bin.
func withBombs(t *testing.T, b string) {
	t.Helper()
	copyFile(t, bombsBinary(t), filepath.Join(b, "rootfs", "bin", "bombs"))
}

// hostAlive is the liveness check: while a bomb runs, the host must
// still start a process and see it finish within a generous deadline.
// It only calls t.Errorf/t.Logf, so it may run in a goroutine.
func hostAlive(t *testing.T, during string) bool {
	t.Helper()
	start := time.Now()
	cmd := exec.Command("/bin/true")
	if err := cmd.Start(); err != nil {
		t.Errorf("the host could not start a process during %s: %v", during, err)
		return false
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("/bin/true failed during %s: %v", during, err)
			return false
		}
		t.Logf("host liveness during %s: /bin/true ran in %v", during, time.Since(start).Round(time.Millisecond))
		return true
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Errorf("the host could not run /bin/true within 10 s during %s", during)
		return false
	}
}

// runDetachedTo runs `tirith run --detach` with the container's stdout
// and stderr going to files the test reads while it runs.
func (e *env) runDetachedTo(b, id string) (stdout, stderr string) {
	e.t.Helper()
	dir := e.t.TempDir()
	stdout, stderr = filepath.Join(dir, "stdout"), filepath.Join(dir, "stderr")
	outF, err := os.Create(stdout)
	must(e.t, err)
	defer outF.Close()
	errF, err := os.Create(stderr)
	must(e.t, err)
	defer errF.Close()
	e.cleanup(id)
	cmd := exec.Command(runcBin, "--root", e.root, "run", "--detach", "--bundle", b, id)
	cmd.Stdout, cmd.Stderr = outF, errF
	done := make(chan error, 1)
	must(e.t, cmd.Start())
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			data, _ := os.ReadFile(stderr)
			e.t.Fatalf("tirith run --detach: %v\n%s", err, data)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		e.t.Fatal("tirith run --detach timed out")
	}
	return stdout, stderr
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func readString(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// hostFree is the space available on the host's root filesystem.
func hostFree(t *testing.T) int64 {
	t.Helper()
	var st unix.Statfs_t
	must(t, unix.Statfs("/", &st))
	return int64(st.Bavail) * st.Bsize
}

// TestBombTmpfsFill: dd fills every writable scratch mount of the
// default spec (/tmp, /run, /dev/shm, /dev: tmpfs of 64 MiB each) until
// ENOSPC. From the host: each is a tmpfs, full, holding a 64 MiB file;
// nothing landed in the bundle or on the host's disk.
func TestBombTmpfsFill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dirs := []string{"/tmp", "/run", "/dev/shm", "/dev"}
	b := e.bundle(nil, "sh", "-c",
		`for d in `+strings.Join(dirs, " ")+`; do dd if=/dev/zero of=$d/fill bs=1M 2>&1; echo "$d rc=$?"; done; echo DONE; exec sleep 1000`)
	rootfsFiles := countFiles(t, filepath.Join(b, "rootfs"))
	free0 := hostFree(t)
	id := e.id()
	out, _ := e.runDetachedTo(b, id)
	hostAlive(t, "the tmpfs fill")
	waitFor(t, "the fills to end", func() bool { return strings.Contains(readString(out), "DONE") })
	free1 := hostFree(t)
	got := readString(out)
	if n := strings.Count(got, "No space left on device"); n != len(dirs) {
		t.Errorf("want ENOSPC from each of %d fills, got %d:\n%s", len(dirs), n, got)
	}
	pid := e.state(id).Pid
	for _, d := range dirs {
		p := filepath.Join("/proc", strconv.Itoa(pid), "root", d)
		var st unix.Statfs_t
		must(t, unix.Statfs(p, &st))
		size, avail := int64(st.Blocks)*st.Bsize, int64(st.Bavail)*st.Bsize
		fill := fileSize(filepath.Join(p, "fill"))
		t.Logf("%s: tmpfs of %d MiB, %d bytes free, fill stopped at %d bytes (%.1f MiB)", d, size/mib, avail, fill, float64(fill)/mib)
		if st.Type != unix.TMPFS_MAGIC {
			t.Errorf("%s is not a tmpfs (f_type %#x)", d, st.Type)
		}
		if size != 64*mib || avail != 0 {
			t.Errorf("%s: size %d, %d bytes free after the fill; want a full 64 MiB tmpfs", d, size, avail)
		}
		if fill < 63*mib || fill > 64*mib {
			t.Errorf("%s/fill is %d bytes, want about 64 MiB", d, fill)
		}
	}
	// Host side: the container's root (the bundle) holds no new file,
	// and the host's disk did not lose the 256 MiB written (a loose
	// bound: other processes may write to / meanwhile).
	if n := countFiles(t, filepath.Join(b, "rootfs")); n != rootfsFiles {
		t.Errorf("the bundle's rootfs went from %d to %d files", rootfsFiles, n)
	}
	t.Logf("host / free space: %d MiB before, %d MiB after (delta %+d MiB)", free0/mib, free1/mib, (free1-free0)/mib)
	if free0-free1 >= int64(len(dirs))*64*mib {
		t.Errorf("the host's / lost %d MiB while the container filled its tmpfs", (free0-free1)/mib)
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	must(t, filepath.Walk(dir, func(string, os.FileInfo, error) error { n++; return nil }))
	return n
}

// TestBombReadOnlyRootFill: with the default read-only root, filling the
// container's root fails at once with EROFS, and nothing reaches the
// bundle's rootfs on the host.
func TestBombReadOnlyRootFill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	targets := []string{"/fill", "/bin/fill", "/etc/fill", "/etc/passwd"}
	b := e.bundle(nil, "sh", "-c",
		`for f in `+strings.Join(targets, " ")+`; do dd if=/dev/zero of=$f bs=1M count=16 conv=notrunc 2>&1; done; true`)
	passwd := readString(filepath.Join(b, "rootfs", "etc", "passwd"))
	id := e.id()
	e.cleanup(id)
	out := e.ok("run", "--bundle", b, id)
	if n := strings.Count(out, "Read-only file system"); n != len(targets) {
		t.Errorf("want EROFS for each of %v, got %d:\n%s", targets, n, out)
	}
	for _, f := range targets[:3] {
		if _, err := os.Lstat(filepath.Join(b, "rootfs", f)); err == nil {
			t.Errorf("%s was created in the bundle's rootfs", f)
		}
	}
	if readString(filepath.Join(b, "rootfs", "etc", "passwd")) != passwd {
		t.Error("/etc/passwd of the bundle changed")
	}
	hostAlive(t, "the read-only root fill")
	e.assertGone(id, b)
}

// loopStore gives f a --storage of its own on a 64 MiB ext4 loop mount
// (unmounted and its loop device released at the end, whatever
// happens), with the test image pulled into it. It returns the front end
// on that store and the loop image file.
func loopStore(t *testing.T, f *feEnv) (*feEnv, string) {
	t.Helper()
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Fatal("mkfs.ext4 not found: apt-get install -y e2fsprogs")
	}
	dir := t.TempDir()
	testutil.OpenToAll(t, dir) // the containers' mapped root traverses to the store
	img, mnt := filepath.Join(dir, "store.img"), filepath.Join(dir, "store")
	must(t, os.Mkdir(mnt, 0o711))
	fh, err := os.Create(img)
	must(t, err)
	must(t, fh.Truncate(64*mib))
	fh.Close()
	// -m 0: no blocks reserved for root, so "full" means full for anyone.
	if out, err := exec.Command(mkfs, "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		if _, serr := os.Stat("/dev/loop-control"); serr != nil {
			t.Skipf("loop devices are unavailable here (no /dev/loop-control): mount -o loop: %v %s", err, out)
		}
		t.Fatalf("mount -o loop: %v\n%s", err, out)
	}
	t.Cleanup(func() { unmountLoop(t, mnt, img) })
	must(t, os.Chmod(mnt, 0o711))
	// The store needs the image: pull it from the test registry.
	if out, err := exec.Command(tirithBin, "--storage", mnt, "pull", f.image).CombinedOutput(); err != nil {
		st, serr := store.Open(mnt)
		must(t, serr)
		if _, perr := st.Pull(t.Context(), f.image, store.PullOptions{}); perr != nil {
			t.Fatalf("tirith pull: %v\n%s\nstore.Pull: %v", err, out, perr)
		}
	}
	return &feEnv{env: f.env, storage: mnt, image: f.image}, img
}

// TestBombWritableLayerFill: a front-end container with --read-only=false
// writes into its overlay upper dir under --storage. With the store on a
// 64 MiB loop-mounted ext4, dd stops at ENOSPC there; the host's / gives
// at most the loop file's 64 MiB; `rm -f` still removes the container
// from the full store and gives the space back.
func TestBombWritableLayerFill(t *testing.T) {
	lf, img := loopStore(t, newFE(t))
	mnt := lf.storage
	var st0 unix.Statfs_t
	must(t, unix.Statfs(mnt, &st0))
	t.Logf("store: ext4 of %d MiB, %.1f MiB free with the image pulled", int64(st0.Blocks)*st0.Bsize/mib, float64(int64(st0.Bavail)*st0.Bsize)/mib)
	free0 := hostFree(t)

	n := lf.name()
	lf.cleanupFE(n)
	id := strings.TrimSpace(lf.feOK("run", "-d", "--read-only=false", "--name", n, lf.image, "sh", "-c",
		"dd if=/dev/zero of=/fill bs=1M 2>/tmp/dd.err; echo $? > /tmp/dd.rc; "+
			"dd if=/dev/zero of=/fill.tail bs=4k 2>/dev/null; touch /tmp/full; exec sleep 1000").stdout)
	pid := lf.state(id).Pid
	proot := filepath.Join("/proc", strconv.Itoa(pid), "root")
	hostAlive(t, "the writable-layer fill")
	waitFor(t, "dd to end", func() bool {
		_, err := os.Stat(filepath.Join(proot, "tmp", "full"))
		return err == nil
	})
	ddErr := readString(filepath.Join(proot, "tmp", "dd.err"))
	if rc := strings.TrimSpace(readString(filepath.Join(proot, "tmp", "dd.rc"))); rc == "0" || !strings.Contains(ddErr, "No space left on device") {
		t.Errorf("dd exit %s, want ENOSPC; stderr: %s", rc, ddErr)
	}
	fill := fileSize(filepath.Join(mnt, "containers", id, "overlay", "upper", "fill"))
	var st1 unix.Statfs_t
	must(t, unix.Statfs(mnt, &st1))
	avail := int64(st1.Bavail) * st1.Bsize
	tail := fileSize(filepath.Join(mnt, "containers", id, "overlay", "upper", "fill.tail"))
	t.Logf("writable layer: fill stopped at ENOSPC with %d bytes (%.1f MiB) in the upper dir, %d more in 4k blocks; %d bytes left on the store", fill, float64(fill)/mib, tail, avail)
	if fill < 32*mib {
		t.Errorf("the upper dir's fill is %d bytes, want the store's free space (about %d MiB)", fill, int64(st0.Bavail)*st0.Bsize/mib)
	}
	if avail > 64<<10 {
		t.Errorf("the store still has %d bytes free after ENOSPC", avail)
	}
	// The host gave the loop file at most its 64 MiB.
	var fi unix.Stat_t
	must(t, unix.Stat(img, &fi))
	if used := fi.Blocks * 512; used > 64*mib {
		t.Errorf("the loop file takes %d bytes of the host's disk", used)
	}
	free1 := hostFree(t)
	t.Logf("host / free space: %d MiB before the fill, %d MiB after (delta %+d MiB); the loop file holds %d MiB", free0/mib, free1/mib, (free1-free0)/mib, fi.Blocks*512/mib)
	if free0-free1 >= 256*mib {
		t.Errorf("the host's / lost %d MiB during a fill capped at 64 MiB", (free0-free1)/mib)
	}
	// The store is full: Tirith still lists the container, and stops
	// and removes it.
	hostAlive(t, "a full store")
	if row := lf.row(n); row == nil || row.Status != "running" {
		t.Errorf("ps -a on the full store: %+v", row)
	}
	lf.feOK("rm", "-f", n)
	lf.assertFEGone(id)
	var st2 unix.Statfs_t
	must(t, unix.Statfs(mnt, &st2))
	if got := int64(st2.Bavail) * st2.Bsize; got < fill+tail {
		t.Errorf("after rm -f the store has %d bytes free, want the fill's %d back", got, fill+tail)
	}
	ents, _ := os.ReadDir(filepath.Join(mnt, "containers"))
	for _, ent := range ents {
		if !strings.HasPrefix(ent.Name(), ".") { // .names.lock stays
			t.Errorf("%s left in the store's containers dir after rm -f", ent.Name())
		}
	}
}

// unmountLoop unmounts the loop-mounted store and makes sure its loop
// device is released, whatever state the test left.
func unmountLoop(t *testing.T, mnt, img string) {
	var err error
	for range 50 {
		if err = unix.Unmount(mnt, 0); err == nil || err == unix.EINVAL {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil && err != unix.EINVAL {
		t.Errorf("unmount %s: %v (detaching it)", mnt, err)
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
	}
	// mount -o loop sets autoclear; detach explicitly if it is still bound.
	out, _ := exec.Command("losetup", "-j", img).Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if dev, _, ok := strings.Cut(line, ":"); ok && strings.HasPrefix(dev, "/dev/loop") {
			if o, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
				t.Errorf("losetup -d %s: %v %s", dev, err, o)
			}
		}
	}
}

// TestBombFDExhaustion: a loop opening /dev/null stops at EMFILE under
// the default RLIMIT_NOFILE of 1024; from the host the process holds
// exactly 1024 descriptors and the host still opens files.
func TestBombFDExhaustion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "/bin/bombs", "fds")
	withBombs(t, b)
	id := e.id()
	out, errPath := e.runDetachedTo(b, id)
	waitFor(t, "the fd bomb", func() bool { return strings.Contains(readString(out), "\n") })
	line := strings.TrimSpace(readString(out))
	var opened int
	if f := strings.Fields(line); len(f) == 3 && f[0] == "fds" && f[2] == "EMFILE" {
		opened, _ = strconv.Atoi(f[1])
	} else {
		t.Fatalf("fd bomb: %q, want \"fds N EMFILE\"; stderr: %s", line, readString(errPath))
	}
	pid := e.state(id).Pid
	ents, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	must(t, err)
	t.Logf("fd bomb: opened %d of /dev/null before EMFILE; the host sees %d descriptors in /proc/%d/fd", opened, len(ents), pid)
	if len(ents) != 1024 {
		t.Errorf("the container process holds %d descriptors, want the limit 1024", len(ents))
	}
	if opened < 1000 {
		t.Errorf("only %d opened before EMFILE", opened)
	}
	// The host's own descriptors are untouched.
	hf, err := os.Open("/dev/null")
	if err != nil {
		t.Fatalf("the host cannot open a file during the fd bomb: %v", err)
	}
	hf.Close()
	nr := strings.Fields(readString("/proc/sys/fs/file-nr"))
	t.Logf("host file-nr (allocated, free, max): %v", nr)
	if len(nr) == 3 {
		used, _ := strconv.ParseInt(nr[0], 10, 64)
		max, _ := strconv.ParseInt(nr[2], 10, 64)
		if used >= max/2 {
			t.Errorf("host file table at %d of %d", used, max)
		}
	}
	hostAlive(t, "the fd bomb")
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

var haveThreads = regexp.MustCompile(`failed to create new OS thread \(have (\d+) already; errno=(\d+)\)`)

// TestBombThreads: a static Go program starts OS threads until clone(2)
// fails, again and again. The default pids limit (1024) counts threads:
// pids.current never passes it, and the kernel refuses the clones
// (pids.events) with EAGAIN inside.
func TestBombThreads(t *testing.T) {
	requireV1(t, "pids")
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Process.Env = append(s.Process.Env, "GOTRACEBACK=none")
	}, "sh", "-c", "while :; do /bin/bombs threads; done")
	withBombs(t, b)
	id := e.id()
	_, errPath := e.runDetachedTo(b, id)
	pidsDir := v1Path("pids", id)
	limit := readInt(t, filepath.Join(pidsDir, "pids.max"))
	var peak int64
	sample := func() {
		data, err := os.ReadFile(filepath.Join(pidsDir, "pids.current"))
		if err != nil {
			return
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil && n > peak {
			peak = n
		}
	}
	stop := time.Now().Add(3 * time.Second)
	alive := make(chan struct{})
	go func() { defer close(alive); time.Sleep(time.Second); hostAlive(t, "the thread bomb") }()
	for time.Now().Before(stop) {
		sample()
		time.Sleep(2 * time.Millisecond)
	}
	<-alive
	events := readString(filepath.Join(pidsDir, "pids.events"))
	m := haveThreads.FindAllStringSubmatch(readString(errPath), -1)
	t.Logf("thread bomb: pids.max %d, peak pids.current seen %d, pids.events %q, %d bomb runs ended in a failed clone", limit, peak, strings.TrimSpace(events), len(m))
	if limit != 1024 {
		t.Errorf("pids.max %d, want the default 1024", limit)
	}
	if peak > limit {
		t.Errorf("pids.current reached %d past the limit %d", peak, limit)
	}
	if peak < limit/2 {
		t.Errorf("the bomb only reached %d tasks: it did not hit the limit", peak)
	}
	if strings.Contains(events, "max 0") || !strings.Contains(events, "max ") {
		t.Errorf("pids.events %q: the kernel refused no clone", events)
	}
	if len(m) == 0 {
		t.Errorf("no bomb run reported a failed clone; stderr: %.500s", readString(errPath))
	}
	// Go's own count ("have N already") includes the thread it failed to
	// start and bookkeeping threads: only the errno is the kernel's word.
	var haves []string
	for _, sm := range m {
		haves = append(haves, sm[1])
		if sm[2] != "11" {
			t.Errorf("clone failed with errno %s, want EAGAIN (11) from the pids limit", sm[2])
		}
	}
	t.Logf("Go runtime thread counts at the failed clone: %v", haves)
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// TestBombStdoutFlood: a container writes to stdout as fast as it can.
func TestBombStdoutFlood(t *testing.T) {
	const flood = 3 * time.Second
	const safety = 8 << 30 // stop early past this much, to spare the host's disk

	// floodFor watches size grow for the flood's duration, checking
	// liveness in the middle; it returns the size and rate seen.
	floodFor := func(t *testing.T, size func() int64) int64 {
		start := time.Now()
		alive := make(chan struct{})
		go func() { defer close(alive); time.Sleep(flood / 2); hostAlive(t, "the stdout flood") }()
		for time.Since(start) < flood && size() < safety {
			time.Sleep(50 * time.Millisecond)
		}
		<-alive
		n := size()
		t.Logf("stdout flood: %d MiB in %v (%.0f MiB/s)", n/mib, time.Since(start).Round(time.Millisecond), float64(n)/mib/time.Since(start).Seconds())
		return n
	}

	// (a) The OCI runtime, the container's stdout a file: the runtime
	// stays out of the data path; delete --force stops the writer.
	t.Run("oci", func(t *testing.T) {
		e := newEnv(t)
		b := e.bundle(nil, "yes", "flood")
		applets(t, b, "yes")
		id := e.id()
		out, _ := e.runDetachedTo(b, id)
		waitFor(t, "output", func() bool { return fileSize(out) > 0 })
		if n := floodFor(t, func() int64 { return fileSize(out) }); n < mib {
			t.Errorf("only %d bytes written: no flood", n)
		}
		e.ok("delete", "--force", id)
		e.assertGone(id, b)
		n0 := fileSize(out)
		time.Sleep(200 * time.Millisecond)
		if n1 := fileSize(out); n1 != n0 {
			t.Errorf("stdout still grows after delete --force: %d -> %d", n0, n1)
		}
		t.Logf("oci: stdout file at %d MiB when deleted", n0/mib)
		os.Remove(out)
	})

	// (b) The front end, run -d: the container's stdout is its log
	// file under --storage. Tirith caps no log (nor does Docker's
	// default json-file driver without max-size): the size is reported.
	t.Run("frontend", func(t *testing.T) {
		f := newFE(t)
		n := f.name()
		f.cleanupFE(n)
		id := strings.TrimSpace(f.feOK("run", "-d", "--name", n, f.image, "busybox", "yes", "flood").stdout)
		logPath := filepath.Join(f.storage, "containers", id, "stdout.log")
		waitFor(t, "the log", func() bool { return fileSize(logPath) > 0 })
		size := floodFor(t, func() int64 { return fileSize(logPath) })
		if size < mib {
			t.Errorf("only %d bytes logged: no flood", size)
		}
		f.feOK("stop", "-t", "1", n)
		final := fileSize(logPath)
		time.Sleep(200 * time.Millisecond)
		if again := fileSize(logPath); again != final {
			t.Errorf("the log still grows after stop: %d -> %d", final, again)
		}
		if row := f.row(n); row == nil || row.Status != "exited" {
			t.Errorf("record after stop: %+v", row)
		}
		t.Logf("FINDING: no log cap: a %v flood left a %d-byte (%.0f MiB) stdout.log under --storage", flood, final, float64(final)/mib)
		hostAlive(t, "the stop of the flood")
		f.feOK("rm", "-f", n)
		f.assertFEGone(id)
		if _, err := os.Stat(logPath); err == nil {
			t.Error("the log file is left after rm -f")
		}
	})
}

// TestFullStoreRunLeavesNoDebris: after a bomb filled the store, a new
// `run` must fail cleanly (exit 125) and leave nothing: no record and no
// container directory. A directory without a record is listed by no
// verb and `rm -f ID` answers "no such container"; only `system prune`
// sweeps it as a crashed command's debris, but this run did not crash:
// it failed and should undo its own work. The store is filled from the
// host, leaving one free block: enough for the container's directory
// (engine.newRecord's Mkdir), not for its record (writeRecord).
func TestFullStoreRunLeavesNoDebris(t *testing.T) {
	lf, _ := loopStore(t, newFE(t))
	mnt := lf.storage
	var st unix.Statfs_t
	must(t, unix.Statfs(mnt, &st))
	// The containers dir exists on a store that ran containers before.
	must(t, os.MkdirAll(filepath.Join(mnt, "containers"), 0o711))
	spacer, fill := filepath.Join(mnt, "spacer"), filepath.Join(mnt, "fill")
	t.Cleanup(func() { os.Remove(spacer); os.Remove(fill) })
	must(t, os.WriteFile(spacer, make([]byte, st.Bsize), 0o600))
	fh, err := os.Create(fill)
	must(t, err)
	// Delayed allocation reserves more than it finally takes: top up
	// until a synced filesystem has no block left.
	chunk := make([]byte, st.Bsize)
	for range 20 {
		for err == nil {
			_, err = fh.Write(chunk)
		}
		if !strings.Contains(err.Error(), "no space left") {
			t.Fatalf("host fill of the store: %v", err)
		}
		_ = fh.Sync()
		unix.Sync()
		must(t, unix.Statfs(mnt, &st))
		if st.Bavail == 0 {
			break
		}
		err = nil
	}
	fh.Close()
	must(t, os.Remove(spacer))
	unix.Sync()
	must(t, unix.Statfs(mnt, &st))
	t.Logf("store filled from the host: %d bytes free (block size %d)", int64(st.Bavail)*st.Bsize, st.Bsize)

	before := storeEntries(t, mnt)
	n := lf.name()
	lf.cleanupFE(n)
	r := lf.fe("run", "-d", "--name", n, lf.image, "sleep", "1000")
	if r.code == 0 {
		lf.feOK("rm", "-f", n)
		t.Fatalf("run on a full store succeeded: %s", r.stdout)
	}
	t.Logf("run on the full store: exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	if r.code != 125 {
		t.Errorf("run on a full store: exit %d, want 125", r.code)
	}
	if row := lf.row(n); row != nil {
		t.Errorf("the failed run left a record: %+v", row)
	}
	for _, e := range storeEntries(t, mnt) {
		if !slices.Contains(before, e) && !strings.HasPrefix(e, ".") {
			t.Errorf("the failed run left %s in the store", filepath.Join(mnt, "containers", e))
		}
	}
}

func storeEntries(t *testing.T, mnt string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(mnt, "containers"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

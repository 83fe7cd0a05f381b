package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/testutil"
)

// The front end's default Landlock policy (wall 4) runs every program the
// image or a read-only volume holds, wherever it lies.
func TestLandlockDefaultRunsImageAndVolumePrograms(t *testing.T) {
	f := newLandlockFE(t)
	vol := hostDir(t)
	must(t, os.MkdirAll(filepath.Join(vol, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(vol, "entry.sh"), []byte("#!/bin/sh\nexec /app/bin/helper \"$@\"\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(vol, "bin", "helper"), []byte("#!/bin/sh\necho helper-ran \"$@\"\n"), 0o755))

	t.Run("script on a read-only volume execs the helper beside it", func(t *testing.T) {
		f := f.sub(t)
		if out := f.runOut([]string{"-v", vol + ":/app:ro"}, "/app/entry.sh", "arg"); out != "helper-ran arg\n" {
			t.Errorf("output %q, want %q", out, "helper-ran arg\n")
		}
	})
	t.Run("read-only volume beneath a writable mount", func(t *testing.T) {
		f := f.sub(t)
		if out := f.runOut([]string{"-v", vol + ":/tmp/app:ro"}, "sh", "-c", "/tmp/app/bin/helper beneath-tmp"); out != "helper-ran beneath-tmp\n" {
			t.Errorf("output %q", out)
		}
	})
	t.Run("program in an unusual image directory, from a shell", func(t *testing.T) {
		f := f.sub(t)
		if out := f.runOut(nil, "sh", "-c", "/app/busybox echo unusual-dir-ok"); out != "unusual-dir-ok\n" {
			t.Errorf("output %q", out)
		}
	})
	t.Run("read-only=false: a program written into an image directory runs", func(t *testing.T) {
		f := f.sub(t)
		out := f.runOut([]string{"--read-only=false"}, "sh", "-c",
			"cat /bin/busybox > /usr/local/bin/busybox && chmod 755 /usr/local/bin/busybox && /usr/local/bin/busybox echo rootfs-exec-ok")
		if out != "rootfs-exec-ok\n" {
			t.Errorf("output %q", out)
		}
	})
}

// Nothing the container can write is executable under the default
// policy: each writable mount refuses a copied binary with EACCES (the
// shell's 126, "Permission denied"). /scratch-exec and /dev are mounted
// exec and the volume too, so there it is Landlock that refuses: with
// landlock=off the same copies run, so the test can fail.
func TestLandlockDefaultRefusesWritableMounts(t *testing.T) {
	f := newLandlockFE(t)
	rw := hostDir(t)
	must(t, os.Chmod(rw, 0o777))
	script := `for d in /tmp /run /dev/shm /dev /data2 /scratch /scratch-exec; do
		rm -f $d/busybox; cat /bin/busybox > $d/busybox && chmod 755 $d/busybox || { echo "$d: copy failed"; continue; }
		out=$($d/busybox true 2>&1); echo "$d: $? $out"
	done`
	flags := []string{"-v", rw + ":/data2", "--tmpfs", "/scratch", "--tmpfs", "/scratch-exec:exec"}
	results := func(out string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if d, rest, ok := strings.Cut(l, ": "); ok {
				m[d] = rest
			}
		}
		return m
	}
	refused := func(r string) bool { return strings.HasPrefix(r, "126 ") && strings.Contains(r, "Permission denied") }

	got := results(f.runOut(flags, "sh", "-c", script))
	for _, d := range []string{"/tmp", "/run", "/dev/shm", "/dev", "/data2", "/scratch", "/scratch-exec"} {
		if !refused(got[d]) {
			t.Errorf("default policy: exec from %s: %q, want 126 Permission denied", d, got[d])
		}
	}
	off := results(f.runOut(append(flags, "--security-opt", "landlock=off"), "sh", "-c", script))
	for _, d := range []string{"/dev", "/data2", "/scratch-exec"} {
		if strings.TrimSpace(off[d]) != "0" {
			t.Errorf("landlock=off: exec from exec-mounted %s: %q, want it to run (exit 0)", d, off[d])
		}
	}
	t.Run("as a non-root user", func(t *testing.T) {
		// The policy is then expanded without capabilities.
		f := f.sub(t)
		got := results(f.runOut(append(flags, "--user", "app"), "sh", "-c", script+"; /app/busybox true; echo \"/app: $?\""))
		for _, d := range []string{"/data2", "/scratch-exec"} {
			if !refused(got[d]) {
				t.Errorf("exec from %s: %q, want 126 Permission denied", d, got[d])
			}
		}
		if strings.TrimSpace(got["/app"]) != "0" {
			t.Errorf("image program /app/busybox: %q, want it to run", got["/app"])
		}
	})
	t.Run("read-only=false keeps writable mounts non-executable", func(t *testing.T) {
		f := f.sub(t)
		got := results(f.runOut(append(flags, "--read-only=false"), "sh", "-c", script))
		for _, d := range []string{"/dev", "/data2", "/scratch-exec"} {
			if !refused(got[d]) {
				t.Errorf("exec from %s: %q, want 126 Permission denied", d, got[d])
			}
		}
	})
}

// When the init's own execve of the payload is refused by the policy, the
// error says so and names the noExecute path, not only "permission
// denied".
func TestLandlockDefaultExecRefusalNamesThePolicy(t *testing.T) {
	f := newLandlockFE(t)
	rw := hostDir(t)
	copyFile(t, busybox, filepath.Join(rw, "busybox"))
	must(t, os.Chmod(filepath.Join(rw, "busybox"), 0o755))
	r := f.fe("run", "--rm", "-v", rw+":/data2", f.image, "/data2/busybox", "true")
	want := `wall 4 (Landlock): exec "/data2/busybox" refused by the Landlock policy: /data2 is a writable mount (noExecute); see --security-opt landlock`
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Fatalf("exit %d, stderr %q; want it to contain %q", r.code, r.stderr, want)
	}
	// The same file runs when the policy is off: the refusal was Landlock's.
	if r := f.fe("run", "--rm", "-v", rw+":/data2", "--security-opt", "landlock=off", f.image, "/data2/busybox", "echo", "ran"); r.code != 0 || r.stdout != "ran\n" {
		t.Fatalf("landlock=off: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// newLandlockFE is newFE for a test that needs Landlock in the kernel.
func newLandlockFE(t *testing.T) *feEnv {
	t.Helper()
	if landlock.ABI() == 0 {
		t.Skip("kernel without Landlock (not in /sys/kernel/security/lsm)")
	}
	return newFE(t)
}

// hostDir is a host directory for a volume, reachable by the container's
// mapped ids.
func hostDir(t *testing.T) string {
	d := t.TempDir()
	testutil.OpenToAll(t, d)
	return d
}

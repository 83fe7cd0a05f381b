package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/testutil"
)

// TestFrontendNeedsRoot: until rootless mode exists, the front end run by
// an unprivileged user fails at once with a plain message and Docker's
// "the tool failed" code 125, and creates nothing (not its --storage, not
// its --root). It used to get as far as `lock /var/lib/tirith/lock:
// permission denied`, or to make a store where it could.
func TestFrontendNeedsRoot(t *testing.T) {
	t.Parallel()
	f := newFE(t)
	// A copy of the binary that uid 65534 may run (the build dir is 0700).
	binDir := t.TempDir()
	testutil.OpenToAll(t, binDir)
	bin := filepath.Join(binDir, "tirith")
	copyFile(t, tirithBin, bin)
	// A directory nobody may write to: what the front end does not
	// create there, it did not create because it stopped first.
	play := t.TempDir()
	testutil.OpenToAll(t, play)
	must(t, os.Chmod(play, 0o777))
	storage, root := filepath.Join(play, "storage"), filepath.Join(play, "root")

	asNobody := func(args ...string) result {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = play
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + play}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		must(t, cmd.Start())
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("tirith %v as uid 65534: timed out", args)
		}
		return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	}
	for _, args := range [][]string{
		{"run", "--rm", f.image, "true"},
		{"run", "-d", "--name", "x", f.image, "sleep", "10"},
		{"ps", "-a"},
		{"exec", "-i", "x", "true"},
		{"kill", "-s", "KILL", "x"},
		{"logs", "x"},
		{"stop", "x"},
		{"rm", "-f", "x"},
		{"pull", f.image},
		{"images"},
		{"inspect", "x"},
		{"system", "prune", "-f"},
	} {
		r := asNobody(append([]string{"--root", root, "--storage", storage}, args...)...)
		verb := "tirith " + args[0]
		if args[0] == "system" {
			verb = "tirith system prune"
		}
		want := verb + ": the front end needs root for now (rootless mode is not implemented): run it as root, e.g. with sudo\n"
		if r.code != 125 || r.stderr != want {
			t.Errorf("%v as uid 65534: exit %d, stderr %q; want 125 and %q", args, r.code, r.stderr, want)
		}
		for _, d := range []string{storage, root} {
			if _, err := os.Lstat(d); err == nil {
				t.Errorf("%v as uid 65534 created %s", args, d)
				os.RemoveAll(d)
			}
		}
	}
	// The default store: the message, not a lock error.
	if r := asNobody("run", "--rm", f.image, "true"); r.code != 125 || !strings.Contains(r.stderr, "tirith run: the front end needs root for now") {
		t.Errorf("run as uid 65534 with the default store: exit %d, stderr %q", r.code, r.stderr)
	}
	if entries, _ := os.ReadDir(play); len(entries) != 0 {
		t.Errorf("left in the working directory: %v", entries)
	}
}

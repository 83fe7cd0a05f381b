package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tirith-project/tirith/internal/testutil"
)

// TestFrontendDetached: run -d, ps, logs, exec, stop, wait, rm, and
// nothing left afterwards.
func TestFrontendDetached(t *testing.T) {
	f := newFE(t)
	n := f.name()
	f.cleanupFE(n)
	id := strings.TrimSpace(f.feOK("run", "-d", "--name", n, f.image, "sh", "-c", "echo to-out; echo to-err >&2; exec sleep 1000").stdout)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want the container id", id)
	}
	if r := f.fe("run", "-d", "--name", n, f.image, "true"); r.code != 125 || !strings.Contains(r.stderr, "already in use") {
		t.Errorf("duplicate name: exit %d %s", r.code, r.stderr)
	}
	if out := f.feOK("ps").stdout; !strings.Contains(out, id[:12]) || !strings.Contains(out, n) {
		t.Errorf("ps lacks the container:\n%s", out)
	}
	waitFor(t, "logs", func() bool {
		r := f.fe("logs", n)
		return r.stdout == "to-out\n" && r.stderr == "to-err\n"
	})
	if out := f.feOK("exec", n, "echo", "hi").stdout; out != "hi\n" {
		t.Errorf("exec: %q", out)
	}
	if out := f.feOK("exec", "-u", "app", "-w", "/data", n, "sh", "-c", "id -u; pwd").stdout; out != "1000\n/data\n" {
		t.Errorf("exec -u -w: %q", out)
	}
	if out := f.feOK("exec", "-i", n, "cat").stdout; out != "" {
		t.Errorf("exec -i with empty stdin: %q", out)
	}
	if r := f.fe("exec", n, "sh", "-c", "exit 4"); r.code != 4 {
		t.Errorf("exec exit code %d, want 4", r.code)
	}
	// exec runs behind the same walls.
	if out := f.feOK("exec", n, "grep", "-E", "^(Seccomp|NoNewPrivs):", "/proc/self/status").stdout; !strings.Contains(out, "Seccomp:\t2") || !strings.Contains(out, "NoNewPrivs:\t1") {
		t.Errorf("exec walls: %q", out)
	}
	if r := f.fe("rm", n); r.code == 0 || !strings.Contains(r.stderr, "running") {
		t.Errorf("rm of a running container: exit %d %s", r.code, r.stderr)
	}
	// sh as pid 1 ignores SIGTERM: stop falls back to SIGKILL.
	start := time.Now()
	f.feOK("stop", "-t", "1", n)
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("stop took %v", d)
	}
	if out := f.feOK("wait", n).stdout; out != "137\n" {
		t.Errorf("wait: %q, want 137", out)
	}
	if row := f.row(n); row == nil || row.Status != "exited" || row.ExitCode != 137 {
		t.Errorf("record after stop: %+v", row)
	}
	if out := f.feOK("ps").stdout; strings.Contains(out, id[:12]) {
		t.Errorf("ps (running only) lists a stopped container:\n%s", out)
	}
	f.feOK("rm", n)
	f.assertFEGone(id)
	if r := f.fe("logs", n); r.code == 0 {
		t.Error("logs of a removed container succeeded")
	}
}

// TestFrontendKillWait: kill -s TERM delivers SIGTERM, not the default
// SIGKILL, to a process that handles it: its handler's exit code (7, where
// SIGKILL would give 137) is what wait prints and ps records. Under --rm -d
// the record goes with the container, so there the handler leaves its mark
// on a volume; the container then removes itself. wait prints a plain
// exit code, and kill without -s is SIGKILL (137).
func TestFrontendKillWait(t *testing.T) {
	f := newFE(t)
	// sh as pid 1 gets SIGTERM only through a handler (the kernel drops
	// unhandled signals to a pid namespace's init): "ready" says the
	// trap is in place before the signal is sent.
	script := "trap 'echo TERM > /out/signal; exit 7' TERM; echo ready > /out/ready; while :; do sleep 0.1; done"
	newOut := func() string {
		dir := t.TempDir()
		testutil.OpenToAll(t, dir)
		must(t, os.Chmod(dir, 0o777)) // container root is an unprivileged host uid
		return dir
	}
	waitReady := func(out string) {
		waitFor(t, "the TERM handler to be installed", func() bool {
			_, err := os.Stat(filepath.Join(out, "ready"))
			return err == nil
		})
	}

	out := newOut()
	n := f.name()
	f.cleanupFE(n)
	f.feOK("run", "-d", "--name", n, "-v", out+":/out", f.image, "sh", "-c", script)
	waitReady(out)
	f.feOK("kill", "-s", "TERM", n)
	if got := f.feOK("wait", n).stdout; got != "7\n" {
		t.Errorf("wait after kill -s TERM: %q, want the TERM handler's 7 (137 would be SIGKILL)", got)
	}
	if row := f.row(n); row == nil || row.Status != "exited" || row.ExitCode != 7 {
		t.Errorf("record after kill -s TERM: %+v, want exited with code 7", row)
	}
	f.feOK("rm", n)

	out = newOut()
	n1 := f.name()
	f.cleanupFE(n1)
	id := strings.TrimSpace(f.feOK("run", "-d", "--rm", "--name", n1, "-v", out+":/out", f.image, "sh", "-c", script).stdout)
	waitReady(out)
	f.feOK("kill", "-s", "TERM", n1)
	f.waitGone(id)
	f.assertFEGone(id)
	if b, err := os.ReadFile(filepath.Join(out, "signal")); err != nil || string(b) != "TERM\n" {
		t.Errorf("--rm container: the TERM handler did not run (signal file %q, %v)", b, err)
	}

	n2 := f.name()
	f.cleanupFE(n2)
	f.feOK("run", "-d", "--name", n2, f.image, "sh", "-c", "sleep 0.3; exit 5")
	if out := f.feOK("wait", n2).stdout; out != "5\n" {
		t.Errorf("wait: %q", out)
	}
	// kill without -s: SIGKILL, Docker's default (runc's is SIGTERM,
	// under tirith-runc and tirith runtime).
	n3 := f.name()
	f.cleanupFE(n3)
	f.feOK("run", "-d", "--name", n3, f.image, "sleep", "1000")
	f.feOK("kill", n3)
	if out := f.feOK("wait", n3).stdout; out != "137\n" {
		t.Errorf("wait after kill: %q", out)
	}
}

// TestFrontendDiff: A/C/D from the overlay upper dir.
func TestFrontendDiff(t *testing.T) {
	f := newFE(t)
	n := f.name()
	f.cleanupFE(n)
	f.feOK("run", "--name", n, "--read-only=false", f.image, "sh", "-c", "echo x > /newfile; mkdir /newdir; touch /newdir/f; echo y > /data/file; rm /data/gone")
	got := f.feOK("diff", n).stdout
	want := "C /data\nC /data/file\nD /data/gone\nA /newdir\nA /newdir/f\nA /newfile\n"
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	f.feOK("rm", n)
}

// TestFrontendSecrets: a --secret is a file on a tmpfs with its mode and
// owner, and its content is nowhere else: not in the store, the runtime
// state, the logs or the environment.
func TestFrontendSecrets(t *testing.T) {
	f := newFE(t)
	content := "s3cr3t-" + f.name()
	src := filepath.Join(t.TempDir(), "dbpass")
	must(t, os.WriteFile(src, []byte(content), 0o600))
	out := f.runOut([]string{"--secret", src + ",target=db,mode=0440,uid=1000,gid=2000", "-u", "app"},
		"sh", "-c", "stat -c '%a %u %g' /run/secrets/db; cat /run/secrets/db; echo; touch /run/secrets/x 2>/dev/null || echo ro")
	if out != "440 1000 2000\n"+content+"\nro\n" {
		t.Errorf("secret inside: %q", out)
	}
	n := f.name()
	f.cleanupFE(n)
	id := strings.TrimSpace(f.feOK("run", "-d", "--name", n, "--secret", src, f.image, "sh", "-c", "ls /run/secrets; env; exec sleep 1000").stdout)
	if out := f.feOK("exec", n, "cat", "/run/secrets/dbpass").stdout; out != content {
		t.Errorf("secret default target: %q", out)
	}
	if out := f.feOK("exec", n, "stat", "-c", "%a %u", "/run/secrets/dbpass").stdout; out != "400 0\n" {
		t.Errorf("secret default mode/owner: %q", out)
	}
	if out := f.feOK("exec", n, "env").stdout; strings.Contains(out, content) {
		t.Error("secret in the environment")
	}
	waitFor(t, "logs", func() bool { return strings.Contains(f.fe("logs", n).stdout, "dbpass") })
	secretsMount := filepath.Join(f.storage, "containers", id, "secrets")
	for _, dir := range []string{f.storage, f.root} {
		filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if p == secretsMount {
				return filepath.SkipDir // the tmpfs that holds it by design
			}
			if info.Mode().IsRegular() {
				if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(content)) {
					t.Errorf("secret content found in %s", p)
				}
			}
			return nil
		})
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if !strings.Contains(string(mi), secretsMount+" ") || !strings.Contains(string(mi), "tmpfs") {
		t.Errorf("secrets dir is not a tmpfs mount")
	}
	f.feOK("rm", "-f", n)
	f.assertFEGone(id)
}

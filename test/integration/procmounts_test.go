package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/testutil"
)

// Mounts onto /proc and a cwd outside the root. A bind mount onto a
// /proc file stays writable when /proc/sys is made read-only (the
// read-only remount does not reach mounts below it): a container could
// write host sysctls, or any host file, through it. Tirith, as runc,
// allows a proc mount at /proc and bind mounts onto the few /proc files
// lxcfs emulates, and refuses anything else under /proc, by the
// configured destination and by where it resolves inside the rootfs.

// TestMountUnderProcRefused: each refused with an error naming the mount
// and /proc; the payload (which writes through the mount) never runs,
// the host file is untouched and nothing is left.
func TestMountUnderProcRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name    string
		dest    string
		tmpfs   bool
		symlink string // rootfs/mnt/k -> symlink
		want    []string
	}{
		{name: "bind onto a sysctl", dest: "/proc/sys/kernel/hostname",
			want: []string{`destination "/proc/sys/kernel/hostname"`, "/proc"}},
		{name: "tmpfs over /proc/sys", dest: "/proc/sys", tmpfs: true,
			want: []string{`destination "/proc/sys"`, "/proc"}},
		{name: "bind onto /proc/self", dest: "/proc/self/attr/current",
			want: []string{`destination "/proc/self/attr/current"`}},
		{name: "through a symlink in the rootfs", dest: "/mnt/k/hostname", symlink: "/proc/sys/kernel",
			want: []string{`"/mnt/k/hostname"`, "/proc/sys/kernel/hostname"}},
		{name: "through a relative symlink", dest: "/mnt/k/hostname", symlink: "../proc/sys/kernel",
			want: []string{`"/mnt/k/hostname"`, "/proc/sys/kernel/hostname"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &env{t: t, root: e.root}
			host := filepath.Join(t.TempDir(), "host-file")
			must(t, os.WriteFile(host, []byte("host\n"), 0o666))
			idx := -1
			b := e.bundle(func(s *specs.Spec) {
				noLandlock(s)
				idx = len(s.Mounts)
				m := specs.Mount{Destination: tc.dest, Type: "bind", Source: host, Options: []string{"bind", "rw"}}
				if tc.tmpfs {
					m = specs.Mount{Destination: tc.dest, Type: "tmpfs", Source: "tmpfs"}
				}
				s.Mounts = append(s.Mounts, m)
			}, "sh", "-c", "echo pwned > "+tc.dest)
			if tc.symlink != "" {
				must(t, os.Symlink(tc.symlink, filepath.Join(b, "rootfs", "mnt", "k")))
			}
			id := e.id()
			e.cleanup(id)
			r := e.runc("run", "--bundle", b, id)
			if data, _ := os.ReadFile(host); string(data) != "host\n" {
				t.Errorf("the container wrote the host file through %s: %q", tc.dest, data)
			}
			if r.code == 0 {
				t.Fatalf("run with a mount on %s succeeded", tc.dest)
			}
			for _, w := range append(tc.want, "mounts["+itoa(idx)+"]") {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("error %q does not name %q", strings.TrimSpace(r.stderr), w)
				}
			}
			e.assertGone(id, b)
		})
	}
}

// TestMountProcAllowList: the files lxcfs emulates can be covered by a
// bind mount, as with runc.
func TestMountProcAllowList(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	uptime, meminfo := filepath.Join(dir, "uptime"), filepath.Join(dir, "meminfo")
	must(t, os.WriteFile(uptime, []byte("12345.67 890.12\n"), 0o644))
	must(t, os.WriteFile(meminfo, []byte("MemTotal: 42 kB\n"), 0o644))
	b := e.bundle(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/proc/uptime", Type: "bind", Source: uptime, Options: []string{"bind", "ro"}},
			specs.Mount{Destination: "/proc/meminfo", Type: "bind", Source: meminfo, Options: []string{"bind", "ro"}},
		)
	}, "cat", "/proc/uptime", "/proc/meminfo")
	if out := e.cfgRunOK(b); out != "12345.67 890.12\nMemTotal: 42 kB\n" {
		t.Errorf("lxcfs-style binds onto /proc: container saw %q", out)
	}
}

// runWithDirFD runs tirith with dir as fd 3 (for --preserve-fds 1).
func (e *env) runWithDirFD(dir string, args ...string) result {
	e.t.Helper()
	f, err := os.Open(dir)
	must(e.t, err)
	defer f.Close()
	outF, err := os.CreateTemp(e.t.TempDir(), "out")
	must(e.t, err)
	defer outF.Close()
	errF, err := os.CreateTemp(e.t.TempDir(), "err")
	must(e.t, err)
	defer errF.Close()
	cmd := exec.Command(runcBin, append([]string{"--root", e.root}, args...)...)
	cmd.Stdout, cmd.Stderr = outF, errF
	cmd.ExtraFiles = []*os.File{f}
	must(e.t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		e.t.Fatalf("tirith %v: timed out", args)
	}
	out, _ := os.ReadFile(outF.Name())
	errb, _ := os.ReadFile(errF.Name())
	return result{stdout: string(out), stderr: string(errb), code: cmd.ProcessState.ExitCode()}
}

// TestProcessCwdOutsideRoot: a cwd under /proc is refused by validation;
// one that resolves outside the container's root (a symlink in the
// rootfs to /proc/self/fd/3, a host directory passed with
// --preserve-fds) is refused by the init after chdir, at create and at
// exec. The payload never sees the host directory.
func TestProcessCwdOutsideRoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hostDir := t.TempDir()
	must(t, os.Chmod(hostDir, 0o755))
	must(t, os.WriteFile(filepath.Join(hostDir, "host-secret"), nil, 0o644))

	t.Run("validation", func(t *testing.T) {
		e := &env{t: t, root: e.root}
		b := e.bundle(func(s *specs.Spec) { s.Process.Cwd = "/proc/self/fd/3" }, "ls")
		e.createFails(b, e.id(), "process.cwd", `"/proc/self/fd/3"`)
	})

	t.Run("symlink at create", func(t *testing.T) {
		e := &env{t: t, root: e.root}
		// Without Landlock: the cwd check alone must stop it (the
		// default Landlock policy would refuse to read the directory).
		b := e.bundle(func(s *specs.Spec) { noLandlock(s); s.Process.Cwd = "/work" }, "ls")
		must(t, os.Symlink("/proc/self/fd/3", filepath.Join(b, "rootfs", "work")))
		id := e.id()
		e.cleanup(id)
		r := e.runWithDirFD(hostDir, "run", "--preserve-fds", "1", "--bundle", b, id)
		if strings.Contains(r.stdout, "host-secret") {
			t.Errorf("the payload listed the host directory from its cwd:\n%s", r.stdout)
		}
		if r.code == 0 || !strings.Contains(r.stderr, "process.cwd") || !strings.Contains(r.stderr, `"/work"`) || !strings.Contains(r.stderr, "outside") {
			t.Errorf("run: exit %d, stderr %q; want a refusal naming process.cwd \"/work\" outside the root", r.code, r.stderr)
		}
		e.assertGone(id, b)
	})

	t.Run("symlink at exec", func(t *testing.T) {
		e := &env{t: t, root: e.root}
		id, b := e.execContainer(noLandlock)
		must(t, os.Symlink("/proc/self/fd/3", filepath.Join(b, "rootfs", "work")))
		r := e.runWithDirFD(hostDir, "exec", "--preserve-fds", "1", "--cwd", "/work", id, "ls")
		if strings.Contains(r.stdout, "host-secret") {
			t.Errorf("the exec'd process listed the host directory from its cwd:\n%s", r.stdout)
		}
		if r.code == 0 || !strings.Contains(r.stderr, "process.cwd") || !strings.Contains(r.stderr, "outside") {
			t.Errorf("exec: exit %d, stderr %q; want a refusal naming process.cwd outside the root", r.code, r.stderr)
		}
		if st := e.state(id).Status; st != specs.StateRunning {
			t.Errorf("container is %s after the refused exec, want running", st)
		}
		e.ok("delete", "--force", id)
		e.assertGone(id, b)
	})
}

// The front end's -v goes through the same check: refused with Docker's
// 125, naming the destination, and nothing of the container is left.
func TestFrontendVolumeUnderProcRefused(t *testing.T) {
	t.Parallel()
	f := newFE(t)
	dir := t.TempDir()
	testutil.OpenToAll(t, dir) // the container's mapped root must reach it
	host := filepath.Join(dir, "host-file")
	must(t, os.WriteFile(host, []byte("host\n"), 0o666))
	n := f.name()
	f.cleanupFE(n)
	r := f.fe("run", "--rm", "--name", n, "-v", host+":/proc/sys/kernel/hostname", f.image, "sh", "-c", "echo pwned > /proc/sys/kernel/hostname")
	if r.code != 125 || !strings.Contains(r.stderr, `destination "/proc/sys/kernel/hostname": mounts under /proc are refused`) {
		t.Errorf("run -v onto a sysctl: exit %d, stderr %q; want 125 naming the destination", r.code, r.stderr)
	}
	t.Logf("refused: %s", strings.TrimSpace(r.stderr))
	if data, _ := os.ReadFile(host); string(data) != "host\n" {
		t.Errorf("the container wrote the host file: %q", data)
	}
	if row := f.row(n); row != nil {
		t.Errorf("refused container still listed: %+v", *row)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), n) {
		t.Errorf("mounts of %s left behind", n)
	}
}

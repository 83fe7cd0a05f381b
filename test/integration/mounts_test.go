package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// root.readonly: true makes / read-only (EROFS); false lets the container
// write to its rootfs, and the write lands in the bundle's rootfs.
func TestRootReadonly(t *testing.T) {
	t.Parallel()
	t.Run("true", func(t *testing.T) {
		e := newEnv(t)
		r := e.cfgShResult(func(s *specs.Spec) { s.Root.Readonly = true; cfgNoLandlock(s) }, `touch /written 2>&1; echo rc=$?; cat /proc/self/mountinfo`)
		if !strings.Contains(r.stdout, "Read-only file system") || !strings.Contains(r.stdout, "rc=1") {
			t.Errorf("write to a read-only root:\n%s%s", r.stdout, r.stderr)
		}
		mnt, _ := cfgMountOpts(cfgMountLine(r.stdout, "/"))
		if !cfgContains(mnt, "ro") {
			t.Errorf("/ mount options %v, want ro", mnt)
		}
	})
	t.Run("false", func(t *testing.T) {
		e := newEnv(t)
		b := e.bundle(func(s *specs.Spec) { s.Root.Readonly = false; cfgNoLandlock(s) }, "sh", "-c", `echo hello > /written && cat /written`)
		if out := e.cfgRunOK(b); strings.TrimSpace(out) != "hello" {
			t.Errorf("read back %q", out)
		}
		data, err := os.ReadFile(filepath.Join(cfgRootfs(b), "written"))
		if err != nil || string(data) != "hello\n" {
			t.Errorf("the write is not in the bundle's rootfs: %q, %v", data, err)
		}
	})
}

// --no-pivot: MS_MOVE + chroot still gives the rootfs as / with the
// spec's mounts, pid 1 and a read-only root.
func TestNoPivot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sh", "-c", `echo pid=$$; echo probe=$(test -x /bin/probe && echo yes); echo work=$(test -e /work && echo yes || echo no); touch /x 2>/dev/null && echo rw=yes || echo rw=no; echo tmp=$(grep -c ' /tmp ' /proc/self/mountinfo)`)
	m := cfgKV(t, e.cfgRunOK(b, "--no-pivot"))
	if m["pid"] != "1" || m["probe"] != "yes" || m["work"] != "no" || m["rw"] != "no" || m["tmp"] != "1" {
		t.Errorf("--no-pivot container saw %v, want pid 1, /bin/probe, no /work, read-only /, one /tmp mount", m)
	}
}

// A tmpfs with size= and mode= shows both in mountinfo and stat.
func TestMountTmpfsSizeMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=2m", "mode=0710", "nosuid", "nodev", "noexec"}})
	}, `echo mode=$(stat -c %a /data); echo df=$(df -k /data | tail -1 | awk '{print $2}'); grep ' /data ' /proc/self/mountinfo`)
	m := cfgKV(t, out)
	if m["mode"] != "710" {
		t.Errorf("stat mode of /data %q, want 710", m["mode"])
	}
	if m["df"] != "2048" {
		t.Errorf("size of /data %q KiB, want 2048", m["df"])
	}
	mnt, super := cfgMountOpts(cfgMountLine(out, "/data"))
	for _, o := range []string{"nosuid", "nodev", "noexec"} {
		if !cfgContains(mnt, o) {
			t.Errorf("/data mount options %v lack %s", mnt, o)
		}
	}
	if !cfgContains(super, "size=2048k") || !cfgContains(super, "mode=710") {
		t.Errorf("/data tmpfs options %v, want size=2048k and mode=710", super)
	}
}

// Bind mounts of a host directory and a host file, with a source relative
// to the bundle too; "ro" makes one read-only; a rw bind writes through
// to the host.
func TestMountBind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hostDir := t.TempDir()
	must(t, os.Chmod(hostDir, 0o755))
	must(t, os.WriteFile(filepath.Join(hostDir, "in-dir"), []byte("from-dir\n"), 0o644))
	hostFile := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(hostFile, []byte("from-file\n"), 0o644))
	roDir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(roDir, "ro-file"), []byte("ro\n"), 0o644))

	b := e.bundle(nil)
	must(t, os.MkdirAll(filepath.Join(b, "data"), 0o755))
	must(t, os.WriteFile(filepath.Join(b, "data", "rel.txt"), []byte("from-bundle\n"), 0o644))
	cfgRewrite(t, b, func(s *specs.Spec) {
		cfgNoLandlock(s) // only the mount options may refuse the writes
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/mnt/dir", Type: "bind", Source: hostDir, Options: []string{"rbind", "rw"}},
			specs.Mount{Destination: "/mnt/file", Type: "bind", Source: hostFile, Options: []string{"bind"}},
			specs.Mount{Destination: "/mnt/rel", Type: "bind", Source: "data/rel.txt", Options: []string{"bind", "ro"}},
			specs.Mount{Destination: "/mnt/ro", Type: "bind", Source: roDir, Options: []string{"bind", "ro"}},
		)
		s.Process.Args = []string{"sh", "-c", `cat /mnt/dir/in-dir /mnt/file /mnt/rel
echo written > /mnt/dir/new && echo dirw=ok
touch /mnt/ro/x 2>&1; echo row=$?
{ echo nope >> /mnt/rel; } 2>&1; echo relw=$?
grep -E ' /mnt/(ro|rel) ' /proc/self/mountinfo`}
	})
	out := e.cfgRunOK(b)
	for _, w := range []string{"from-dir", "from-file", "from-bundle", "dirw=ok", "row=1", "relw=1"} {
		if !strings.Contains(out, w) {
			t.Errorf("container output lacks %q:\n%s", w, out)
		}
	}
	if strings.Count(out, "Read-only file system") != 2 {
		t.Errorf("want two EROFS errors for the ro binds:\n%s", out)
	}
	for _, d := range []string{"/mnt/ro", "/mnt/rel"} {
		if mnt, _ := cfgMountOpts(cfgMountLine(out, d)); !cfgContains(mnt, "ro") {
			t.Errorf("%s mount options %v, want ro", d, mnt)
		}
	}
	if data, err := os.ReadFile(filepath.Join(hostDir, "new")); err != nil || string(data) != "written\n" {
		t.Errorf("rw bind did not write through to the host: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(roDir, "x")); err == nil {
		t.Errorf("ro bind: a file was created on the host")
	}
}

// nosuid, nodev and noexec on a bind mount show in mountinfo, and noexec
// stops execution from it.
func TestMountBindFlags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	copyFile(t, busybox, filepath.Join(dir, "true"))
	out := e.cfgSh(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/opt/flags", Type: "bind", Source: dir, Options: []string{"bind", "nosuid", "nodev", "noexec"}},
			specs.Mount{Destination: "/opt/plain", Type: "bind", Source: dir, Options: []string{"bind", "ro"}},
		)
	}, `/opt/flags/true 2>&1; echo noexec=$?; /opt/plain/true; echo exec=$?; grep -E ' /opt/(flags|plain) ' /proc/self/mountinfo`)
	m := cfgKV(t, out)
	if m["noexec"] == "0" || m["exec"] != "0" {
		t.Errorf("exec from noexec bind: %s, from plain bind: %s; want failure then success\n%s", m["noexec"], m["exec"], out)
	}
	mnt, _ := cfgMountOpts(cfgMountLine(out, "/opt/flags"))
	for _, o := range []string{"nosuid", "nodev", "noexec", "rw"} {
		if !cfgContains(mnt, o) {
			t.Errorf("/opt/flags options %v lack %s", mnt, o)
		}
	}
	mnt, _ = cfgMountOpts(cfgMountLine(out, "/opt/plain"))
	if cfgContains(mnt, "noexec") || cfgContains(mnt, "nosuid") || !cfgContains(mnt, "ro") {
		t.Errorf("/opt/plain options %v: want ro and neither noexec nor nosuid", mnt)
	}
}

// Mount destinations that do not exist are created, parents included,
// for a directory mount and a file bind mount.
func TestMountDestinationCreated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	f := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(f, []byte("nested-file\n"), 0o644))
	b := e.bundle(nil)
	cfgRewrite(t, b, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/a/b/c", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
			specs.Mount{Destination: "/x/y/z/file", Type: "bind", Source: f, Options: []string{"bind", "ro"}},
		)
		s.Process.Args = []string{"sh", "-c", `test -d /a/b/c && echo dir=ok; cat /x/y/z/file; grep -cE ' /(a/b/c|x/y/z/file) ' /proc/self/mountinfo`}
	})
	out := e.cfgRunOK(b)
	ls := cfgLines(out)
	if len(ls) != 3 || ls[0] != "dir=ok" || ls[1] != "nested-file" || ls[2] != "2" {
		t.Errorf("nested destinations: %q", out)
	}
	if st, err := os.Stat(filepath.Join(cfgRootfs(b), "a", "b", "c")); err != nil || !st.IsDir() {
		t.Errorf("rootfs/a/b/c not created as a directory: %v", err)
	}
}

// Mount propagation options: a host mount event under a bind-mounted
// shared host directory reaches an "rslave" bind in the container and not
// an "rprivate" one; "shared" shows as a peer group in mountinfo.
func TestMountPropagation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	src := t.TempDir()
	must(t, os.Chmod(src, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tirith-prop-src", src).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v %s", src, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-R", "-l", src).Run() })
	if out, err := exec.Command("mount", "--make-shared", src).CombinedOutput(); err != nil {
		t.Fatalf("make-shared: %v %s", err, out)
	}
	must(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))

	b := e.bundle(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/mnt/slave", Type: "bind", Source: src, Options: []string{"rbind", "rslave"}},
			specs.Mount{Destination: "/mnt/private", Type: "bind", Source: src, Options: []string{"rbind", "rprivate"}},
			specs.Mount{Destination: "/mnt/shared", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "shared"}},
		)
	}, "sleep", "100")
	id := e.running(b)
	pid := strconv.Itoa(e.state(id).Pid)

	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tirith-prop-event", filepath.Join(src, "sub")).CombinedOutput(); err != nil {
		t.Fatalf("host mount event: %v %s", err, out)
	}
	mi, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	must(t, err)
	if cfgMountLine(string(mi), "/mnt/slave/sub") == "" {
		t.Errorf("rslave bind did not receive the host's mount:\n%s", mi)
	}
	if l := cfgMountLine(string(mi), "/mnt/private/sub"); l != "" {
		t.Errorf("rprivate bind received the host's mount: %s", l)
	}
	slave := strings.Fields(cfgMountLine(string(mi), "/mnt/slave"))
	private := strings.Fields(cfgMountLine(string(mi), "/mnt/private"))
	shared := strings.Fields(cfgMountLine(string(mi), "/mnt/shared"))
	if len(slave) < 7 || !strings.HasPrefix(slave[6], "master:") {
		t.Errorf("/mnt/slave optional fields: %v, want master:N", slave)
	}
	if len(private) < 7 || private[6] != "-" {
		t.Errorf("/mnt/private optional fields: %v, want none", private)
	}
	if len(shared) < 7 || !strings.HasPrefix(shared[6], "shared:") {
		t.Errorf("/mnt/shared optional fields: %v, want shared:N", shared)
	}
	// And nothing of the container's propagated back to the host.
	if strings.Contains(cfgHostMountinfo(t), b) {
		t.Errorf("container mounts propagated to the host")
	}
	e.ok("delete", "--force", id)
	e.assertGone(id, b)
}

// A symlink planted in the rootfs cannot redirect a mount onto the host:
// absolute "/", relative "../../../..", and an absolute link to a real
// host directory all resolve inside the rootfs.
func TestMountSymlinkCannotEscapeRootfs(t *testing.T) {
	t.Parallel()
	hostDir := t.TempDir()
	must(t, os.Chmod(hostDir, 0o755))
	marker := filepath.Join(hostDir, "marker")
	must(t, os.WriteFile(marker, []byte("untouched\n"), 0o644))

	for _, tc := range []struct {
		name, link string
	}{
		{"absolute-root", "/"},
		{"relative-dotdot", "../../../.."},
		{"host-dir", hostDir},
		{"host-dir-dangling", hostDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			uniq := fmt.Sprintf("tirith-escape-%d-%d", os.Getpid(), idSeq.Add(1))
			// Where the mount would land on the host if the link were
			// followed outside the rootfs, and where it must land inside.
			var dest, hostEscape, inside string
			if strings.HasPrefix(tc.name, "host-dir") {
				dest = "/evil/" + uniq
				hostEscape = filepath.Join(hostDir, uniq)
				inside = filepath.Join(hostDir, uniq)
			} else {
				dest = "/evil/tmp/" + uniq
				hostEscape = filepath.Join("/tmp", uniq)
				inside = "/tmp/" + uniq
			}
			b := e.bundle(func(s *specs.Spec) {
				// First, before /tmp hides the rootfs's own /tmp.
				s.Mounts = append([]specs.Mount{{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}}}, s.Mounts...)
			}, "sh", "-c", "cat /proc/self/mountinfo")
			must(t, os.Symlink(tc.link, filepath.Join(cfgRootfs(b), "evil")))
			if tc.name == "host-dir" {
				// The link's target exists inside the rootfs too.
				must(t, os.MkdirAll(filepath.Join(cfgRootfs(b), hostDir), 0o755))
			}
			t.Cleanup(func() { os.RemoveAll(hostEscape) })

			r := e.cfgRun(b)
			if tc.name == "host-dir-dangling" {
				// The link leads nowhere inside the rootfs: refusing
				// (as runc does) or creating it inside are both safe.
				if r.code != 0 && !strings.Contains(r.stderr, "/evil/") {
					t.Errorf("refusal does not name the destination: %s", r.stderr)
				}
			} else if r.code != 0 {
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			}
			if r.code == 0 && cfgMountLine(r.stdout, inside) == "" {
				t.Errorf("the mount is not at %s inside the container:\n%s", inside, r.stdout)
			}
			if _, err := os.Lstat(hostEscape); err == nil {
				t.Errorf("the mount target was created on the host at %s", hostEscape)
			}
			if cfgMountLine(cfgHostMountinfo(t), hostEscape) != "" {
				t.Errorf("the host got a mount at %s", hostEscape)
			}
			if data, _ := os.ReadFile(marker); string(data) != "untouched\n" {
				t.Errorf("host marker changed: %q", data)
			}
			if ents, _ := os.ReadDir(hostDir); len(ents) != 1 {
				t.Errorf("host dir %s gained entries: %v", hostDir, ents)
			}
		})
	}
}

// maskedPaths: a masked file reads empty, a masked directory is empty;
// the default masks hide /proc/keys, /proc/timer_list (and /proc/kcore
// where the kernel has it); readonlyPaths refuse writes.
func TestMaskedAndReadonlyPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil)
	root := cfgRootfs(b)
	must(t, os.WriteFile(filepath.Join(root, "etc", "secret"), []byte("top-secret\n"), 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "etc", "secretdir"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc", "secretdir", "inner"), []byte("inner-secret\n"), 0o644))
	_, kcoreErr := os.Stat("/proc/kcore")
	cfgRewrite(t, b, func(s *specs.Spec) {
		s.Linux.MaskedPaths = append(s.Linux.MaskedPaths, "/etc/secret", "/etc/secretdir")
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}})
		s.Linux.ReadonlyPaths = append(s.Linux.ReadonlyPaths, "/data")
		s.Process.Args = []string{"sh", "-c", `echo secret=$(wc -c < /etc/secret); echo secretdir=$(ls -A /etc/secretdir | wc -l)
echo keys=$(stat -c %t:%T /proc/keys)
echo timer=$(stat -c %t:%T /proc/timer_list)
echo keysz=$(wc -c < /proc/keys)
echo kcore=$(stat -c %t:%T /proc/kcore 2>/dev/null || echo absent)
touch /data/x 2>&1; echo data=$?
{ echo 1 > /proc/sys/net/ipv4/ip_forward; } 2>&1; echo procsys=$?
cat /etc/secret /etc/secretdir/inner 2>&1; true`}
	})
	out := e.cfgRunOK(b)
	m := cfgKV(t, out)
	if m["secret"] != "0" || m["secretdir"] != "0" || strings.Contains(out, "top-secret") || strings.Contains(out, "inner-secret") {
		t.Errorf("masked file/dir not hidden: %v\n%s", m, out)
	}
	if m["keys"] != "1:3" || m["timer"] != "1:3" || m["keysz"] != "0" {
		t.Errorf("default masks: /proc/keys %s, /proc/timer_list %s (size %s), want /dev/null 1:3", m["keys"], m["timer"], m["keysz"])
	}
	if kcoreErr == nil && m["kcore"] != "1:3" {
		t.Errorf("/proc/kcore is %s, want masked (1:3)", m["kcore"])
	}
	if m["data"] != "1" || m["procsys"] == "0" || strings.Count(out, "Read-only file system") < 2 {
		t.Errorf("readonlyPaths: /data write rc %s, /proc/sys write rc %s, want EROFS:\n%s", m["data"], m["procsys"], out)
	}
}

// Container root under the default spec (no CAP_SYS_ADMIN) cannot take the
// masks or the read-only paths away.
func TestMasksCannotBeRemoved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(nil, `umount /proc/keys 2>&1; echo umkeys=$?
umount -l /proc/timer_list 2>&1; echo umtimer=$?
umount /proc/sys 2>&1; echo umsys=$?
mount -o remount,rw /proc/sys 2>&1; echo remount=$?
mount --bind /proc /mnt 2>&1; echo bindproc=$?
echo keysz=$(wc -c < /proc/keys)
echo timer=$(stat -c %t:%T /proc/timer_list)
{ echo 1 > /proc/sys/net/ipv4/ip_forward; } 2>&1; echo procsys=$?`)
	m := cfgKV(t, out)
	for _, k := range []string{"umkeys", "umtimer", "umsys", "remount", "bindproc", "procsys"} {
		if m[k] == "0" || m[k] == "" {
			t.Errorf("%s succeeded (rc %q) in a default container:\n%s", k, m[k], out)
		}
	}
	if m["keysz"] != "0" || m["timer"] != "1:3" {
		t.Errorf("masks gone after the attempts: %v", m)
	}
}

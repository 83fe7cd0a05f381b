package audit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The limits are read on each cgroup layout: v2 (one 0:: line), v1
// (a line per controller) and hybrid (both).
func TestCgroupLimitsLayouts(t *testing.T) {
	for _, c := range []struct {
		name         string
		files        map[string]string
		mode         string
		memory, pids bool
	}{
		{"v2", map[string]string{
			"proc/cgroup":              "0::/tirith/abc\n",
			"cg/tirith/abc/memory.max": "536870912\n", "cg/tirith/abc/pids.max": "1024\n", "cg/tirith/abc/cpu.max": "max 100000\n",
		}, "v2", true, true},
		{"v2 unlimited", map[string]string{
			"proc/cgroup": "0::/x\n", "cg/x/memory.max": "max\n", "cg/x/pids.max": "max\n",
		}, "v2", false, false},
		{"v1", map[string]string{
			"proc/cgroup": "4:memory:/tirith/abc\n8:pids:/tirith/abc\n1:cpu,cpuacct:/tirith/abc\n",
			"cg/memory/tirith/abc/memory.limit_in_bytes": "536870912\n", "cg/pids/tirith/abc/pids.max": "max\n",
		}, "v1", true, false},
		{"hybrid unlimited memory", map[string]string{
			"proc/cgroup":                       "4:memory:/a\n8:pids:/a\n0::/a\n",
			"cg/memory/a/memory.limit_in_bytes": "9223372036854771712\n", "cg/pids/a/pids.max": "100\n",
		}, "hybrid", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			writeFiles(t, d, c.files)
			l := cgroupLimits(filepath.Join(d, "proc"), filepath.Join(d, "cg"))
			if l.mode != c.mode || l.memory != c.memory || l.pids != c.pids {
				t.Fatalf("got %+v, want mode %s memory %v pids %v", l, c.mode, c.memory, c.pids)
			}
		})
	}
}

func TestMountinfoAndMaps(t *testing.T) {
	d := t.TempDir()
	writeFiles(t, d, map[string]string{"mountinfo": "" +
		"1 0 0:1 / / ro,relatime - overlay overlay rw,lowerdir=a\n" +
		"2 1 0:2 / /data\\040dir rw,nosuid - ext4 /dev/sda rw\n" +
		"3 1 0:3 / /ro-super rw - ext4 /dev/sdb ro\n"})
	m := readMountinfo(filepath.Join(d, "mountinfo"))
	if len(m) != 3 || m[0].point != "/" || m[1].point != "/data dir" || m[1].fstype != "ext4" {
		t.Fatalf("mountinfo = %+v", m)
	}
	if !contains(m[0].opts, "ro") || contains(m[1].opts, "ro") || !contains(m[2].opts, "ro") {
		t.Fatalf("read-only flags wrong (a superblock ro makes the mount ro): %+v", m)
	}
	if !isIdentityMap("         0          0 4294967295\n") || isIdentityMap("0 1000000 65536\n") {
		t.Fatal("isIdentityMap")
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// fakeProc lays out /proc/1 (the host) and /proc/PID (the container)
// as the container audit reads them, on cgroup v2.
func fakeProc(t *testing.T, status, uidMap string, sharedNS []string, mountinfo string, memMax string) ContainerInput {
	t.Helper()
	d := t.TempDir()
	writeFiles(t, d, map[string]string{
		"proc/1/status": "Name:\tinit\n", "proc/42/status": status, "proc/42/uid_map": uidMap,
		"proc/42/mountinfo": mountinfo, "proc/42/cgroup": "0::/c\n",
		"proc/42/environ": "PATH=/bin\x00DB_PASSWORD=x\x00",
		"cg/c/memory.max": memMax, "cg/c/pids.max": "1024\n", "cg/c/cpu.max": "max 100000\n",
	})
	for i, ns := range []string{"pid", "net", "ipc", "uts", "mnt", "cgroup", "user"} {
		os.MkdirAll(filepath.Join(d, "proc/1/ns"), 0o755)
		os.MkdirAll(filepath.Join(d, "proc/42/ns"), 0o755)
		host := ns + ":[40265310" + string(rune('0'+i)) + "]"
		os.Symlink(host, filepath.Join(d, "proc/1/ns", ns))
		mine := ns + ":[50000000" + string(rune('0'+i)) + "]"
		if contains(sharedNS, ns) {
			mine = host
		}
		os.Symlink(mine, filepath.Join(d, "proc/42/ns", ns))
	}
	return ContainerInput{Name: "c", Pid: 42, Proc: filepath.Join(d, "proc"), CgroupRoot: filepath.Join(d, "cg")}
}

const walledStatus = "Uid:\t1000000\t1000000\t1000000\t1000000\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n"

const walledMounts = "1 0 0:1 / / ro,nosuid,nodev - overlay overlay rw\n" +
	"2 1 0:2 / /proc rw - proc proc rw\n3 1 0:3 / /proc/kcore rw - tmpfs tmpfs rw\n" +
	"4 1 0:4 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw\n"

func TestContainerGradeFromProc(t *testing.T) {
	in := fakeProc(t, walledStatus, "0 1000000 65536\n", nil, walledMounts, "536870912\n")
	in.Landlock = "enforced, ABI 6 (filesystem true, network true)"
	r, err := Container(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Grade != "A" {
		t.Fatalf("grade %s: %+v", r.Grade, r.Findings)
	}
	want(t, r, "CTR-LIMITS", Medium, Pass, "cgroup v2", "memory: 536870912")
	want(t, r, "CTR-SECRET-ENV", Medium, Warn, "names: DB_PASSWORD")
	want(t, r, "CTR-WRITABLE-MOUNTS", Info, Note, "/tmp (tmpfs, rw,noexec,nosuid,nodev)")

	// Host root, every capability, no filter, the host's network, no
	// memory limit, a writable root with the docker socket: grade F,
	// each missing wall named.
	bad := "Uid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n"
	mounts := "1 0 0:1 / / rw - overlay overlay rw\n2 1 0:2 / /var/run/docker.sock rw - tmpfs tmpfs rw\n"
	in = fakeProc(t, bad, "0 0 4294967295\n", []string{"net", "user"}, mounts, "max\n")
	r, err = Container(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Grade != "F" {
		t.Fatalf("grade %s", r.Grade)
	}
	walls := want(t, r, "CTR-WALLS", High, Fail)
	for _, w := range []string{"wall 1 (identity)", "wall 2 (privileges)", "wall 3 (syscalls)", "wall 4 (mandatory access)", "wall 5 (namespaces): shares host namespaces: net", "wall 6 (resources): no memory limit", "wall 7 (filesystem)"} {
		if !strings.Contains(strings.Join(walls.Evidence, "\n"), w) {
			t.Errorf("walls down lack %q: %v", w, walls.Evidence)
		}
	}
	want(t, r, "CTR-CAPS", High, Fail, "CAP_SYS_ADMIN")
	want(t, r, "CTR-RUNTIME-SOCKET", Critical, Fail, "/var/run/docker.sock")
	want(t, r, "CTR-NETWORK", High, Fail)
	if _, err := Container(ContainerInput{Name: "x", Pid: 7, Proc: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "pid 7") {
		t.Fatalf("missing pid: %v", err)
	}
}

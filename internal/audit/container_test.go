package audit

import (
	"os"
	"path/filepath"
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

package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// defaultDevicesScript prints each OCI default device as
// "path=type major:minor mode" (major and minor in hex, as stat prints
// them), then the /dev symlinks, then uses null, zero and full.
const defaultDevicesScript = `for d in null zero full random urandom tty; do echo /dev/$d=$(stat -c '%F %t:%T %a' /dev/$d); done
for l in ptmx fd stdin stdout stderr; do echo link-$l=$(readlink /dev/$l); done
echo hi > /dev/null && echo null-write=ok
echo zero-read=$(head -c 5 /dev/zero | wc -c)
{ echo x > /dev/full; } 2>&1; echo full-write=$?
echo urandom-read=$(head -c 16 /dev/urandom | wc -c)`

func checkDefaultDevices(t *testing.T, out string, wantMode bool) {
	t.Helper()
	m := cfgKV(t, out)
	for dev, want := range map[string]string{
		"/dev/null": "character special file 1:3", "/dev/zero": "character special file 1:5",
		"/dev/full": "character special file 1:7", "/dev/random": "character special file 1:8",
		"/dev/urandom": "character special file 1:9", "/dev/tty": "character special file 5:0",
	} {
		got := m[dev]
		if wantMode {
			want += " 666"
		} else if i := strings.LastIndex(got, " "); i > 0 {
			got = got[:i]
		}
		if got != want {
			t.Errorf("%s: %q, want %q", dev, got, want)
		}
	}
	for l, want := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if m["link-"+l] != want {
			t.Errorf("/dev/%s -> %q, want %q", l, m["link-"+l], want)
		}
	}
	if m["null-write"] != "ok" || m["zero-read"] != "5" || m["full-write"] != "1" || m["urandom-read"] != "16" {
		t.Errorf("using the default devices: %v\n%s", m, out)
	}
	if !strings.Contains(out, "No space left on device") {
		t.Errorf("/dev/full write did not fail with ENOSPC:\n%s", out)
	}
}

// The OCI default devices exist with the right numbers and modes, the
// /dev links point where runtime-spec says, and the devices work.
func TestDevicesDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	checkDefaultDevices(t, e.cfgSh(nil, defaultDevicesScript), true)
}

// With a user namespace mknod is impossible: the defaults are the host's
// nodes bind-mounted, and still work.
func TestDevicesDefaultUserNS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(cfgUserNS, "sh", "-c", defaultDevicesScript)
	cfgChownTree(t, cfgRootfs(b), 100000, 100000)
	checkDefaultDevices(t, e.cfgRunOK(b), false)
}

// linux.devices adds a node of the given type, numbers, mode and owner,
// nested directories created. The node must be made whether or not
// linux.resources.devices lets the container use it (runc allows mknod
// of the spec's devices; access stays with the device cgroup).
func TestDevicesExtra(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		name := "no cgroup rule"
		if allow {
			name = "cgroup allows them"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			out := e.cfgSh(func(s *specs.Spec) {
				s.Linux.Devices = []specs.LinuxDevice{
					{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: cfgPtr(cfgFileMode(0o640)), UID: cfgPtr(uint32(1000)), GID: cfgPtr(uint32(1001))},
					{Path: "/dev/sub/dir/mynull", Type: "c", Major: 1, Minor: 3, FileMode: cfgPtr(cfgFileMode(0o666))},
				}
				if allow {
					s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
						specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: cfgPtr(int64(10)), Minor: cfgPtr(int64(229)), Access: "rwm"})
				}
			}, `echo fuse=$(stat -c '%F %t:%T %a %u:%g' /dev/fuse); echo mynull=$(stat -c '%F %t:%T %a' /dev/sub/dir/mynull); echo x > /dev/sub/dir/mynull && echo mynull-write=ok`)
			m := cfgKV(t, out)
			if m["fuse"] != "character special file a:e5 640 1000:1001" {
				t.Errorf("/dev/fuse: %q, want char 10:229 (a:e5) mode 640 owner 1000:1001", m["fuse"])
			}
			if m["mynull"] != "character special file 1:3 666" || m["mynull-write"] != "ok" {
				t.Errorf("/dev/sub/dir/mynull: %v", m)
			}
		})
	}
}

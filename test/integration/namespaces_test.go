package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/testutil"
)

// Every namespace the default spec asks for is new: the container's link
// differs from the host's for each type, and the probe sees pid 1.
func TestNamespacesNewDifferFromHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.runProbe(e.bundle(nil))
	if r.PID != 1 {
		t.Errorf("pid namespace: probe is pid %d, want 1", r.PID)
	}
	for _, typ := range []string{"pid", "net", "ipc", "uts", "mnt", "cgroup"} {
		got, host := r.Namespaces[typ], cfgHostNS(t, typ)
		if got == "" || got == host {
			t.Errorf("%s namespace: container %q, host %q: want a new one", typ, got, host)
		}
	}
	// No user namespace asked: the host's.
	if got, host := r.Namespaces["user"], cfgHostNS(t, "user"); got != host {
		t.Errorf("user namespace: container %q, host %q: want the host's", got, host)
	}
}

// pid: the payload is pid 1 and sees no host process.
func TestNamespacePID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(nil, `echo self=$$; echo procs=$(ls /proc | grep -c '^[0-9]')`)
	m := cfgKV(t, out)
	if m["self"] != "1" {
		t.Errorf("shell pid %q, want 1", m["self"])
	}
	// sh (pid 1), ls and grep: a handful, not the host's hundreds.
	if n, _ := strconv.Atoi(m["procs"]); n < 1 || n > 4 {
		t.Errorf("%s processes visible in /proc, want only the container's", m["procs"])
	}
}

// uts: hostname and domainname from config.json, the host's untouched.
func TestNamespaceUTS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hostName, _ := os.Hostname()
	out := e.cfgSh(func(s *specs.Spec) {
		s.Hostname = "box-one"
		s.Domainname = "example.internal"
	}, `echo host=$(hostname); echo kh=$(cat /proc/sys/kernel/hostname); echo dom=$(cat /proc/sys/kernel/domainname)`)
	m := cfgKV(t, out)
	if m["host"] != "box-one" || m["kh"] != "box-one" {
		t.Errorf("hostname: %q / %q, want box-one", m["host"], m["kh"])
	}
	if m["dom"] != "example.internal" {
		t.Errorf("domainname %q, want example.internal", m["dom"])
	}
	if h, _ := os.Hostname(); h != hostName {
		t.Errorf("host's hostname changed from %q to %q", hostName, h)
	}
}

// net: a new network namespace holds only the loopback device.
func TestNamespaceNetOnlyLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(nil, `echo ns=$(readlink /proc/self/ns/net); tail -n +3 /proc/net/dev | cut -d: -f1; ls /sys/class/net`)
	ls := cfgLines(out)
	if len(ls) != 3 || ls[1] != "lo" || ls[2] != "lo" {
		t.Fatalf("devices in the container: %q, want only lo", out)
	}
	if ns := strings.TrimPrefix(ls[0], "ns="); ns == cfgHostNS(t, "net") || !strings.HasPrefix(ns, "net:[") {
		t.Errorf("net namespace %q, host %q", ns, cfgHostNS(t, "net"))
	}
}

// ipc: a System V shared memory limit set through linux.sysctl lives in
// the container's ipc namespace only.
func TestNamespaceIPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	host, err := os.ReadFile("/proc/sys/kernel/shmmax")
	must(t, err)
	out := e.cfgSh(func(s *specs.Spec) {
		s.Linux.Sysctl = map[string]string{"kernel.shmmax": "123456789"}
	}, `echo ns=$(readlink /proc/self/ns/ipc); echo shmmax=$(cat /proc/sys/kernel/shmmax)`)
	m := cfgKV(t, out)
	if m["shmmax"] != "123456789" {
		t.Errorf("kernel.shmmax in the container %q, want 123456789", m["shmmax"])
	}
	if m["ns"] == cfgHostNS(t, "ipc") {
		t.Errorf("ipc namespace is the host's: %s", m["ns"])
	}
	if now, _ := os.ReadFile("/proc/sys/kernel/shmmax"); string(now) != string(host) {
		t.Errorf("host kernel.shmmax changed from %q to %q", host, now)
	}
}

// mnt: the container's mount table is its own: its root is the rootfs
// and none of the host's mount points (e.g. this test's temp dir) is
// there.
func TestNamespaceMount(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sh", "-c", `readlink /proc/self/ns/mnt; cat /proc/self/mountinfo`)
	out := e.cfgRunOK(b)
	ls := cfgLines(out)
	if ls[0] == cfgHostNS(t, "mnt") {
		t.Errorf("mount namespace is the host's")
	}
	mi := strings.Join(ls[1:], "\n")
	if cfgMountLine(mi, "/") == "" || cfgMountLine(mi, "/proc") == "" || cfgMountLine(mi, "/tmp") == "" {
		t.Errorf("container mountinfo lacks /, /proc or /tmp:\n%s", mi)
	}
	// Mount points (field 5) are all inside the container's root; the
	// host's (its temp dir, the bundle, the repository checkout) are not
	// there.
	repo := testutil.ModuleRoot()
	for _, l := range cfgLines(mi) {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		if strings.HasPrefix(f[4], b) || strings.HasPrefix(f[4], os.TempDir()+"/") || f[4] == repo || strings.HasPrefix(f[4], repo+"/") {
			t.Errorf("host mount point visible in the container: %s", l)
		}
	}
}

// cgroup: with a cgroup namespace, every hierarchy shows the container at
// its root.
func TestNamespaceCgroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.cfgSh(nil, `cat /proc/self/cgroup`)
	ls := cfgLines(out)
	if len(ls) == 0 {
		t.Fatal("empty /proc/self/cgroup")
	}
	for _, l := range ls {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 || parts[2] != "/" {
			t.Errorf("cgroup line %q: want path /", l)
		}
	}
}

// user: the id maps are the config's; container root is an unprivileged
// host uid, so a host root-owned 0600 file bind-mounted in is unreadable
// even to container root, and shows as the overflow uid.
func TestNamespaceUser(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	must(t, os.Chmod(dir, 0o755))
	secret := filepath.Join(dir, "secret")
	must(t, os.WriteFile(secret, []byte("host-secret\n"), 0o600))
	// The rootfs belongs to the mapped ids, as a rootless runtime or an
	// image store would make it.
	b := e.bundle(nil, "true")
	cfgChownTree(t, cfgRootfs(b), 100000, 200000)
	cfgRewrite(t, b, func(s *specs.Spec) {
		cfgUserNS(s)
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 200000, Size: 1000}}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/secret", Type: "bind", Source: secret, Options: []string{"bind", "ro"}})
		s.Process.Args = []string{"sh", "-c", `echo uidmap=$(cat /proc/self/uid_map); echo gidmap=$(cat /proc/self/gid_map); echo id=$(id -u):$(id -g)
echo owner=$(stat -c %u:%g /mnt/secret)
if cat /mnt/secret; then echo read=yes; else echo read=no; fi`}
	})
	out := e.cfgRunOK(b)
	m := cfgKV(t, out)
	if m["uidmap"] != "0 100000 65536" {
		t.Errorf("uid_map %q, want \"0 100000 65536\"", m["uidmap"])
	}
	if m["gidmap"] != "0 200000 1000" {
		t.Errorf("gid_map %q, want \"0 200000 1000\"", m["gidmap"])
	}
	if m["id"] != "0:0" {
		t.Errorf("id in the container %q, want 0:0", m["id"])
	}
	if m["owner"] != "65534:65534" {
		t.Errorf("host root's file shows as %q, want the overflow ids 65534:65534", m["owner"])
	}
	if m["read"] != "no" || strings.Contains(out, "host-secret") {
		t.Errorf("container root read a host root 0600 file:\n%s", out)
	}
}

// time: a new time namespace with offsets shifts CLOCK_BOOTTIME (seen in
// /proc/uptime) and CLOCK_MONOTONIC.
func TestNamespaceTimeOffsets(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("time namespaces unsupported by this kernel (no /proc/self/ns/time)")
	}
	e := newEnv(t)
	const shift = 10 * 24 * 3600 // ten days
	var before unix.Timespec
	must(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &before))
	out := e.cfgSh(func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
			"boottime":  {Secs: shift},
			"monotonic": {Secs: 2 * shift},
		}
	}, `echo ns=$(readlink /proc/self/ns/time); echo up=$(cut -d' ' -f1 /proc/uptime); echo offs=$(grep -c . /proc/self/timens_offsets); cat /proc/self/timens_offsets`)
	var after unix.Timespec
	must(t, unix.ClockGettime(unix.CLOCK_BOOTTIME, &after))
	m := cfgKV(t, out)
	if m["ns"] == cfgHostNS(t, "time") {
		t.Errorf("time namespace is the host's")
	}
	up, err := strconv.ParseFloat(m["up"], 64)
	if err != nil {
		t.Fatalf("uptime %q: %v\n%s", m["up"], err, out)
	}
	lo, hi := float64(before.Sec)+shift-1, float64(after.Sec)+shift+1
	if up < lo || up > hi {
		t.Errorf("container uptime %.0f s, want host boottime + %d s (%.0f..%.0f)", up, shift, lo, hi)
	}
	if !strings.Contains(out, "monotonic") || !strings.Contains(out, strconv.Itoa(2*shift)) || !strings.Contains(out, "boottime") || !strings.Contains(out, strconv.Itoa(shift)) {
		t.Errorf("timens_offsets in the container:\n%s", out)
	}
}

// Joining namespaces by path: a host process in its own net and uts
// namespaces (hostname set there); the container names them by
// /proc/PID/ns/* and is in exactly those.
func TestNamespaceJoinByPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := os.Stat("/usr/bin/unshare"); err != nil {
		t.Fatal("util-linux unshare not found")
	}
	cmd := cfgHostCmd(t, "/usr/bin/unshare", "--net", "--uts", "--ipc", "sh", "-c", "hostname joined-uts && exec sleep 100")
	pid := strconv.Itoa(cmd.Process.Pid)
	var netNS, utsNS, ipcNS string
	waitFor(t, "unshare to set its hostname", func() bool {
		netNS, _ = os.Readlink("/proc/" + pid + "/ns/net")
		utsNS, _ = os.Readlink("/proc/" + pid + "/ns/uts")
		ipcNS, _ = os.Readlink("/proc/" + pid + "/ns/ipc")
		exe, _ := os.Readlink("/proc/" + pid + "/exe")
		return netNS != cfgHostNS(t, "net") && strings.HasSuffix(exe, "sleep")
	})
	out := e.cfgSh(func(s *specs.Spec) {
		s.Hostname = "" // keep the joined namespace's
		cfgSetNS(s, specs.NetworkNamespace, "/proc/"+pid+"/ns/net")
		cfgSetNS(s, specs.UTSNamespace, "/proc/"+pid+"/ns/uts")
		cfgSetNS(s, specs.IPCNamespace, "/proc/"+pid+"/ns/ipc")
	}, `echo net=$(readlink /proc/self/ns/net); echo uts=$(readlink /proc/self/ns/uts); echo ipc=$(readlink /proc/self/ns/ipc); echo host=$(hostname); echo pidns=$(readlink /proc/self/ns/pid)`)
	m := cfgKV(t, out)
	if m["net"] != netNS || m["uts"] != utsNS || m["ipc"] != ipcNS {
		t.Errorf("joined namespaces: container net %q uts %q ipc %q, want %q %q %q", m["net"], m["uts"], m["ipc"], netNS, utsNS, ipcNS)
	}
	if m["host"] != "joined-uts" {
		t.Errorf("hostname %q, want the joined namespace's joined-uts", m["host"])
	}
	// The other namespaces are still new.
	if m["pidns"] == cfgHostNS(t, "pid") {
		t.Errorf("pid namespace is the host's")
	}
}

// A namespace path that is not a namespace of the asked type is a create
// error that leaves nothing.
func TestNamespaceJoinWrongType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.cfgCreateFails(func(s *specs.Spec) {
		cfgSetNS(s, specs.NetworkNamespace, "/proc/self/ns/uts")
	}, "linux.namespaces[1].path", "/proc/self/ns/uts")
}

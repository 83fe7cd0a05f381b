package procfs

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPaths(t *testing.T) {
	for got, want := range map[string]string{
		Self("status"):                "/proc/self/status",
		Self("ns", "user"):            "/proc/self/ns/user",
		Pid(42, "exe"):                "/proc/42/exe",
		NS(42, "mnt"):                 "/proc/42/ns/mnt",
		SelfFD(3):                     "/proc/self/fd/3",
		PidFD(42, 7):                  "/proc/42/fd/7",
		ThreadSelf("attr", "exec"):    "/proc/thread-self/attr/exec",
		Sysctl("net.ipv4.ip_forward"): "/proc/sys/net/ipv4/ip_forward",
		Sysctl("kernel/shmmax"):       "/proc/sys/kernel/shmmax",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestSelfFDs(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds, err := SelfFDs()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{0, 1, 2, int(f.Fd())} {
		if !slices.Contains(fds, want) {
			t.Errorf("SelfFDs() = %v, missing %d", fds, want)
		}
	}
}

// StartTime tells a process apart; Zombie sees it exit before it is
// reaped, and a pid that is gone.
func TestStartTimeAndZombie(t *testing.T) {
	if st, err := StartTime(os.Getpid()); err != nil || st == 0 {
		t.Fatalf("StartTime(self) = %d, %v", st, err)
	}
	if Zombie(os.Getpid()) {
		t.Fatal("Zombie(self)")
	}
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for !Zombie(pid) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !Zombie(pid) {
		t.Fatal("an exited, unreaped child is not a zombie")
	}
	_ = cmd.Wait()
	if _, err := StartTime(pid); err == nil && !Zombie(pid) {
		t.Fatal("a reaped pid still reads as a live process")
	}
}

func TestMountinfo(t *testing.T) {
	if got := UnescapeMountinfo(`/a\040b\011c\134d`); got != "/a b\tc\\d" {
		t.Errorf("unescape = %q", got)
	}
	if got := UnescapeMountinfo(`/tail\04`); got != `/tail\04` {
		t.Errorf("a short escape changed: %q", got)
	}
	data, err := os.ReadFile(Self("mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), " /sys/fs/cgroup ") {
		t.Skip("no mount at /sys/fs/cgroup to look for")
	}
	under := MountPointsUnder("/sys/fs")
	if !slices.Contains(under, "/sys/fs/cgroup") {
		t.Errorf("MountPointsUnder(/sys/fs) = %v, missing /sys/fs/cgroup", under)
	}
	for _, p := range under {
		if !strings.HasPrefix(p, "/sys/fs/") {
			t.Errorf("%q is not below /sys/fs", p)
		}
	}
}

func TestPidStamp(t *testing.T) {
	stamp, err := PidStamp(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got := StampedPid(stamp); got != os.Getpid() {
		t.Fatalf("StampedPid(%q) = %d, want our pid %d", stamp, got, os.Getpid())
	}
	// Our pid with another start time: a recycled pid, not us.
	var pid int
	var start uint64
	fmt.Sscan(string(stamp), &pid, &start)
	for _, s := range []string{fmt.Sprintf("%d %d\n", pid, start+1), "", "garbage", "0 0", "-1 5"} {
		if got := StampedPid([]byte(s)); got != 0 {
			t.Errorf("StampedPid(%q) = %d, want 0", s, got)
		}
	}
}

// Package procfs is Tirith's one way into /proc: the paths of the files it
// reads and writes, and the few parsers it needs (a process's stat line,
// its fd table, the mount table). It holds no policy: which paths a
// container may see under /proc is internal/rootfs's and the spec's.
//
// Every path here is the /proc of the calling process's mount namespace:
// the host's for the runtime, the container's for the init and the probe.
package procfs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Self is a file of the calling process: Self("status") is
// /proc/self/status.
func Self(elem ...string) string {
	return filepath.Join(append([]string{"/proc/self"}, elem...)...)
}

// Pid is a file of process pid: Pid(1, "exe") is /proc/1/exe.
func Pid(pid int, elem ...string) string {
	return filepath.Join(append([]string{"/proc", strconv.Itoa(pid)}, elem...)...)
}

// ThreadSelf is a file of the calling thread (LSM attributes are per
// thread: /proc/thread-self/attr/exec).
func ThreadSelf(elem ...string) string {
	return filepath.Join(append([]string{"/proc/thread-self"}, elem...)...)
}

// SelfExe is the running binary.
const SelfExe = "/proc/self/exe"

// SelfFD is the magic link to the caller's fd: operating on it reaches
// the open file itself, whatever its path has become.
func SelfFD(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// PidFD is fd of process pid. Unlike SelfFD the path names the same file
// for a child between fork and execve, whose own fd numbers move.
func PidFD(pid, fd int) string { return Pid(pid, "fd", strconv.Itoa(fd)) }

// NS is process pid's namespace of the given /proc/PID/ns file name
// ("mnt", "user"; see internal/namespaces).
func NS(pid int, file string) string { return Pid(pid, "ns", file) }

// Sysctl is the file of a sysctl key, dots or slashes ("net.ipv4.ip_forward").
func Sysctl(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

// SelfFDs lists the caller's open fds, in /proc/self/fd's order. The fd
// of the directory being read is among them and is closed on return.
func SelfFDs() ([]int, error) {
	ents, err := os.ReadDir(Self("fd"))
	if err != nil {
		return nil, err
	}
	fds := make([]int, 0, len(ents))
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}

// StartTime is a process's start time in clock ticks since boot: with
// the pid, it tells a process from a later one that reused the pid.
func StartTime(pid int) (uint64, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	// Field 22 overall is index 19 after the state (field 3).
	return strconv.ParseUint(fields[19], 10, 64)
}

// PidStamp is the line a pid file of Tirith's holds: "PID STARTTIME",
// so that a recycled pid is never taken for the process it names.
func PidStamp(pid int) ([]byte, error) {
	start, err := StartTime(pid)
	if err != nil {
		return nil, err
	}
	return []byte(fmt.Sprintf("%d %d\n", pid, start)), nil
}

// StampedPid is the pid a PidStamp line names if that very process still
// runs (same start time, not a zombie), else 0.
func StampedPid(stamp []byte) int {
	var pid int
	var start uint64
	if _, err := fmt.Sscan(string(stamp), &pid, &start); err != nil || pid <= 0 {
		return 0
	}
	if st, err := StartTime(pid); err != nil || st != start || Zombie(pid) {
		return 0
	}
	return pid
}

// Zombie reports whether pid is gone, a zombie or dead (it runs nothing
// any more), or its stat cannot be read.
func Zombie(pid int) bool {
	fields, err := statFields(pid)
	return err != nil || fields[0] == "Z" || fields[0] == "X"
}

// statFields returns /proc/PID/stat from the state field on; the command
// name before it may contain spaces and parentheses.
func statFields(pid int) ([]string, error) {
	data, err := os.ReadFile(Pid(pid, "stat"))
	if err != nil {
		return nil, err
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return nil, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return f, nil
}

// WriteIDMap (file "uid_map" or "gid_map") and DenySetgroups set up the
// user namespace of process pid (user_namespaces(7)): each file can be
// written once, and setgroups only before gid_map.
func WriteIDMap(pid int, file string, m []byte) error { return write(Pid(pid, file), m) }

// DenySetgroups: see WriteUIDMap.
func DenySetgroups(pid int) error { return write(Pid(pid, "setgroups"), []byte("deny")) }

// SetOOMScoreAdj sets the caller's oom_score_adj (inherited across
// fork and execve).
func SetOOMScoreAdj(v int) error { return write(Self("oom_score_adj"), []byte(strconv.Itoa(v))) }

// write writes a /proc file whole: /proc files take one write and are
// never created.
func write(path string, data []byte) error { return os.WriteFile(path, data, 0) }

// MountPointsUnder lists the mount points strictly below dir in the
// caller's mount namespace, from /proc/self/mountinfo. An unreadable
// table gives none.
func MountPointsUnder(dir string) []string {
	f, err := os.Open(Self("mountinfo"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		if p := UnescapeMountinfo(fields[4]); strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

// UnescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func UnescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

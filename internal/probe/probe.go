// Package probe reports, from inside a container, which walls are up: the
// identity, capabilities, no_new_privs, seccomp, Landlock, namespaces,
// read-only root and masked paths, as the kernel shows them to the
// process. It runs
// as `tirith probe` in the demo container and as the static test/probe
// binary in integration tests; it changes nothing.
package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/namespaces"
	"github.com/tirith-project/tirith/internal/procfs"
)

// Report is what the probe saw.
type Report struct {
	PID        int               `json:"pid"`
	UID        int               `json:"uid"`
	GID        int               `json:"gid"`
	Groups     []int             `json:"groups"`
	UIDMap     string            `json:"uidMap"`
	Hostname   string            `json:"hostname"`
	CapEff     []string          `json:"capEff"`
	CapBnd     []string          `json:"capBnd"`
	CapPrm     []string          `json:"capPrm"`
	CapInh     []string          `json:"capInh"`
	CapAmb     []string          `json:"capAmb"`
	NoNewPrivs bool              `json:"noNewPrivs"`
	Seccomp    int               `json:"seccomp"` // 0 off, 1 strict, 2 filter
	Namespaces map[string]string `json:"namespaces"`
	RootRO     bool              `json:"rootReadonly"`
	Masked     map[string]bool   `json:"masked"`
	Cgroup     string            `json:"cgroup"`
	PidsMax    string            `json:"pidsMax"`
	Cwd        string            `json:"cwd"`
	OpenFDs    []string          `json:"openFDs"`
	// IOPrio is ioprio_get(IOPRIO_WHO_PROCESS, 0): class<<13 | level,
	// -1 if it could not be read.
	IOPrio int `json:"ioPrio"`
	// SchedPolicy and SchedNice are sched_getattr's policy (0 other,
	// 1 fifo, 2 rr, 3 batch, 5 idle, 6 deadline) and nice; policy -1 if
	// it could not be read.
	SchedPolicy   int `json:"schedPolicy"`
	SchedNice     int `json:"schedNice"`
	SchedPriority int `json:"schedPriority"`
	// LandlockExec is what happened when the probe executed a file it
	// had just written, mode 0755, to a writable directory whose mount
	// allows exec (LandlockExecDir): "refused" (EACCES though neither mode
	// nor mount forbids it: a Landlock policy), "allowed" (the kernel got
	// as far as the file's format), or "untested: WHY". Landlock domains
	// cannot be queried, so this is how the probe sees wall 4.
	LandlockExec    string `json:"landlockExec"`
	LandlockExecDir string `json:"landlockExecDir,omitempty"`
}

// MaskedCandidates are the paths whose masking the probe checks.
var MaskedCandidates = []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/kallsyms", "/sys/firmware"}

// Gather collects the report.
func Gather() (*Report, error) {
	r := &Report{PID: os.Getpid(), UID: os.Getuid(), GID: os.Getgid(), Namespaces: map[string]string{}, Masked: map[string]bool{}}
	r.Groups, _ = os.Getgroups()
	r.UIDMap = strings.Join(strings.Fields(readString(procfs.Self("uid_map"))), " ")
	r.Hostname, _ = os.Hostname()
	status, err := os.Open(procfs.Self("status"))
	if err != nil {
		return nil, fmt.Errorf("probe needs /proc: %w", err)
	}
	defer status.Close()
	if err := r.parseStatus(status); err != nil {
		return nil, err
	}
	for _, ns := range namespaces.Files() {
		if l, err := os.Readlink(procfs.Self("ns", ns)); err == nil {
			r.Namespaces[ns] = l
		}
	}
	r.RootRO = rootReadonly()
	for _, p := range MaskedCandidates {
		r.Masked[p] = masked(p)
	}
	r.Cgroup = strings.TrimSpace(readString(procfs.Self("cgroup")))
	for _, p := range []string{"/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"} {
		if v := strings.TrimSpace(readString(p)); v != "" {
			r.PidsMax = v
			break
		}
	}
	r.LandlockExec, r.LandlockExecDir = tryExecWritten()
	r.Cwd, _ = os.Getwd()
	r.OpenFDs = openFDs()
	r.IOPrio = ioPrio()
	r.SchedPolicy = -1
	if a, err := unix.SchedGetAttr(0, 0); err == nil {
		r.SchedPolicy, r.SchedNice, r.SchedPriority = int(a.Policy), int(a.Nice), int(a.Priority)
	}
	return r, nil
}

// ioPrio reads this process's I/O priority (ioprio_get(2) has no libc or
// x/sys wrapper).
func ioPrio() int {
	const ioprioWhoProcess = 1
	v, _, e := unix.Syscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
	if e != 0 {
		return -1
	}
	return int(v)
}

// execCandidates are the writable places tried, in order: scratch
// mounts, /dev (a tmpfs mounted without noexec), the root.
var execCandidates = []string{"/dev/shm", "/tmp", "/run", "/dev", "/"}

// tryExecWritten writes a file that is not a program into the first
// writable, exec-mounted candidate and tries to execute it. Were it let
// through, execve would fail with ENOEXEC, so nothing runs either way.
func tryExecWritten() (result, dir string) {
	why := "no writable directory mounted exec"
	for _, d := range execCandidates {
		var st unix.Statfs_t
		if unix.Statfs(d, &st) != nil || st.Flags&(unix.ST_NOEXEC|unix.ST_RDONLY) != 0 {
			continue
		}
		f, err := os.CreateTemp(d, ".tirith-probe-exec-")
		if err != nil {
			continue
		}
		name := f.Name()
		_, werr := f.WriteString("not a program\n")
		cerr := f.Close()
		defer os.Remove(name)
		if werr != nil || cerr != nil || os.Chmod(name, 0o755) != nil {
			continue
		}
		if unix.Access(name, unix.X_OK) != nil {
			why = "mode bits of a written file forbid exec in " + d
			continue
		}
		pid, err := syscall.ForkExec(name, []string{name}, &syscall.ProcAttr{})
		switch {
		case err == nil:
			var ws syscall.WaitStatus
			_, _ = syscall.Wait4(pid, &ws, 0, nil)
			return "allowed", d
		case errors.Is(err, unix.ENOEXEC):
			return "allowed", d
		case errors.Is(err, unix.EACCES):
			return "refused", d
		default:
			return "untested: exec: " + err.Error(), d
		}
	}
	return "untested: " + why, ""
}

func readString(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func (r *Report) parseStatus(rd io.Reader) error {
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "CapEff":
			r.CapEff = capNames(v)
		case "CapBnd":
			r.CapBnd = capNames(v)
		case "CapPrm":
			r.CapPrm = capNames(v)
		case "CapInh":
			r.CapInh = capNames(v)
		case "CapAmb":
			r.CapAmb = capNames(v)
		case "NoNewPrivs":
			r.NoNewPrivs = v == "1"
		case "Seccomp":
			r.Seccomp, _ = strconv.Atoi(v)
		}
	}
	return sc.Err()
}

// capNames decodes a /proc/PID/status capability mask.
func capNames(hex string) []string {
	mask, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return nil
	}
	names := caps.InMask(mask)
	sort.Strings(names)
	return names
}

func rootReadonly() bool {
	f, err := os.CreateTemp("/", ".tirith-probe-")
	if err == nil {
		f.Close()
		os.Remove(f.Name())
		return false
	}
	return errors.Is(err, unix.EROFS)
}

// masked: the path is missing, the null device, or an empty read-only
// directory.
func masked(p string) bool {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return errors.Is(err, unix.ENOENT)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFCHR {
		return unix.Major(st.Rdev) == 1 && unix.Minor(st.Rdev) == 3
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		ents, err := os.ReadDir(p)
		return err == nil && len(ents) == 0
	}
	return false
}

func openFDs() []string {
	fds, err := procfs.SelfFDs()
	if err != nil {
		return nil
	}
	var out []string
	for _, fd := range fds {
		t, _ := os.Readlink(procfs.SelfFD(fd))
		out = append(out, strconv.Itoa(fd)+" -> "+t)
	}
	return out
}

// Print writes the report as a short human table: wall, what is seen.
func (r *Report) Print(w io.Writer) {
	yes := func(b bool) string {
		if b {
			return "up"
		}
		return "DOWN"
	}
	userns := r.UIDMap != "0 0 4294967295"
	allMasked := true
	for _, m := range r.Masked {
		allMasked = allMasked && m
	}
	fmt.Fprintf(w, "Tirith probe: what this process sees from inside its container\n")
	fmt.Fprintf(w, "  wall 1 identity      %-4s uid=%d gid=%d uid_map=%q\n", yes(userns), r.UID, r.GID, r.UIDMap)
	fmt.Fprintf(w, "  wall 2 privileges    %-4s no_new_privs=%v, %d effective capabilities: %s\n", yes(r.NoNewPrivs && len(r.CapBnd) < 20), r.NoNewPrivs, len(r.CapEff), strings.Join(r.CapEff, ","))
	fmt.Fprintf(w, "  wall 3 syscalls      %-4s seccomp mode %d\n", yes(r.Seccomp == 2), r.Seccomp)
	wall4 := map[string]string{"refused": "up", "allowed": "DOWN"}[r.LandlockExec]
	switch {
	case wall4 == "":
		fmt.Fprintf(w, "  wall 4 mandatory     ?    Landlock %s\n", r.LandlockExec)
	case wall4 == "up":
		fmt.Fprintf(w, "  wall 4 mandatory     up   exec of a file just written to %s: refused by Landlock\n", r.LandlockExecDir)
	default:
		fmt.Fprintf(w, "  wall 4 mandatory     DOWN exec of a file just written to %s: allowed\n", r.LandlockExecDir)
	}
	fmt.Fprintf(w, "  wall 5 namespaces    %-4s pid=%d hostname=%q\n", yes(r.PID == 1), r.PID, r.Hostname)
	fmt.Fprintf(w, "  wall 6 resources     %-4s pids.max=%s\n", yes(r.PidsMax != "" && r.PidsMax != "max"), r.PidsMax)
	fmt.Fprintf(w, "  wall 7 filesystem    %-4s read-only root=%v, masked paths hidden=%v\n", yes(r.RootRO && allMasked), r.RootRO, allMasked)
}

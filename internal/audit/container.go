package audit

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/procfs"
)

// ContainerInput is a container seen from the host: its init's pid,
// and what Tirith knows of it when it made it.
type ContainerInput struct {
	// Name is how the user named it (name, id or pid).
	Name string
	Pid  int
	// Proc and CgroupRoot are the host's /proc and /sys/fs/cgroup
	// (tests point them elsewhere; "" means the real ones).
	Proc, CgroupRoot string
	// Tirith holds what Tirith recorded (its plan, apply report,
	// relaxations, drift), attached to the report as is; nil for a
	// container of another runtime.
	Tirith map[string]any
	// Landlock says what the apply report of a Tirith container says
	// about wall 4 (Landlock is not visible in /proc): "" when unknown.
	Landlock string
	// Relaxations are the walls a Tirith container's run relaxed.
	Relaxations []string
	// Drift is what a Tirith container changed in its root filesystem.
	Drift *Drift
	// Plan summarises a Tirith container's stored plan and apply
	// report, for the table.
	Plan []string
}

// Drift counts a container's changes to its image's files.
type Drift struct {
	Added, Changed, Deleted int
	Executables             []string
}

// Walls are the seven walls' names, by number.
var Walls = []string{"", "identity", "privileges", "syscalls", "mandatory access", "namespaces", "resources", "filesystem"}

// dangerousCaps give a process power over the kernel or other processes
// that no ordinary service needs (what --privileged and --cap-add hand
// out).
var dangerousCaps = []string{"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH",
	"CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_SYS_BOOT", "CAP_SYS_TIME", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE",
	"CAP_SYSLOG", "CAP_SYS_RESOURCE", "CAP_LINUX_IMMUTABLE", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_CONTROL"}

// Container audits the container whose init is in.Pid, from the host
// side, and grades it by how many of the seven walls are up.
func Container(in ContainerInput) (*Report, error) {
	proc := in.Proc
	if proc == "" {
		proc = "/proc"
	}
	cgRoot := in.CgroupRoot
	if cgRoot == "" {
		cgRoot = "/sys/fs/cgroup"
	}
	pdir := filepath.Join(proc, strconv.Itoa(in.Pid))
	status, err := readKV(filepath.Join(pdir, "status"))
	if err != nil {
		return nil, fmt.Errorf("container %s: pid %d: %w", in.Name, in.Pid, err)
	}
	r := &Report{Kind: "container", Target: fmt.Sprintf("%s (pid %d)", in.Name, in.Pid)}
	up := map[int]bool{}
	var why = map[int]string{}
	set := func(wall int, ok bool, reason string) {
		up[wall] = ok
		if !ok {
			why[wall] = reason
		}
	}

	// Wall 1: identity.
	uidMap, _ := os.ReadFile(filepath.Join(pdir, "uid_map"))
	identity := isIdentityMap(string(uidMap))
	hostUID := firstField(status["Uid"], 1) // effective uid, as the host sees it
	f := Finding{ID: "CTR-USERNS", Title: "a user namespace maps container root to an unprivileged host range", Severity: High, Result: Pass,
		Evidence: []string{"uid_map: " + oneLine(string(uidMap)), "effective uid on the host: " + hostUID}, Refs: []string{"CIS 2.8"}}
	if identity || hostUID == "0" {
		f.Title, f.Result = "no user namespace: container root is host root", Fail
		f.Remediation = "run with a user namespace (Tirith's default; `--userns=auto`, runc: linux.uidMappings)"
	}
	r.Add(f)
	set(1, f.Result == Pass, "no user namespace")

	// Wall 2: privileges.
	eff := parseMask(status["CapEff"])
	bnd := parseMask(status["CapBnd"])
	effNames, bndNames := caps.InMask(eff), caps.InMask(bnd)
	var danger []string
	for _, c := range bndNames {
		if slices.Contains(dangerousCaps, c) {
			danger = append(danger, c)
		}
	}
	f = Finding{ID: "CTR-CAPS", Title: "no dangerous capability in the bounding set", Severity: High, Result: Pass,
		Evidence: []string{fmt.Sprintf("CapEff: %s", capList(effNames)), fmt.Sprintf("CapBnd: %s", capList(bndNames))},
		Refs:     []string{"CIS 5.3", "CIS 5.4"}}
	if len(danger) > 0 {
		f.Title, f.Result = "dangerous capabilities in the bounding set", Fail
		f.Evidence = append(f.Evidence, "dangerous: "+strings.Join(danger, ", "))
		f.Remediation = "drop them (`--cap-drop`), do not run `--privileged`"
		if !identity && hostUID != "0" {
			f.Severity = Medium // scoped to the container's own user namespace
			f.Evidence = append(f.Evidence, "scoped to the container's user namespace")
		}
	}
	r.Add(f)
	nnp := strings.TrimSpace(status["NoNewPrivs"])
	f = Finding{ID: "CTR-NO-NEW-PRIVS", Title: "no_new_privs is set", Severity: Medium, Result: Pass,
		Evidence: []string{"NoNewPrivs: " + nnp}, Refs: []string{"CIS 5.25"}}
	if nnp != "1" {
		f.Title, f.Result = "no_new_privs is not set: setuid binaries can raise privileges", Fail
		f.Remediation = "`--security-opt no-new-privileges` (Tirith's default; OCI: process.noNewPrivileges)"
	}
	r.Add(f)
	set(2, len(danger) == 0 && nnp == "1", "dangerous capabilities or no no_new_privs")

	// Wall 3: syscalls.
	mode := strings.TrimSpace(status["Seccomp"])
	filters := strings.TrimSpace(status["Seccomp_filters"])
	f = Finding{ID: "CTR-SECCOMP", Title: "a seccomp filter is installed", Severity: High, Result: Pass,
		Evidence: []string{"Seccomp: " + mode, "Seccomp_filters: " + filters}, Refs: []string{"CIS 5.21"}}
	if mode != "2" && mode != "1" {
		f.Title, f.Result = "no seccomp filter", Fail
		f.Remediation = "run with a seccomp profile (Tirith's default; not `--security-opt seccomp=unconfined`)"
	}
	r.Add(f)
	set(3, f.Result == Pass, "no seccomp filter")

	// Wall 4: mandatory access control.
	label := readLabel(pdir)
	f = Finding{ID: "CTR-MAC", Title: "a mandatory access control confines the container", Severity: Medium, Result: Pass,
		Refs: []string{"CIS 5.1", "CIS 5.2"}}
	macUp := label != "" && label != "unconfined" && !strings.HasPrefix(label, "unconfined")
	if label != "" {
		f.Evidence = append(f.Evidence, "LSM label: "+label)
	}
	switch {
	case in.Landlock != "":
		f.Evidence = append(f.Evidence, "Landlock (apply report): "+in.Landlock)
		macUp = macUp || !strings.HasPrefix(in.Landlock, "not ")
	default:
		f.Evidence = append(f.Evidence, "Landlock: not visible from the host for a container Tirith did not make")
	}
	if !macUp {
		f.Title, f.Result = "no mandatory access control seen", Fail
		f.Remediation = "run under Landlock (Tirith's default) or an AppArmor/SELinux profile"
	}
	r.Add(f)
	set(4, macUp, "no Landlock, AppArmor or SELinux confinement seen")

	// Wall 5: namespaces.
	shared := map[string]bool{}
	var nsLines, sharedList []string
	for _, ns := range []string{"pid", "net", "ipc", "uts", "mnt", "cgroup", "user", "time"} {
		mine, err1 := os.Readlink(filepath.Join(pdir, "ns", ns))
		host, err2 := os.Readlink(filepath.Join(proc, "1", "ns", ns))
		if err1 != nil || err2 != nil {
			continue
		}
		if mine == host {
			shared[ns] = true
			sharedList = append(sharedList, ns)
			nsLines = append(nsLines, ns+": the host's ("+mine+")")
		} else {
			nsLines = append(nsLines, ns+": own ("+mine+")")
		}
	}
	f = Finding{ID: "CTR-NAMESPACES", Title: "the container has its own pid, net, ipc, uts and mount namespaces", Severity: High, Result: Pass,
		Evidence: nsLines, Refs: []string{"CIS 5.9", "CIS 5.15", "CIS 5.16", "CIS 5.20", "CIS 5.30"}}
	var core []string
	for _, ns := range []string{"pid", "net", "ipc", "uts", "mnt"} {
		if shared[ns] {
			core = append(core, ns)
		}
	}
	if len(core) > 0 {
		f.Title, f.Result = "the container shares host namespaces: "+strings.Join(core, ", "), Fail
		f.Remediation = "do not run with --network host, --pid host, --ipc host or --uts host"
	} else if shared["cgroup"] {
		f.Title, f.Result, f.Severity = "the container shares the host's cgroup namespace", Warn, Low
		f.Remediation = "give it a cgroup namespace (Tirith's default)"
	}
	r.Add(f)
	set(5, len(core) == 0, "shares host namespaces: "+strings.Join(core, ", "))
	r.Add(listeners(pdir, shared["net"]))

	// Wall 6: resources.
	lim := cgroupLimits(pdir, cgRoot)
	f = Finding{ID: "CTR-LIMITS", Title: "memory and process limits are set", Severity: Medium, Result: Pass,
		Evidence: lim.evidence(), Refs: []string{"CIS 5.10", "CIS 5.28"}}
	var missing []string
	if !lim.memory {
		missing = append(missing, "memory")
	}
	if !lim.pids {
		missing = append(missing, "pids")
	}
	if len(missing) > 0 {
		f.Title, f.Result = "no limit on "+strings.Join(missing, " and "), Fail
		f.Remediation = "set `--memory` and `--pids-limit` (Tirith's default: 512m and 1024)"
	}
	r.Add(f)
	set(6, len(missing) == 0, "no "+strings.Join(missing, "/")+" limit")

	// Wall 7: filesystem.
	mounts := readMountinfo(filepath.Join(pdir, "mountinfo"))
	rootRO, masked, writable, sockets := false, 0, []string{}, []string{}
	for _, m := range mounts {
		ro := slices.Contains(m.opts, "ro")
		if m.point == "/" {
			rootRO = ro
			continue
		}
		for _, p := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"} {
			if m.point == p {
				masked++
			}
		}
		base := filepath.Base(m.point)
		if strings.HasSuffix(base, ".sock") && (strings.Contains(base, "docker") || strings.Contains(base, "containerd") || strings.Contains(base, "podman") || strings.Contains(base, "crio")) {
			sockets = append(sockets, m.point)
		}
		// Masks and read-only paths live under /proc and /sys: not
		// places a program writes to.
		under := strings.HasPrefix(m.point, "/proc/") || strings.HasPrefix(m.point, "/sys/")
		// A device node bound from the host's devtmpfs (/dev/null) is
		// a file, nothing can be put in it.
		under = under || m.fstype == "devtmpfs" && strings.HasPrefix(m.point, "/dev/")
		if !ro && !under && m.fstype != "proc" && m.fstype != "sysfs" && m.fstype != "devpts" && m.fstype != "mqueue" && m.fstype != "cgroup" && m.fstype != "cgroup2" {
			flags := []string{}
			for _, o := range []string{"noexec", "nosuid", "nodev"} {
				if slices.Contains(m.opts, o) {
					flags = append(flags, o)
				}
			}
			writable = append(writable, fmt.Sprintf("%s (%s, %s)", m.point, m.fstype, strings.Join(append([]string{"rw"}, flags...), ",")))
		}
	}
	f = Finding{ID: "CTR-ROOTFS-RO", Title: "the root filesystem is read-only", Severity: Medium, Result: Pass, Refs: []string{"CIS 5.12"}}
	if !rootRO {
		f.Title, f.Result = "the root filesystem is writable", Fail
		f.Remediation = "run with `--read-only` (Tirith's default) and give writable places as tmpfs or volumes"
	}
	r.Add(f)
	f = Finding{ID: "CTR-MASKED-PATHS", Title: "sensitive /proc and /sys paths are masked", Severity: Medium, Result: Pass,
		Evidence: []string{fmt.Sprintf("%d of /proc/kcore, /proc/keys, /proc/timer_list, /sys/firmware masked", masked)}}
	if masked == 0 {
		f.Title, f.Result = "no /proc or /sys path is masked", Fail
		f.Remediation = "do not run --privileged; keep the runtime's masked paths"
	}
	r.Add(f)
	f = Finding{ID: "CTR-WRITABLE-MOUNTS", Title: "writable mounts", Severity: Info, Result: Note, Evidence: writable}
	for _, w := range writable {
		if !strings.Contains(w, "noexec") && strings.HasPrefix(in.Landlock, "enforced") {
			// Tirith's default Landlock policy makes every writable
			// mount noExecute, whatever its mount flags.
			f.Evidence = append(f.Evidence, "without noexec, but Landlock is enforced: Tirith's default policy forbids executing from writable mounts")
			break
		}
		if !strings.Contains(w, "noexec") {
			f.Title, f.Result, f.Severity = "writable mounts without noexec", Warn, Low
			f.Remediation = "mount scratch space noexec (Tirith's default), or keep the Landlock policy that forbids executing from writable mounts"
			break
		}
	}
	if len(writable) == 0 {
		f.Evidence = []string{"none"}
	}
	r.Add(f)
	f = Finding{ID: "CTR-RUNTIME-SOCKET", Title: "no container runtime socket is mounted", Severity: Critical, Result: Pass, Refs: []string{"CIS 5.31"}}
	if len(sockets) > 0 {
		f.Title, f.Result, f.Evidence = "a container runtime socket is mounted", Fail, sockets
		f.Remediation = "never mount a runtime's socket into a container: it is root on the host"
	}
	r.Add(f)
	set(7, rootRO && masked > 0 && len(sockets) == 0, "writable root, no masked paths or a runtime socket")

	r.Add(envSecrets(pdir))
	if len(in.Relaxations) > 0 {
		r.Add(Finding{ID: "CTR-RELAXATIONS", Title: "walls relaxed at run", Severity: Medium, Result: Warn, Evidence: in.Relaxations,
			Remediation: "run without the relaxing flags if the program does not need them"})
	}

	if len(in.Plan) > 0 {
		r.Add(Finding{ID: "CTR-TIRITH-PLAN", Title: "Tirith's plan and apply report for this container", Severity: Info, Result: Note, Evidence: in.Plan})
	}
	if d := in.Drift; d != nil {
		f := Finding{ID: "CTR-DRIFT", Title: "no new or changed executables since start", Severity: High, Result: Pass,
			Evidence: []string{fmt.Sprintf("%d added, %d changed, %d deleted", d.Added, d.Changed, d.Deleted)}}
		if len(d.Executables) > 0 {
			f.Title, f.Result = "new or changed executables in the container", Warn
			f.Evidence = append(f.Evidence, evidence(slices.Clone(d.Executables))...)
			f.Remediation = "a container that grows programs may be compromised: look at them (`tirith diff --format json`), then rebuild the image rather than patch in place"
		}
		r.Add(f)
	}

	n := 0
	var down []string
	for w := 1; w <= 7; w++ {
		if up[w] {
			n++
		} else {
			down = append(down, fmt.Sprintf("wall %d (%s): %s", w, Walls[w], why[w]))
		}
	}
	r.Grade = grade(n)
	wf := Finding{ID: "CTR-WALLS", Title: fmt.Sprintf("%d of 7 walls up", n), Severity: High, Result: Pass, Evidence: down}
	if n < 7 {
		wf.Result = Fail
		if n >= 5 {
			wf.Severity, wf.Result = Medium, Warn
		}
		wf.Remediation = "raise the missing walls (run it with Tirith's defaults)"
	}
	r.Add(wf)
	if in.Tirith != nil {
		r.Extra = in.Tirith
	}
	r.Sort()
	return r, nil
}

func grade(up int) string {
	switch {
	case up == 7:
		return "A"
	case up == 6:
		return "B"
	case up == 5:
		return "C"
	case up == 4:
		return "D"
	}
	return "F"
}

func capList(c []string) string {
	if len(c) == 0 {
		return "none"
	}
	if len(c) >= len(caps.All()) {
		return fmt.Sprintf("all (%d)", len(c))
	}
	return strings.Join(c, ",")
}

func readKV(p string) (map[string]string, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out, nil
}

func firstField(s string, n int) string {
	f := strings.Fields(s)
	if len(f) < n {
		return ""
	}
	return f[n-1]
}

func parseMask(s string) uint64 {
	v, _ := strconv.ParseUint(strings.TrimSpace(s), 16, 64)
	return v
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// isIdentityMap says whether a uid_map is the initial namespace's (or
// maps container root to host root).
func isIdentityMap(m string) bool {
	for _, line := range strings.Split(strings.TrimSpace(m), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "0" && f[1] == "0" {
			return true
		}
	}
	return strings.TrimSpace(m) == ""
}

// readLabel is the process's LSM label, from the LSM-specific file when
// the kernel has one, else the shared attr/current.
func readLabel(pdir string) string {
	for _, p := range []string{"attr/apparmor/current", "attr/current"} {
		if b, err := os.ReadFile(filepath.Join(pdir, p)); err == nil {
			if s := strings.TrimSpace(strings.TrimRight(string(b), "\x00")); s != "" {
				return s
			}
		}
	}
	return ""
}

type mountEntry struct {
	point, fstype string
	opts          []string
}

// readMountinfo reads a mountinfo table: mount point, per-mount options
// merged with the superblock's, filesystem type.
func readMountinfo(p string) []mountEntry {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var out []mountEntry
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			continue
		}
		opts := strings.Split(f[5], ",")
		// The superblock's ro makes the mount read-only too.
		if slices.Contains(strings.Split(g[2], ","), "ro") && !slices.Contains(opts, "ro") {
			opts = append(opts, "ro")
		}
		out = append(out, mountEntry{point: procfs.UnescapeMountinfo(f[4]), fstype: g[0], opts: opts})
	}
	return out
}

type limits struct {
	mode          string
	memory, pids  bool
	memVal, pidsV string
	cpu           string
}

func (l limits) evidence() []string {
	return []string{"cgroup " + l.mode, "memory: " + l.memVal, "pids: " + l.pidsV, "cpu: " + l.cpu}
}

// cgroupLimits reads the container's limits from its cgroup, on v2 (a
// "0::" line only), v1 or hybrid (one line per controller).
func cgroupLimits(pdir, root string) limits {
	l := limits{memVal: "unknown", pidsV: "unknown", cpu: "unknown"}
	b, err := os.ReadFile(filepath.Join(pdir, "cgroup"))
	if err != nil {
		return l
	}
	v1 := map[string]string{}
	v2 := ""
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			v1[c] = parts[2]
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	unlimitedV1 := func(s string) bool {
		n, err := strconv.ParseUint(s, 10, 64)
		return err != nil || n >= 1<<62
	}
	if _, ok := v1["memory"]; !ok && v2 != "" {
		l.mode = "v2"
		dir := filepath.Join(root, v2)
		l.memVal, l.pidsV = read(filepath.Join(dir, "memory.max")), read(filepath.Join(dir, "pids.max"))
		l.cpu = read(filepath.Join(dir, "cpu.max"))
		l.memory = l.memVal != "" && l.memVal != "max"
		l.pids = l.pidsV != "" && l.pidsV != "max"
		return l
	}
	l.mode = "v1"
	if v2 != "" {
		l.mode = "hybrid"
	}
	if p, ok := v1["memory"]; ok {
		l.memVal = read(filepath.Join(root, "memory", p, "memory.limit_in_bytes"))
		l.memory = l.memVal != "" && !unlimitedV1(l.memVal)
		if !l.memory && l.memVal != "" {
			l.memVal += " (unlimited)"
		}
	}
	if p, ok := v1["pids"]; ok {
		l.pidsV = read(filepath.Join(root, "pids", p, "pids.max"))
		l.pids = l.pidsV != "" && l.pidsV != "max"
	}
	if p, ok := v1["cpu"]; ok {
		l.cpu = "quota " + read(filepath.Join(root, "cpu", p, "cpu.cfs_quota_us")) + ", shares " + read(filepath.Join(root, "cpu", p, "cpu.shares"))
	}
	return l
}

// listeners reports the TCP ports listening in the container's network
// namespace (read through its /proc/PID/net): with the host's network
// they are host ports.
func listeners(pdir string, hostNet bool) Finding {
	var ports []string
	for _, f := range []string{"net/tcp", "net/tcp6"} {
		b, err := os.ReadFile(filepath.Join(pdir, f))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // TCP_LISTEN
				continue
			}
			_, port, _ := strings.Cut(fields[1], ":")
			if n, err := strconv.ParseUint(port, 16, 16); err == nil {
				p := strconv.FormatUint(n, 10)
				if !slices.Contains(ports, p) {
					ports = append(ports, p)
				}
			}
		}
	}
	f := Finding{ID: "CTR-NETWORK", Title: "network: its own namespace", Severity: Info, Result: Note}
	if len(ports) > 0 {
		f.Evidence = []string{"listening TCP ports: " + strings.Join(ports, ", ")}
	}
	if hostNet {
		f.Title, f.Severity, f.Result = "network: the host's (every listening port is a host port)", High, Fail
		f.Remediation = "give it its own network namespace (Tirith's default: the bridge network, isolated from other containers, or --network none)"
		f.Refs = []string{"CIS 5.9"}
	}
	return f
}

// envSecrets names the init's environment variables that look like
// secrets; values are never read past the check.
func envSecrets(pdir string) Finding {
	f := Finding{ID: "CTR-SECRET-ENV", Title: "no secrets in the environment", Severity: Medium, Result: Pass}
	b, err := os.ReadFile(filepath.Join(pdir, "environ"))
	if err != nil {
		f.Result, f.Severity, f.Title = Note, Info, "environment not readable"
		return f
	}
	var names []string
	for _, kv := range strings.Split(string(b), "\x00") {
		k, v, ok := strings.Cut(kv, "=")
		if ok && secretReason(k, v) != "" {
			names = append(names, k)
		}
	}
	if len(names) > 0 {
		f.Title, f.Result = "secrets passed as environment variables", Warn
		f.Evidence = []string{"names: " + strings.Join(names, ", ")}
		f.Remediation = "pass secrets as files (`tirith run --secret`): the environment leaks to /proc, child processes and logs"
	}
	return f
}

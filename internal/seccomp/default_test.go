package seccomp

import (
	"os"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mobyProfilePath is moby's default profile as Debian ships it (package
// containers-common / golang-github-containers-common). Tests only read it.
const mobyProfilePath = "/usr/share/containers/seccomp.json"

// dockerCaps is Docker's default capability set.
var dockerCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// dangerous are the syscalls the default profile must refuse whatever the
// capabilities, except where noted in capGated.
var dangerous = []string{
	"io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "bpf", "perf_event_open",
	"keyctl", "add_key", "request_key",
	"fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"open_by_handle_at", "name_to_handle_at", "unshare", "setns", "iopl", "ioperm",
	"settimeofday", "clock_settime", "swapon", "reboot", "acct", "modify_ldt", "vmsplice",
}

// capGated are refused unless the named capability is granted.
var capGated = map[string][]string{
	"CAP_SYS_ADMIN":  {"mount", "umount2", "pivot_root"},
	"CAP_SYS_PTRACE": {"ptrace", "process_vm_readv", "process_vm_writev"},
	"CAP_SYS_CHROOT": {"chroot"},
}

// common are syscalls ordinary programs need.
var common = []string{
	"read", "write", "openat", "close", "mmap", "munmap", "mprotect", "brk", "futex", "exit_group",
	"execve", "rt_sigaction", "rt_sigreturn", "fstat", "newfstatat", "statx", "getdents64",
	"epoll_pwait", "socket", "connect", "sendmsg", "recvmsg", "wait4", "getrandom", "clock_gettime",
	"prlimit64", "set_robust_list", "rseq", "pipe2", "dup3", "fcntl", "ioctl", "getpid",
}

type verdictFn func(name string, args ...uint64) (uint32, bool)

// verdicts compiles Default(caps) for goarch and answers for a syscall on
// the native architecture; ok is false if the name is unknown there.
func verdicts(t *testing.T, caps []string, goarch string) verdictFn {
	cfg := Default(caps)
	v := newVM(t, mustCompile(t, cfg, goarch))
	native := goarchs[goarch].native
	return func(name string, args ...uint64) (uint32, bool) {
		nr, ok := SyscallNumber(native, name)
		if !ok {
			return 0, false
		}
		in := input{nr: nr, arch: archInfos[native].auditArch}
		copy(in.args[:], args)
		got := v.run(in)
		if want := naive(t, cfg, goarch, in); got != want {
			t.Errorf("%s %s: filter says %s, profile says %s", goarch, name, ActionString(got), ActionString(want))
		}
		return got, true
	}
}

func TestDefaultBlocksDangerous(t *testing.T) {
	allCaps := []string{"CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_BOOT", "CAP_SYS_TIME", "CAP_SYS_RAWIO", "CAP_DAC_READ_SEARCH"}
	for _, ga := range []string{"amd64", "arm64"} {
		for _, caps := range [][]string{nil, dockerCaps, allCaps} {
			check := verdicts(t, caps, ga)
			for _, name := range dangerous {
				if got, ok := check(name); ok && got != retErrno|uint32(unix.EPERM) {
					t.Errorf("%s, caps %v: %s gets %s, want ERRNO(EPERM)", ga, caps, name, ActionString(got))
				}
			}
		}
		for capName, names := range capGated {
			without := verdicts(t, slices.DeleteFunc(slices.Clone(dockerCaps), func(c string) bool { return c == capName }), ga)
			with := verdicts(t, append(slices.Clone(dockerCaps), capName), ga)
			for _, name := range names {
				if got, ok := without(name); ok && got != retErrno|uint32(unix.EPERM) {
					t.Errorf("%s without %s: %s gets %s, want ERRNO(EPERM)", ga, capName, name, ActionString(got))
				}
				if got, ok := with(name); ok && got != retAllow {
					t.Errorf("%s with %s: %s gets %s, want ALLOW", ga, capName, name, ActionString(got))
				}
			}
		}
	}
}

func TestDefaultAllowsCommon(t *testing.T) {
	for _, ga := range []string{"amd64", "arm64"} {
		check := verdicts(t, dockerCaps, ga)
		for _, name := range common {
			got, ok := check(name)
			if !ok {
				if name == "newfstatat" || name == "fstat" {
					continue
				}
				t.Errorf("%s: %s unknown", ga, name)
				continue
			}
			if got != retAllow {
				t.Errorf("%s: %s gets %s, want ALLOW", ga, name, ActionString(got))
			}
		}
	}
}

func TestDefaultCloneAndPersonality(t *testing.T) {
	const threadFlags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
		unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
	nsFlags := []uint64{unix.CLONE_NEWNS, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWUSER, unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWCGROUP}
	for _, ga := range []string{"amd64", "arm64"} {
		for _, caps := range [][]string{dockerCaps, {"CAP_SYS_ADMIN"}} {
			check := verdicts(t, caps, ga)
			for _, flags := range []uint64{0, uint64(unix.SIGCHLD), threadFlags, threadFlags | 0xffffffff00000000} {
				if got, _ := check("clone", flags); got != retAllow {
					t.Errorf("%s: clone(%#x) gets %s, want ALLOW", ga, flags, ActionString(got))
				}
			}
			for _, ns := range nsFlags {
				if got, _ := check("clone", ns|uint64(unix.SIGCHLD)); got != retErrno|uint32(unix.EPERM) {
					t.Errorf("%s: clone(%#x) gets %s, want ERRNO(EPERM)", ga, ns, ActionString(got))
				}
				if got, _ := check("unshare", ns); got != retErrno|uint32(unix.EPERM) {
					t.Errorf("%s: unshare(%#x) gets %s, want ERRNO(EPERM)", ga, ns, ActionString(got))
				}
			}
			if got, _ := check("clone3"); got != retErrno|uint32(unix.ENOSYS) {
				t.Errorf("%s: clone3 gets %s, want ERRNO(ENOSYS)", ga, ActionString(got))
			}
			for _, v := range []uint64{0, 8, 0x20000, 0x20008, 0xffffffff} {
				if got, _ := check("personality", v); got != retAllow {
					t.Errorf("%s: personality(%#x) gets %s, want ALLOW", ga, v, ActionString(got))
				}
			}
			for _, v := range []uint64{0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0100000 /* MMAP_PAGE_ZERO */, 0x1_0000_0000, 9, 0xfffffffe} {
				if got, _ := check("personality", v); got != retErrno|uint32(unix.EPERM) {
					t.Errorf("%s: personality(%#x) gets %s, want ERRNO(EPERM)", ga, v, ActionString(got))
				}
			}
		}
	}
	check := verdicts(t, nil, "amd64")
	if got, _ := check("socket", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT); got != retErrno|uint32(unix.EINVAL) {
		t.Errorf("audit socket without CAP_AUDIT_WRITE gets %s, want ERRNO(EINVAL)", ActionString(got))
	}
	if got, _ := check("socket", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE); got != retAllow {
		t.Errorf("route socket gets %s, want ALLOW", ActionString(got))
	}
}

// TestDefaultCompatArches: 32-bit programs run on 64-bit kernels with
// their own numbers.
func TestDefaultCompatArches(t *testing.T) {
	tests := []struct {
		goarch string
		arch   specs.Arch
		name   string
		want   uint32
	}{
		{"amd64", specs.ArchX86, "read", retAllow},
		{"amd64", specs.ArchX86, "socketcall", retAllow},
		{"amd64", specs.ArchX86, "io_uring_setup", retErrno | uint32(unix.EPERM)},
		{"amd64", specs.ArchX32, "read", retAllow},
		{"amd64", specs.ArchX32, "rt_sigaction", retAllow},
		{"amd64", specs.ArchX32, "keyctl", retErrno | uint32(unix.EPERM)},
		{"arm64", specs.ArchARM, "set_tls", retAllow},
		{"arm64", specs.ArchARM, "cacheflush", retAllow},
		{"arm64", specs.ArchARM, "bpf", retErrno | uint32(unix.EPERM)},
	}
	for _, tc := range tests {
		cfg := Default(dockerCaps)
		v := newVM(t, mustCompile(t, cfg, tc.goarch))
		nr, ok := SyscallNumber(tc.arch, tc.name)
		if !ok {
			t.Fatalf("%s unknown on %s", tc.name, tc.arch)
		}
		in := input{nr: nr, arch: archInfos[tc.arch].auditArch}
		if got := v.run(in); got != tc.want {
			t.Errorf("%s %s: got %s, want %s", tc.arch, tc.name, ActionString(got), ActionString(tc.want))
		}
	}
}

// unconditionalAllows returns the names cfg allows on arch whatever the
// arguments: the first rule naming the syscall has no conditions and
// allows (or every rule allows and so does the default).
func unconditionalAllows(cfg *specs.LinuxSeccomp, arch specs.Arch) map[string]bool {
	out := map[string]bool{}
	decided := map[string]bool{}
	for _, sc := range cfg.Syscalls {
		for _, n := range sc.Names {
			if _, ok := SyscallNumber(arch, n); !ok || decided[n] {
				continue
			}
			if len(sc.Args) == 0 {
				decided[n] = true
				out[n] = sc.Action == specs.ActAllow
			} else if sc.Action != specs.ActAllow {
				decided[n] = true // something conditional is refused first
			}
		}
	}
	for n, ok := range out {
		if !ok {
			delete(out, n)
		}
	}
	return out
}

// TestDefaultNoBroaderThanMoby: every syscall Tirith allows
// unconditionally must be allowed unconditionally by moby's default for
// the same capabilities. Syscalls the installed moby profile predates (it
// never mentions them) are reported, not failed: Tirith allows a few that
// newer moby releases added.
func TestDefaultNoBroaderThanMoby(t *testing.T) {
	data, err := os.ReadFile(mobyProfilePath)
	if err != nil {
		t.Skipf("moby's default profile is not installed (%v); apt-get install containers-common (or golang-github-containers-common) to run this comparison", err)
	}
	moby, err := ParseProfile(data)
	if err != nil {
		t.Fatalf("parse %s: %v", mobyProfilePath, err)
	}
	mentioned := map[string]bool{}
	for _, sc := range moby.Syscalls {
		for _, n := range sc.Names {
			mentioned[n] = true
		}
	}
	for _, ga := range []string{"amd64", "arm64"} {
		for _, caps := range [][]string{dockerCaps, append(slices.Clone(dockerCaps), "CAP_SYS_ADMIN", "CAP_SYS_PTRACE")} {
			mcfg := moby.Resolve(caps, ga, "6.18.0")
			tcfg := Default(caps)
			arches, err := filterArches(ga, tcfg.Architectures)
			if err != nil {
				t.Fatal(err)
			}
			var newer []string
			for _, a := range arches {
				mAllow := unconditionalAllows(mcfg, a.arch)
				tAllow := unconditionalAllows(tcfg, a.arch)
				var broader []string
				for n := range tAllow {
					switch {
					case mAllow[n]:
					case !mentioned[n]:
						newer = append(newer, n)
					default:
						broader = append(broader, n)
					}
				}
				slices.Sort(broader)
				if len(broader) > 0 {
					t.Errorf("%s %s caps %v: Tirith allows what moby does not: %v", ga, a.arch, caps, broader)
				}
				t.Logf("%s %s: Tirith allows %d syscalls unconditionally, moby %d", ga, a.arch, len(tAllow), len(mAllow))
			}
			slices.Sort(newer)
			newer = slices.Compact(newer)
			t.Logf("%s: allowed by Tirith, unknown to the installed moby profile (newer syscalls): %v", ga, newer)
		}
	}
}

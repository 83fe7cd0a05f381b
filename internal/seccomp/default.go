package seccomp

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// allowGroup is a set of syscalls allowed for one reason.
type allowGroup struct {
	why   string
	names []string
}

// defaultAllow is Tirith's allowlist for every container. Each group says
// why a container needs it. It is a subset of moby's default profile minus
// the syscalls listed in Default's comment; names unknown on an
// architecture are ignored there, so 32-bit and arch-specific variants sit
// next to their 64-bit forms.
var defaultAllow = []allowGroup{
	{"process lifetime: start programs, exit, wait for children", []string{
		"execve", "execveat", "exit", "exit_group", "fork", "vfork",
		"wait4", "waitid", "waitpid", "restart_syscall", "set_tid_address",
		"rseq", "pidfd_open", "pidfd_send_signal", "process_mrelease",
	}},
	{"identity queries and changes inside the user namespace and capability set", []string{
		"getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setsid", "setpgid",
		"getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32",
		"getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups", "getgroups32",
		"setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid", "setregid32",
		"setresuid", "setresuid32", "setresgid", "setresgid32", "setgroups", "setgroups32",
		"setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "capget", "capset",
	}},
	{"memory management for every allocator and loader", []string{
		"brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore",
		"mlock", "mlock2", "mlockall", "munlock", "munlockall", "membarrier",
		"pkey_alloc", "pkey_free", "pkey_mprotect", "mbind", "get_mempolicy", "set_mempolicy",
		"memfd_create", "memfd_secret", "map_shadow_stack",
	}},
	{"threads and synchronisation (futexes, robust lists, TLS)", []string{
		"futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake", "futex_requeue",
		"set_robust_list", "get_robust_list", "arch_prctl", "set_thread_area", "get_thread_area",
		"sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
		"sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
		"sched_getattr", "sched_setattr", "sched_rr_get_interval", "sched_rr_get_interval_time64",
		"getcpu", "getpriority", "setpriority", "ioprio_get", "ioprio_set",
	}},
	{"ARM user helpers: cache flush after JIT, TLS, breakpoints", []string{
		"breakpoint", "cacheflush", "set_tls",
	}},
	{"signals", []string{
		"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend",
		"rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
		"sigaction", "sigprocmask", "sigreturn", "sigpending", "sigsuspend", "signal", "sigaltstack",
		"kill", "tkill", "tgkill", "pause", "signalfd", "signalfd4",
	}},
	{"file descriptors and I/O", []string{
		"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
		"close", "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl", "flock",
		"lseek", "_llseek", "sendfile", "sendfile64", "splice", "tee", "copy_file_range",
		"readahead", "fadvise64", "fadvise64_64", "arm_fadvise64_64", "fallocate",
		"fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "sync_file_range2", "arm_sync_file_range",
		"pipe", "pipe2", "eventfd", "eventfd2",
	}},
	{"paths, metadata and extended attributes", []string{
		"open", "openat", "openat2", "creat", "access", "faccessat", "faccessat2",
		"stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "newfstatat", "fstatat64", "statx",
		"statfs", "statfs64", "fstatfs", "fstatfs64",
		"getdents", "getdents64", "readdir", "getcwd", "chdir", "fchdir",
		"mkdir", "mkdirat", "mknod", "mknodat", "rmdir", "unlink", "unlinkat",
		"rename", "renameat", "renameat2", "link", "linkat", "symlink", "symlinkat", "readlink", "readlinkat",
		"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32",
		"lchown", "lchown32", "fchownat", "umask",
		"truncate", "truncate64", "ftruncate", "ftruncate64",
		"utime", "utimes", "utimensat", "utimensat_time64", "futimesat",
		"getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
		"listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr",
		"inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "cachestat",
	}},
	{"event loops and waiting", []string{
		"poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
		"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	}},
	{"time: reading clocks, sleeping, timers (setting clocks needs CAP_SYS_TIME, not granted)", []string{
		"time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
		"clock_nanosleep", "clock_nanosleep_time64", "nanosleep", "alarm", "getitimer", "setitimer",
		"timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
		"timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
		"timerfd_settime", "timerfd_settime64", "times", "adjtimex", "clock_adjtime", "clock_adjtime64",
	}},
	{"networking inside the container's network namespace (socket has its own rule)", []string{
		"socketpair", "bind", "connect", "listen", "accept", "accept4", "shutdown",
		"getsockname", "getpeername", "getsockopt", "setsockopt",
		"send", "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg", "recvmmsg_time64",
		"socketcall",
	}},
	{"System V and POSIX IPC, isolated by the IPC namespace", []string{
		"ipc", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semtimedop_time64",
		"semctl", "shmget", "shmat", "shmdt", "shmctl",
		"mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
		"mq_timedreceive_time64", "mq_notify", "mq_getsetattr",
	}},
	{"AIO (libaio, used by databases); io_uring is not allowed", []string{
		"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
	}},
	{"system information and limits", []string{
		"uname", "sysinfo", "getrlimit", "ugetrlimit", "setrlimit", "prlimit64", "getrusage", "getrandom",
	}},
	{"self-sandboxing: a process may only add restrictions", []string{
		"prctl", "seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	}},
}

// Clone flags that create namespaces, from <linux/sched.h>.
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// Default returns Tirith's default seccomp profile for a container whose
// bounding set is caps. Everything not allowed fails with EPERM. It is no
// broader than moby's default profile and, unlike it, also refuses:
//   - io_uring_setup/enter/register: a large, often exploited attack surface
//     that bypasses seccomp for the operations it queues;
//   - userfaultfd: stalls kernel page faults, the usual tool for winning
//     kernel races;
//   - bpf, perf_event_open: large kernel attack surface, rarely needed;
//   - keyctl, add_key, request_key: the keyring is not namespaced;
//   - the new mount API (fsopen, fsconfig, fsmount, fspick, move_mount,
//     open_tree, mount_setattr), and mount, umount2, pivot_root unless
//     CAP_SYS_ADMIN is granted;
//   - kexec_load, kexec_file_load, init_module, finit_module, delete_module;
//   - open_by_handle_at and name_to_handle_at (the "shocker" escape);
//   - ptrace, process_vm_readv/writev, kcmp, pidfd_getfd, process_madvise
//     unless CAP_SYS_PTRACE is granted;
//   - unshare, setns, and clone with any namespace flag; clone3, whose flags
//     sit in memory a filter cannot read, gets ENOSYS so that libc falls
//     back to clone;
//   - personality except for the values below.
func Default(caps []string) *specs.LinuxSeccomp {
	eperm := uint(unix.EPERM)
	enosys := uint(unix.ENOSYS)
	p := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Architectures: []specs.Arch{
			specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64, specs.ArchARM,
		},
	}
	allow := func(names ...string) {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: names, Action: specs.ActAllow})
	}
	for _, g := range defaultAllow {
		allow(g.names...)
	}

	// clone: threads and processes, but no new namespaces. The flags are
	// argument 0 on every supported architecture (s390 would differ).
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
		Names:  []string{"clone"},
		Action: specs.ActAllow,
		Args:   []specs.LinuxSeccompArg{{Index: 0, Value: cloneNamespaceFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}},
	})
	// clone3: glibc >= 2.34 tries it first and falls back only on ENOSYS.
	p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys})

	// personality: only the values libc and 32-bit emulation use: the
	// default (PER_LINUX), PER_LINUX32, UNAME26, both, and the query
	// 0xffffffff. Others can disable ASLR (ADDR_NO_RANDOMIZE) or map page 0.
	for _, v := range []uint64{0x0, 0x8, 0x20000, 0x20008, 0xffffffff} {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names:  []string{"personality"},
			Action: specs.ActAllow,
			Args:   []specs.LinuxSeccompArg{{Index: 0, Value: v, Op: specs.OpEqualTo}},
		})
	}

	// socket: without CAP_AUDIT_WRITE, refuse audit netlink sockets
	// (AF_NETLINK=16, NETLINK_AUDIT=9) with EINVAL as moby does, so tools
	// like login carry on without auditing.
	if !slices.Contains(caps, "CAP_AUDIT_WRITE") {
		einval := uint(unix.EINVAL)
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names:    []string{"socket"},
			Action:   specs.ActErrno,
			ErrnoRet: &einval,
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: unix.AF_NETLINK, Op: specs.OpEqualTo},
				{Index: 2, Value: unix.NETLINK_AUDIT, Op: specs.OpEqualTo},
			},
		})
	}
	allow("socket")

	// Capability-gated groups: the capability already guards the syscall
	// in the kernel; the filter adds a second wall for the common case
	// where the capability is not granted.
	if slices.Contains(caps, "CAP_SYS_ADMIN") {
		// Mounting inside the container's own mount namespace.
		allow("mount", "umount", "umount2", "pivot_root", "sethostname", "setdomainname")
	}
	if slices.Contains(caps, "CAP_SYS_PTRACE") {
		// Debuggers and profilers.
		allow("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise")
	}
	if slices.Contains(caps, "CAP_SYS_CHROOT") {
		// chroot is harmless without CAP_SYS_ADMIN; package managers use it.
		allow("chroot")
	}
	return p
}

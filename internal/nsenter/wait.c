// wait.c is the lean container init: the process that waits for `start`.
// Once the Go init has raised every wall it can (mounts, pivot_root,
// capabilities, the uid switch, no_new_privs, LSM labels) and found the
// payload, it re-execs the sealed runtime binary with _TIRITH_WAIT_FD set.
// This constructor then runs before the Go runtime starts and never lets it
// start: the waiting process is this C code, the dynamic loader and libc
// (about 1 MB resident), not the whole Go binary.
//
// Its instructions come in a memfd (wait.go in internal/runtime/initproc
// writes it; the layout is documented there). What it does, in order:
//   1. landlock_restrict_self on the ruleset the Go init built (wall 4):
//      not before this exec, because the exec of the runtime binary, which
//      lies beneath no rule, would itself be refused;
//   2. block on the exec fifo until `start` writes to it;
//   3. install the compiled seccomp filter (wall 3), last, so that it need
//      not allow anything but execve;
//   4. execve the payload, or exit 126/127 with the Go init's wording.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_seccomp
#define SYS_seccomp 317
#endif
#define SECCOMP_SET_MODE_FILTER_ 1

#define WAIT_MAGIC 0x31545754u // "TWT1"

static void fail(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

static void fail(int code, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		_exit(code);
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	// Best effort: stderr may be closed; the exit code still says.
	ssize_t w = write(2, buf, (size_t)n);
	(void)w;
	_exit(code);
}

// errtext is Go's wording of an errno (syscall.Errno.Error), so that the
// same failure reads the same whichever init reports it.
static const char *errtext(int e)
{
	switch (e) {
	case ENOENT: return "no such file or directory";
	case EACCES: return "permission denied";
	case EPERM: return "operation not permitted";
	case ENOEXEC: return "exec format error";
	case EISDIR: return "is a directory";
	case ENOTDIR: return "not a directory";
	case ETXTBSY: return "text file busy";
	case E2BIG: return "argument list too long";
	case ENOMEM: return "cannot allocate memory";
	case ELOOP: return "too many levels of symbolic links";
	case ENAMETOOLONG: return "file name too long";
	case EINVAL: return "invalid argument";
	case EFAULT: return "bad address";
	case EIO: return "input/output error";
	case ELIBBAD: return "accessing a corrupted shared library";
	}
	return NULL;
}

static void failerr(int code, const char *what, int e) __attribute__((noreturn));

static void failerr(int code, const char *what, int e)
{
	const char *t = errtext(e);
	if (t != NULL)
		fail(code, "tirith init: %s: %s", what, t);
	fail(code, "tirith init: %s: errno %d", what, e);
}

// The Go init's exit code for a payload that cannot be executed after
// `ready` (lateExitCode in init.go): the shell's 127 and 126.
static int execcode(int e)
{
	switch (e) {
	case ENOENT:
		return 127;
	case EACCES: case EPERM: case ENOEXEC: case EISDIR:
		return 126;
	}
	return 1;
}

// A reader over the instructions, bounds-checked: they come from our own
// Go stage, but a short or garbled blob must fail, never overrun.
struct rd {
	const char *p, *end;
};

static uint32_t u32(struct rd *r)
{
	uint32_t v;
	if (r->end - r->p < 4)
		fail(1, "tirith init: wait instructions truncated");
	memcpy(&v, r->p, 4);
	r->p += 4;
	return v;
}

static const char *str(struct rd *r)
{
	const char *s = r->p;
	const char *nul = memchr(s, 0, (size_t)(r->end - s));
	if (nul == NULL)
		fail(1, "tirith init: wait instructions truncated");
	r->p = nul + 1;
	return s;
}

static char **strv(struct rd *r)
{
	uint32_t n = u32(r);
	if (n > (uint32_t)(r->end - r->p))
		fail(1, "tirith init: wait instructions: bad count");
	char **v = calloc((size_t)n + 1, sizeof(char *));
	if (v == NULL)
		fail(1, "tirith init: out of memory");
	for (uint32_t i = 0; i < n; i++)
		v[i] = (char *)str(r);
	return v;
}

// A signal that would have killed the Go init kills this one the same
// way: by the signal where the kernel lets it (no pid namespace), else
// exit status 2 (the Go runtime's, for a pid 1 that cannot be killed by
// its own signal). Without handlers, a pid 1 ignores all but SIGKILL.
static void die(int sig)
{
	sigset_t set;
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	kill(getpid(), sig);
	_exit(2);
}

static void catchfatal(void)
{
	for (int sig = 1; sig < 32; sig++) {
		switch (sig) {
		case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGCONT: case SIGURG:
		case SIGWINCH: case SIGTSTP: case SIGTTIN: case SIGTTOU: case SIGPROF:
			continue;
		}
		signal(sig, die);
	}
}

__attribute__((constructor)) static void lean_wait(void)
{
	const char *env = getenv("_TIRITH_WAIT_FD");
	if (env == NULL)
		return;
	int cfd = atoi(env);
	if (cfd < 3)
		_exit(1);
	// As in nsenter(): not dumpable until the payload's execve, so that
	// nothing in the container can ptrace us or open our /proc files.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		failerr(1, "prctl(PR_SET_DUMPABLE)", errno);
	catchfatal();

	struct stat st;
	if (fstat(cfd, &st) < 0)
		failerr(1, "wait instructions", errno);
	char *buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		fail(1, "tirith init: out of memory");
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(cfd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			failerr(1, "read wait instructions", n < 0 ? errno : EIO);
		got += (size_t)n;
	}
	close(cfd);

	struct rd r = {buf, buf + got};
	if (u32(&r) != WAIT_MAGIC)
		fail(1, "tirith init: wait instructions: bad magic");
	int fifo = (int)u32(&r);
	int ruleset = (int)u32(&r);
	uint32_t scflags = u32(&r);
	uint32_t ninsn = u32(&r);
	if (ninsn > 4096 || (size_t)(r.end - r.p) < (size_t)ninsn * sizeof(struct sock_filter))
		fail(1, "tirith init: wait instructions: bad seccomp program");
	struct sock_filter *insns = NULL;
	if (ninsn > 0) {
		insns = malloc((size_t)ninsn * sizeof(struct sock_filter));
		if (insns == NULL)
			fail(1, "tirith init: out of memory");
		memcpy(insns, r.p, (size_t)ninsn * sizeof(struct sock_filter));
		r.p += (size_t)ninsn * sizeof(struct sock_filter);
	}
	const char *path = str(&r);
	const char *what = str(&r);     // `exec "ARG0"`
	const char *landlock = str(&r); // the EACCES wording when Landlock decides, or ""
	char **argv = strv(&r);
	char **envp = strv(&r);

	// 1. Wall 4: Landlock (no_new_privs is already set).
	if (ruleset >= 0) {
		if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
			failerr(1, "wall 4 (mandatory access): landlock_restrict_self", errno);
		close(ruleset);
	}

	// 2. Block until `start` writes to the exec fifo.
	for (;;) {
		char c;
		ssize_t n = read(fifo, &c, 1);
		if (n == 1)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			fail(1, "tirith init: wait for start: EOF");
		failerr(1, "wait for start", errno);
	}
	close(fifo);

	// 3. Wall 3, last: nothing but execve runs under the filter.
	if (ninsn > 0) {
		struct sock_fprog prog = {.len = (unsigned short)ninsn, .filter = insns};
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER_, scflags, &prog) < 0) {
			char w[64];
			snprintf(w, sizeof(w), "wall 3 (syscalls): install seccomp filter (flags %#x)", scflags);
			failerr(1, w, errno);
		}
	}

	// 4. The payload.
	execve(path, argv, envp);
	int e = errno;
	if (e == EACCES && landlock[0] != 0)
		fail(126, "tirith init: %s", landlock);
	failerr(execcode(e), what, e);
}

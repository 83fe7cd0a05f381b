// nsenter.c runs before the Go runtime starts, while the process is still
// single-threaded: the only time a process may setns(2) into a user or mount
// namespace or unshare(CLONE_NEWUSER). Go's runtime is multithreaded before
// main, so this cannot be done from Go (docs/architecture.md, "Process tree
// and sync protocol"). It does nothing unless _TIRITH_NSENTER_FD names the
// sync socket.
//
// Protocol on the socket (text lines, parent -> child, ended by "end"):
//   join TYPE PATH   setns into the namespace at PATH (opened before any setns)
//   new FLAGS        unshare these CLONE_NEW* flags (decimal)
//   timens M_S M_NS B_S B_NS   offsets for a new time namespace
//   fork             fork even without a pid/time namespace
// Child -> parent:
//   usermap PID      a new user namespace exists; write its maps, then answer "ok"
//   pid PID          the pid that continues into Go (after an optional fork)
//   error MSG        setup failed; the child exits
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_JOIN 16

static int syncfd = -1;

static void writeall(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(syncfd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		buf += n;
		len -= (size_t)n;
	}
}

static void sendf(const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		_exit(1);
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	writeall(buf, (size_t)n);
}

static void die(const char *what)
{
	int err = errno;
	sendf("error nsenter: %s: %s\n", what, strerror(err));
	_exit(1);
}

// readline reads one '\n'-terminated line byte by byte: the socket also
// carries the Go stage's messages, which must stay unread.
static int readline(char *buf, size_t size)
{
	size_t i = 0;
	while (i + 1 < size) {
		char c;
		ssize_t n = read(syncfd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (c == '\n') {
			buf[i] = 0;
			return 0;
		}
		buf[i++] = c;
	}
	errno = E2BIG;
	return -1;
}

static int nstype(const char *name)
{
	if (!strcmp(name, "user")) return CLONE_NEWUSER;
	if (!strcmp(name, "mount")) return CLONE_NEWNS;
	if (!strcmp(name, "pid")) return CLONE_NEWPID;
	if (!strcmp(name, "network")) return CLONE_NEWNET;
	if (!strcmp(name, "ipc")) return CLONE_NEWIPC;
	if (!strcmp(name, "uts")) return CLONE_NEWUTS;
	if (!strcmp(name, "cgroup")) return CLONE_NEWCGROUP;
	if (!strcmp(name, "time")) return CLONE_NEWTIME;
	return 0;
}

__attribute__((constructor)) static void nsenter(void)
{
	const char *env = getenv("_TIRITH_NSENTER_FD");
	if (env == NULL)
		return;
	syncfd = atoi(env);
	if (syncfd < 3)
		_exit(1);
	// Until the payload's execve resets it, keep /proc/PID/{exe,mem,...}
	// of this process owned by host root: a process already in the
	// container cannot open the runtime binary through them
	// (CVE-2019-5736) or ptrace us.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("prctl(PR_SET_DUMPABLE)");

	int joinfd[MAX_JOIN], jointype[MAX_JOIN], njoin = 0;
	int newflags = 0, wantfork = 0, havetime = 0;
	long long toff[4] = {0, 0, 0, 0};
	char line[4096];

	for (;;) {
		if (readline(line, sizeof(line)) < 0)
			die("read config");
		if (!strcmp(line, "end"))
			break;
		if (!strncmp(line, "join ", 5)) {
			char *type = line + 5, *path = strchr(type, ' ');
			if (path == NULL || njoin == MAX_JOIN) {
				errno = EINVAL;
				die("bad join line");
			}
			*path++ = 0;
			int t = nstype(type);
			if (t == 0) {
				errno = EINVAL;
				die(type);
			}
			// Open every path before the first setns: joining a mount
			// namespace changes what later paths resolve to.
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				sendf("error nsenter: open %s namespace %s: %s\n", type, path, strerror(errno));
				_exit(1);
			}
			joinfd[njoin] = fd;
			jointype[njoin++] = t;
		} else if (!strncmp(line, "new ", 4)) {
			newflags = atoi(line + 4);
		} else if (!strncmp(line, "timens ", 7)) {
			havetime = 1;
			if (sscanf(line + 7, "%lld %lld %lld %lld", &toff[0], &toff[1], &toff[2], &toff[3]) != 4) {
				errno = EINVAL;
				die("bad timens line");
			}
		} else if (!strcmp(line, "fork")) {
			wantfork = 1;
		} else {
			errno = EINVAL;
			die(line);
		}
	}

	// A network namespace may be owned by an ancestor of the joined
	// user namespace (the front end pins bridge namespaces as host
	// root): joining it needs our capabilities from before the user
	// namespace, so it is tried first. EPERM (a rootless caller, whose
	// capabilities come from the user namespace) leaves it for later.
	int netdone = -1;
	for (int i = 0; i < njoin; i++) {
		if (jointype[i] != CLONE_NEWNET)
			continue;
		for (int u = 0; u < njoin; u++) {
			if (jointype[u] != CLONE_NEWUSER)
				continue;
			if (setns(joinfd[i], CLONE_NEWNET) == 0)
				netdone = i;
			else if (errno != EPERM) {
				sendf("error nsenter: setns %d: %s\n", CLONE_NEWNET, strerror(errno));
				_exit(1);
			}
			break;
		}
	}
	// A joined user namespace goes first: it grants the capabilities
	// needed to join namespaces it owns.
	for (int i = 0; i < njoin; i++) {
		if (jointype[i] == CLONE_NEWUSER) {
			if (setns(joinfd[i], CLONE_NEWUSER) < 0)
				die("setns user");
			if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
				die("become root in joined user namespace");
		}
	}
	int joinedpid = 0;
	for (int i = 0; i < njoin; i++) {
		if (jointype[i] == CLONE_NEWUSER || i == netdone)
			continue;
		if (setns(joinfd[i], jointype[i]) < 0) {
			sendf("error nsenter: setns %d: %s\n", jointype[i], strerror(errno));
			_exit(1);
		}
		if (jointype[i] == CLONE_NEWPID || jointype[i] == CLONE_NEWTIME)
			joinedpid = 1;
	}
	for (int i = 0; i < njoin; i++)
		close(joinfd[i]);

	if (newflags & CLONE_NEWUSER) {
		int unprivileged = geteuid() != 0;
		if (unshare(CLONE_NEWUSER) < 0)
			die("unshare user namespace");
		// An unprivileged parent (or its newuidmap) may write our maps
		// only while /proc/PID is ours, not host root's: dumpable for
		// just this window, in which nothing of a container's is in
		// reach yet (no mount, pid or other namespace made).
		if (unprivileged && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
			die("prctl(PR_SET_DUMPABLE)");
		// Until the parent writes the id maps we are nobody; the maps
		// must exist before anything else is created in the namespace.
		sendf("usermap %d\n", (int)getpid());
		if (readline(line, sizeof(line)) < 0 || strcmp(line, "ok") != 0)
			die("wait for id maps");
		if (unprivileged && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			die("prctl(PR_SET_DUMPABLE)");
		// Root may be unmapped (a rootless-style map); then stay as is:
		// the capabilities of the new namespace are ours anyway.
		if (setresgid(0, 0, 0) == 0)
			(void)setresuid(0, 0, 0);
	}
	int rest = newflags & ~CLONE_NEWUSER;
	if (rest != 0 && unshare(rest) < 0)
		die("unshare namespaces");
	if (havetime) {
		int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			die("open timens_offsets");
		char buf[128];
		int n = snprintf(buf, sizeof(buf), "monotonic %lld %lld\nboottime %lld %lld\n",
				 toff[0], toff[1], toff[2], toff[3]);
		if (write(fd, buf, (size_t)n) != n)
			die("write timens_offsets");
		close(fd);
	}

	// New or joined pid and time namespaces apply to children only. The
	// child is made with CLONE_PARENT so that the runtime, not this
	// short-lived process, is its parent and can wait for it.
	if ((newflags & (CLONE_NEWPID | CLONE_NEWTIME)) || joinedpid || wantfork) {
		pid_t child = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (child < 0)
			die("clone");
		if (child > 0) {
			sendf("pid %d\n", (int)child);
			_exit(0);
		}
	} else {
		sendf("pid %d\n", (int)getpid());
	}
	// The child goes on into the Go runtime; the Go stage reads the rest
	// of the protocol from the same socket.
}

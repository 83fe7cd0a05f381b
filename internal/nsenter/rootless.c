// Rootless front end: every unprivileged `tirith` command runs inside one
// long-lived user and mount namespace per user, held by a pause process
// (as podman does), so that images unpack with their owners, overlays
// mount and later commands reach earlier containers. setns(CLONE_NEWUSER)
// is refused to a multithreaded process, so the join happens here,
// before the Go runtime starts any thread.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void joinfail(const char *what, int pid)
{
	fprintf(stderr, "tirith: rootless: join the user namespace of pause process %d: %s: %s\n", pid, what, strerror(errno));
	_exit(125);
}

__attribute__((constructor)) static void rootless(void)
{
	if (getenv("_TIRITH_ROOTLESS_PAUSE") != NULL) {
		// The pause process: it only holds the namespaces. SIGTERM
		// (tirith system migrate, a logout) ends it.
		for (;;)
			pause();
	}
	const char *env = getenv("_TIRITH_ROOTLESS_JOIN");
	// Host root never joins a user's namespace (where that user could
	// trace it), whatever its environment says.
	if (env == NULL || getuid() == 0 || geteuid() == 0)
		return;
	int pid = atoi(env);
	// Gone from the environment before Go copies it: the commands this
	// one starts are inside already (a second setns would fail).
	unsetenv("_TIRITH_ROOTLESS_JOIN");
	// Entering the mount namespace moves us to its root: come back to
	// the same directory there (a copy of the host's mounts), so that
	// relative paths in the command mean what they meant.
	static char cwd[4096];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	int userfd = open(path, O_RDONLY | O_CLOEXEC);
	if (userfd < 0)
		joinfail("open user namespace", pid);
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	int mntfd = open(path, O_RDONLY | O_CLOEXEC);
	if (mntfd < 0)
		joinfail("open mount namespace", pid);
	// Only a user namespace of the caller's own can be joined without
	// privilege: another user's pause process is refused here.
	if (setns(userfd, CLONE_NEWUSER) < 0)
		joinfail("setns user", pid);
	if (setns(mntfd, CLONE_NEWNS) < 0)
		joinfail("setns mnt", pid);
	close(userfd);
	close(mntfd);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		joinfail("become root in the namespace", pid);
	if (cwd[0] != 0 && chdir(cwd) < 0)
		joinfail(cwd, pid);
}

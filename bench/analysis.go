package main

import (
	"fmt"
	"strings"
)

// analysis is the report's reading of the figures: what the profile and
// the traces show about Tirith's latency, and what would shorten it. The
// figures are this run's; the reading comes from Tirith's code and traces
// (see the comments in each item).
func analysis(L, mem samples, prof *profileResult) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	ph := func(i int) float64 { return med(prof.phaseMs[phases[i].name]) }
	ver := func(n string) float64 { return med(L[n+"/version"]) }

	w("### Reading\n\n")
	w("- **Two Go runtime start-ups per container.** `tirith create` (a static binary: no dynamic loader) re-executes itself as `tirith init`: the nsenter C constructor, then, in the pid-namespace child, a second Go runtime start, which also runs every linked package's initialisers (the front end's among them). One exec and start-up alone (`--version`) is tirith %.2f ms, crun %.2f ms, runc %.2f ms: a single start-up is not the gap, but `create` pays for two against crun's single C path; in the traced timeline the init exec and its Go start take %.1f + %.1f ms (traced), the largest phases. The lean init's re-exec (a static binary stopping in its C constructor) sits in the pivot_root-to-payload phase.\n",
		ver("tirith"), ver("crun"), ver("runc"), ph(2), ph(3))
	if prof.skipReason == "" {
		w("- **Mount setup is syscall-heavy.** The init makes %.0f mount calls (rootfs bind, /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys, a tmpfs plus one bind + one read-only remount per cgroup-v1 hierarchy because `runc spec` has no cgroup namespace, each device node, and a bind per read-only and masked path). Every destination is resolved with securejoin (openat2 RESOLVE_IN_ROOT, then a reopen through /proc/thread-self/fd), 3–5 extra syscalls per mount; %.1f ms traced from the first mount to pivot_root.\n",
			med(prof.mounts), ph(4))
		w("- **The parent's own work before spawning the init** (state dir, 10 cgroup-v1 directories created and joined one by one, the exec fifo, the read-only seal of the binary against CVE-2019-5736, a detached mount): %.1f ms traced.\n", ph(1))
		w("- **Teardown** (wait, state, rmdir of 10 cgroup directories, state dir): %.1f ms traced after the payload exits.\n", ph(7))
	}
	if c, ok := prof.counts["tirith"]; ok {
		cr := prof.counts["crun"]
		w("- **Go scheduler churn.** A whole `tirith run` makes %d syscalls (crun: %d), of which %d futex and %d nanosleep: idle Ps spinning and waking across %d threads, plus Tirith's own polling loop (`waitPayload`, only with poststart hooks, stats /proc/PID/exe every 1 ms until the payload is exec'd; waiting for exits already uses pidfd + poll).\n",
			c.total, cr.total, c.futex, c.sleeps, c.clones)
	}
	w("- **Memory.** The created-but-not-started init is the lean init (`internal/nsenter/wait.c`): one thread stopped in a C constructor of the static binary, without the Go runtime: VmHWM %.0f KiB vs runc's %.0f KiB (a Go process) and crun's %.0f KiB (a C process). The commands themselves (`create`, `start`) are Go processes of the whole binary, hence their larger ru_maxrss.\n",
		med(mem["tirith/init-hwm"]), med(mem["runc/init-hwm"]), med(mem["crun/init-hwm"]))
	w("\n### What would make Tirith faster (largest first)\n\n")
	w("1. **One Go runtime start instead of two for `create`.** New namespaces need no re-exec: clone3 from the parent with `SysProcAttr{Cloneflags, UseCgroupFD/CgroupFD}` (CLONE_INTO_CGROUP on v2; on v1 write the pid right after clone) and let the child stay in the C constructor path only when joining namespaces by path (`exec`, `linux.namespaces[].path`). Failing that, keep the re-exec but do the whole mount/pivot sequence in the C constructor for the common case, as crun does, and hand over to Go only for the rare features.\n")
	w("2. **Measured and ruled out**: linking statically for speed (`--version` 3.93 ms dynamic vs 3.88 ms static: the Go runtime's start, not ld.so, is the cost; the binary is static now for the lean init's sake) and `GOMAXPROCS=1` in `tirith init` (already set). **Outside any runtime's control**: the first move of a process into a cgroup after a quiet spell costs one RCU grace period (about 10 ms here, `cgroup_threadgroup_rwsem`), for runc, crun and Tirith alike; the host can remove it with the cgroup mount option `favordynmods` (Linux 6.0+), and on pure v2 CLONE_INTO_CGROUP avoids the move.\n")
	w("3. **Make the CLI cheap for the Go runtime**: `GOMAXPROCS=1` and `debug.SetGCPercent(-1)` for `create`/`start`/`state`/`delete`, which exit within milliseconds (measured before for single runs: within noise; not measured for the concurrent case). Done: the foreground `run` subscribes to signals while it creates instead of after (subscribing to every signal is a round trip per signal to the Go runtime's signal thread, about 1.2 ms, and unsubscribing 0.5-1 ms, now skipped), and the default seccomp profile compiles in about 2 ms instead of 3.2 (`go test -bench CompileDefault ./internal/seccomp`).\n")
	w("4. **Replace polling with events**: `start` with poststart hooks learns that the payload was exec'd by stat-ing /proc/PID/exe every millisecond; an O_CLOEXEC pipe held by the init (EOF at execve) would tell at once.\n")
	w("5. **Fewer syscalls per mount, continued**: destinations are now one openat2 `RESOLVE_IN_ROOT` each (the init's syscalls for this run fell from about 2,000 to 940); what is left is one `os.File` per handle (an `fcntl` each), a bind plus a read-only remount per cgroup-v1 hierarchy, and a bind per masked path, where `mount_setattr` (one recursive call) and fewer handles would do.\n")
	w("6. **Cgroups v1**: create and join the ~10 hierarchies with one open dirfd per hierarchy (mkdirat + openat relative) instead of path walks from /sys/fs/cgroup; with a cgroup namespace in the config, the /sys/fs/cgroup binds collapse to one cgroup2 or a few binds.\n")
	w("7. **Cheaper package initialisation**: every Go start (the CLI's and the init's) runs all linked packages' initialisers, about 2.5 ms of clock here (`GODEBUG=inittrace=1 tirith --version`: Tirith's engine, seccomp and cgroups packages, go-digest's regexps, klauspost/compress tables); making Tirith's own lazy (`sync.Once`) takes its share off both starts.\n")
	w("\nThe figures above come from one run on a shared 2-core VM; the spread columns show how much other work moved them.\n")
	return b.String()
}

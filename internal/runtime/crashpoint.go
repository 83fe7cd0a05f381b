package runtime

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// CrashEnv names the test hook behind CrashPoint. It exists for the
// crash tests (test/integration/crash_test.go) only: unset, as it always
// is in production, CrashPoint does nothing.
const CrashEnv = "TIRITH_TEST_CRASH_AT"

// The crash points: the places where a runtime or front end that dies
// leaves partial state behind, which the next command must read
// consistently and `delete --force`, `rm -f` or `system prune` must
// remove. Steps are matched in whichever tirith process reaches them: the
// front end's run passes the runtime's create and start steps too, and a
// detached container's monitor (which inherits the environment) its own.
//
//	runtime create:  after-state-dir        state dir made and locked, no state.json
//	                 after-state-saved      state.json with pid 0 (status creating)
//	                 after-fifo             exec fifo made
//	                 after-cgroup           the init's first stage is in its cgroup
//	                 after-init-started     the init is in its namespaces, before its config
//	                 before-ready-save      the init waits on the fifo; state still has pid 0
//	runtime start:   after-fifo-write       the payload runs; the fifo is still there
//	runtime delete:  after-kill             the init is dead; cgroup and state dir remain
//	                 after-cgroup-destroy   the cgroup is gone; the state dir remains
//	front-end run:   after-record           container dir and meta.json
//	                 after-idmapped-layers  idmapped layer mounts under <cdir>/layers
//	                 after-overlay          the overlay rootfs is mounted
//	                 after-bundle           config.json written
//	                 after-create           the runtime container exists (created)
//	                 after-start            the payload runs; the record still says created
//	front-end rm:    after-runtime-delete   the runtime container is gone; mounts remain
//	                 after-unmount          mounts are gone; the container dir remains
var crashAt = os.Getenv(CrashEnv)

// CrashPoint kills the process with SIGKILL (no deferred cleanup, no
// atexit: what kill -9 does) if TIRITH_TEST_CRASH_AT names step. For
// tests only; a no-op when the variable is unset.
func CrashPoint(step string) {
	if crashAt == "" || crashAt != step {
		return
	}
	_ = unix.Kill(os.Getpid(), unix.SIGKILL)
	for {
		time.Sleep(time.Second) // the signal is on its way
	}
}

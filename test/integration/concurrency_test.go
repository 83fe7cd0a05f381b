package integration

import (
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Twenty creates of distinct ids at once all succeed: per-container locks
// do not serialise or trip over each other; then all start and delete.
func TestConcurrentCreateDistinct(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.id()
		e.cleanup(ids[i])
	}
	each := func(what string, f func(id string) result) {
		var wg sync.WaitGroup
		res := make([]result, n)
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = f(id)
			}()
		}
		wg.Wait()
		for i, r := range res {
			if r.code != 0 {
				t.Errorf("%s %s: exit %d: %s", what, ids[i], r.code, r.stderr)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	// One bundle for all: create must not write into it.
	each("create", func(id string) result { return e.runc("create", "--bundle", b, id) })
	pids := map[int]bool{}
	for _, id := range ids {
		st := e.state(id)
		if st.Status != specs.StateCreated || st.ID != id || pids[st.Pid] {
			t.Fatalf("%s after create: %+v", id, st)
		}
		pids[st.Pid] = true
	}
	if out := strings.Fields(e.ok("list", "-q")); len(out) != n {
		t.Fatalf("list -q: %d ids, want %d: %v", len(out), n, out)
	}
	each("start", func(id string) result { return e.runc("start", id) })
	for _, id := range ids {
		if st := e.state(id); st.Status != specs.StateRunning {
			t.Fatalf("%s after start: %s", id, st.Status)
		}
	}
	each("delete --force", func(id string) result { return e.runc("delete", "--force", id) })
	for _, id := range ids {
		e.assertGone(id, b)
	}
	if out := e.ok("list", "-q"); out != "" {
		t.Fatalf("list -q after delete: %q", out)
	}
}

// The same id created twice at once: exactly one create wins, the other
// fails cleanly with "already exists" and does not harm the winner.
func TestConcurrentCreateSameID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for round := 0; round < 3; round++ {
		b1 := e.bundle(nil, "sleep", "1000")
		b2 := e.bundle(nil, "sleep", "1000")
		id := e.id()
		e.cleanup(id)
		var wg sync.WaitGroup
		var r1, r2 result
		wg.Add(2)
		go func() { defer wg.Done(); r1 = e.runc("create", "--bundle", b1, id) }()
		go func() { defer wg.Done(); r2 = e.runc("create", "--bundle", b2, id) }()
		wg.Wait()
		if (r1.code == 0) == (r2.code == 0) {
			t.Fatalf("round %d: create exits %d and %d, want exactly one success\n1: %s\n2: %s", round, r1.code, r2.code, r1.stderr, r2.stderr)
		}
		winner, loser := b1, r2
		if r2.code == 0 {
			winner, loser = b2, r1
		}
		if !strings.Contains(loser.stderr, "already exists") {
			t.Errorf("round %d: losing create: %q, want \"already exists\"", round, loser.stderr)
		}
		st := e.state(id)
		if st.Status != specs.StateCreated || st.Bundle != winner {
			t.Fatalf("round %d: survivor %+v, want created from %s", round, st, winner)
		}
		e.ok("start", id)
		if out := e.ok("exec", id, "echo", "alive"); strings.TrimSpace(out) != "alive" {
			t.Fatalf("round %d: exec in the survivor: %q", round, out)
		}
		e.ok("kill", id, "KILL")
		waitFor(t, "survivor to stop", func() bool { return e.state(id).Status == specs.StateStopped })
		e.ok("delete", id)
		e.assertGone(id, b1)
		e.assertGone(id, b2)
	}
}

// Lifecycle operations racing on one container are serialised by its
// lock: of concurrent starts exactly one succeeds; concurrent forced
// deletes all succeed and leave nothing.
func TestConcurrentStartAndDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.bundle(nil, "sleep", "1000")
	id := e.created(b)
	const n = 5
	res := make([]result, n)
	var wg sync.WaitGroup
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = e.runc("start", id) }()
	}
	wg.Wait()
	okCount := 0
	for _, r := range res {
		if r.code == 0 {
			okCount++
		}
	}
	if okCount != 1 {
		t.Fatalf("%d of %d concurrent starts succeeded, want exactly 1: %+v", okCount, n, res)
	}
	if st := e.state(id); st.Status != specs.StateRunning {
		t.Fatalf("after starts: %s", st.Status)
	}
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i] = e.runc("delete", "--force", id) }()
	}
	wg.Wait()
	for _, r := range res {
		if r.code != 0 {
			t.Errorf("concurrent delete --force: exit %d: %s", r.code, r.stderr)
		}
	}
	e.assertGone(id, b)
}

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CVE-2021-30465 class: while the runtime sets up mounts, something that
// controls a directory of the rootfs (a shared volume, another container)
// swaps a mount target for a symlink pointing outside. Tirith resolves
// every target inside the rootfs and mounts through the resolved file
// descriptor, so no mount may ever land outside the rootfs, whichever way
// the race goes. A createContainer hook (which runs in the container's
// mount namespace before pivot_root, where the host's tree is still
// visible) records where the mounts really went.
func TestMountTargetSwapRaceStaysInRootfs(t *testing.T) {
	e := newEnv(t)
	victim := t.TempDir() // a host directory the attacker aims at
	out := t.TempDir()
	hook := filepath.Join(t.TempDir(), "record.sh")
	must(t, os.WriteFile(hook, []byte("#!/bin/sh\ncat /proc/self/mountinfo > \"$1\"\n"), 0o755))

	const mounts = 10
	var attempts, created int
	for round := 0; round < 60 && created < 3; round++ {
		mi := filepath.Join(out, fmt.Sprintf("mountinfo-%d", round))
		b := e.bundle(func(s *specs.Spec) {
			for i := 0; i < mounts; i++ {
				s.Mounts = append(s.Mounts, specs.Mount{
					Destination: fmt.Sprintf("/mnt/x/m%d", i), Type: "tmpfs", Source: "tmpfs",
					Options: []string{"size=1k"},
				})
			}
			s.Hooks = &specs.Hooks{CreateContainer: []specs.Hook{{Path: hook, Args: []string{"record.sh", mi}}}}
		}, "true")
		mnt := filepath.Join(b, "rootfs", "mnt")
		must(t, os.MkdirAll(filepath.Join(mnt, "x"), 0o755))
		must(t, os.Symlink(victim, filepath.Join(mnt, "y")))
		// Give the symlink a target inside the rootfs too, so that both
		// states of the race resolve and mounts go ahead: the test
		// checks where they land, not only that create gives up.
		must(t, os.MkdirAll(filepath.Join(b, "rootfs", victim), 0o755))

		// The attacker: swap x (a directory) and y (a symlink to the
		// victim) as fast as it can while create runs.
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			for !stop.Load() {
				_ = unix.Renameat2(unix.AT_FDCWD, filepath.Join(mnt, "x"), unix.AT_FDCWD, filepath.Join(mnt, "y"), unix.RENAME_EXCHANGE)
				// Tens of thousands of swaps a second, not millions:
				// openat2 fails a walk (EAGAIN, retried 64 times) on
				// any rename anywhere during it, so a swap per
				// microsecond on a loaded 2-core host made every
				// create give up and left no mount to check.
				time.Sleep(10 * time.Microsecond)
			}
		}()
		id := e.id()
		r := e.runc("create", "--bundle", b, id)
		stop.Store(true)
		<-done
		attempts++
		if r.code != 0 && !strings.Contains(r.stderr, "/mnt/x") {
			t.Fatalf("round %d: create failed for another reason than the race: %s", round, r.stderr)
		}
		if r.code == 0 {
			created++
			e.ok("delete", "--force", id)
		}
		e.assertGone(id, b)

		data, err := os.ReadFile(mi)
		if err != nil {
			continue // create failed before the hook: nothing was mounted
		}
		rootfs := filepath.Join(b, "rootfs")
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if len(f) < 5 || !strings.Contains(line, " - tmpfs ") || !strings.Contains(line, "size=1k") {
				continue
			}
			if mp := f[4]; !strings.HasPrefix(mp, rootfs+"/") {
				t.Fatalf("round %d: a mount landed outside the rootfs, at %s", round, mp)
			}
		}
	}
	// The host's view of the victim never changed.
	ents, err := os.ReadDir(victim)
	must(t, err)
	if len(ents) != 0 {
		t.Fatalf("the victim directory on the host was written to: %v", ents)
	}
	t.Logf("%d creates raced, %d succeeded (the rest failed cleanly)", attempts, created)
	if created == 0 {
		t.Fatal("no create got through its mounts: the race was never exercised")
	}
}

package integration

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
)

// A process holding CAP_SYS_ADMIN in the container's own user namespace
// must not be able to take a mask off (umount) or mount a fresh procfs
// to read what the mask hides. Tirith's default Landlock policy denies
// every change to the mount topology (Landlock refuses mount, umount and
// pivot_root to a sandboxed process), so the masks stay; without the
// policy the same process gets through, which is what the test checks
// too.
func TestMasksHoldAgainstSysAdminInUserNamespace(t *testing.T) {
	if landlock.ABI() == 0 {
		t.Skip("kernel without Landlock: masks are not locked against CAP_SYS_ADMIN there (see docs/security-walls.md, \"Self-defence\")")
	}
	e := newEnv(t)
	script := "mkdir -p /tmp/p; " +
		"umount /proc/timer_list 2>/dev/null && echo UNMASKED; " +
		"mount -t proc proc /tmp/p 2>/dev/null && echo NEWPROC; true"
	for _, tc := range []struct {
		name     string
		landlock bool
		escapes  bool
	}{{"default Landlock", true, false}, {"no Landlock", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				userNS(s)
				c := s.Process.Capabilities
				c.Bounding = append(c.Bounding, "CAP_SYS_ADMIN")
				c.Effective = append(c.Effective, "CAP_SYS_ADMIN")
				c.Permitted = append(c.Permitted, "CAP_SYS_ADMIN")
				// No seccomp filter: only Landlock stands in the way.
				s.Linux.Seccomp = nil
				if !tc.landlock {
					delete(s.Annotations, landlock.Annotation)
				}
			}, "sh", "-c", script)
			out := e.ok("run", "--bundle", b, e.id())
			got := strings.Contains(out, "UNMASKED") || strings.Contains(out, "NEWPROC")
			if got != tc.escapes {
				t.Fatalf("mask removed or procfs remounted=%v, want %v: %q", got, tc.escapes, out)
			}
		})
	}
}

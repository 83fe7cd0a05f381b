package integration

import (
	"strings"
	"testing"
)

// Wall 1 in the front end: every container has a host id range of its
// own, and the image's files keep their owners inside (idmapped layers),
// so container root can change image files when the root is writable,
// while the shared layers on the host stay untouched.
func TestFrontendPerContainerUserns(t *testing.T) {
	f := newFE(t)
	a, b := f.name(), f.name()
	f.cleanupFE(a)
	f.cleanupFE(b)
	f.feOK("run", "-d", "--name", a, f.image, "sleep", "100")
	f.feOK("run", "-d", "--name", b, f.image, "sleep", "100")
	mapA := strings.TrimSpace(f.feOK("exec", a, "cat", "/proc/self/uid_map").stdout)
	mapB := strings.TrimSpace(f.feOK("exec", b, "cat", "/proc/self/uid_map").stdout)
	if mapA == mapB || !strings.HasPrefix(mapA, "0 ") || strings.HasPrefix(mapA, "0 0 ") || !strings.HasSuffix(mapA, " 65536") {
		t.Fatalf("containers share or lack their own id range: %q and %q", mapA, mapB)
	}
	f.feOK("rm", "-f", a, b)

	out := f.runOut([]string{"--read-only=false", "--security-opt", "landlock=off"},
		"sh", "-c", "stat -c OWNER=%u:%g /bin/busybox; echo changed >> /etc/passwd && echo WROTE-IMAGE-FILE")
	if !strings.Contains(out, "OWNER=0:0") {
		t.Errorf("image files do not keep their owner inside: %q", out)
	}
	if !strings.Contains(out, "WROTE-IMAGE-FILE") {
		t.Errorf("container root could not change a root-owned image file on a writable root: %q", out)
	}
	// The copy-up went to the container's upper dir; the next container
	// sees the pristine layer.
	if out := f.runOut(nil, "cat", "/etc/passwd"); strings.Contains(out, "changed") {
		t.Fatalf("a container's write reached the shared image layer: %q", out)
	}
}

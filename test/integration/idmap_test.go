package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
	"github.com/tirith-project/tirith/internal/rootfs"
)

// Wall 1 with a rootfs owned by host root: idmapped to the container's
// user namespace, the files show as root's inside, and what container
// root writes lands on the host as uid 0 (not 100000). Without the
// annotation, the same files show as nobody and cannot be written.
func TestIdmappedRootfs(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		idmap  bool
		owner  string
		writes bool
	}{{"idmapped", true, "0", true}, {"not idmapped", false, "65534", false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				userNS(s)
				s.Root.Readonly = false
				delete(s.Annotations, landlock.Annotation)
				if tc.idmap {
					s.Annotations[rootfs.IdmapAnnotation] = "true"
				}
			}, "sh", "-c", "stat -c OWNER=%u /bin/busybox; touch /etc/written && echo WROTE; true")
			id := e.id()
			out := e.ok("run", "--bundle", b, id)
			if !strings.Contains(out, "OWNER="+tc.owner+"\n") {
				t.Fatalf("/bin/busybox owner inside: %q, want %s", out, tc.owner)
			}
			if got := strings.Contains(out, "WROTE"); got != tc.writes {
				t.Fatalf("container root wrote the rootfs=%v, want %v: %q", got, tc.writes, out)
			}
			if tc.writes {
				st, err := os.Stat(filepath.Join(b, "rootfs", "etc", "written"))
				must(t, err)
				if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 0 {
					t.Fatalf("file written by container root is host uid %d, want 0", uid)
				}
			}
			e.assertGone(id, b)
		})
	}
}

func TestIdmapNeedsUserNamespace(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) { s.Annotations[rootfs.IdmapAnnotation] = "true" })
	id := e.id()
	msg := e.fails("create", "--bundle", b, id)
	if !strings.Contains(msg, rootfs.IdmapAnnotation) || !strings.Contains(msg, "user namespace") {
		t.Fatalf("error does not name the annotation and the need: %s", msg)
	}
	e.assertGone(id, b)
}

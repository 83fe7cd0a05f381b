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
		name    string
		idmap   string
		owner   string
		writes  bool
		hostUID uint32 // owner on the host of what container root wrote
	}{{"idmapped", "true", "0", true, 0}, {"chown fallback", "chown", "0", true, 100000}, {"not idmapped", "", "65534", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				userNS(s)
				s.Root.Readonly = false
				delete(s.Annotations, landlock.Annotation)
				if tc.idmap != "" {
					s.Annotations[rootfs.IdmapAnnotation] = tc.idmap
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
				if uid := st.Sys().(*syscall.Stat_t).Uid; uid != tc.hostUID {
					t.Fatalf("file written by container root is host uid %d, want %d", uid, tc.hostUID)
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

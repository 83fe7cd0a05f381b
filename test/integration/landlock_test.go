package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/lsm/landlock"
)

// Landlock (wall 4) from the annotation: writes outside readWrite paths
// and execution from writable paths are refused even where the mounts and
// file modes would allow them; without the annotation the same actions
// succeed, so the test can fail.
func TestLandlockAnnotation(t *testing.T) {
	if landlock.ABI() == 0 {
		t.Skip("kernel without Landlock (not in /sys/kernel/security/lsm)")
	}
	e := newEnv(t)
	script := `touch /etc/written && echo etc-write-ok; ` +
		`touch /tmp/written && echo tmp-write-ok; ` +
		`cat /bin/busybox > /tmp/busybox && chmod 755 /tmp/busybox && /tmp/busybox true && echo tmp-exec-ok; ` +
		`/srv/app/busybox true && echo srv-exec-ok; true`
	relax := func(s *specs.Spec) {
		// Let the filesystem itself allow everything the probe tries,
		// so only Landlock can refuse it.
		s.Root.Readonly = false
		for i, m := range s.Mounts {
			if m.Destination == "/tmp" {
				s.Mounts[i].Options = []string{"nosuid", "nodev", "mode=1777", "size=65536k"}
			}
		}
	}
	for _, tc := range []struct {
		name   string
		policy string
		want   []string
		absent []string
	}{
		{"without annotation", "", []string{"etc-write-ok", "tmp-write-ok", "tmp-exec-ok", "srv-exec-ok"}, nil},
		{"with annotation", `{"readOnly":["/"],"execute":["/bin"],"readWrite":["/tmp","/dev"]}`, []string{"tmp-write-ok"}, []string{"etc-write-ok", "tmp-exec-ok", "srv-exec-ok"}},
		// Everything executable but the writable mounts: /srv runs,
		// /tmp (mounted exec here) does not.
		{"with noExecute", `{"readOnly":["/"],"execute":["/"],"noExecute":["/tmp","/dev"],"readWrite":["/tmp","/dev"]}`, []string{"tmp-write-ok", "srv-exec-ok"}, []string{"etc-write-ok", "tmp-exec-ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.bundle(func(s *specs.Spec) {
				relax(s)
				delete(s.Annotations, landlock.Annotation)
				if tc.policy != "" {
					s.Annotations[landlock.Annotation] = tc.policy
				}
			}, "sh", "-c", script)
			must(t, os.MkdirAll(filepath.Join(b, "rootfs", "srv", "app"), 0o755))
			copyFile(t, busybox, filepath.Join(b, "rootfs", "srv", "app", "busybox"))
			out := e.ok("run", "--bundle", b, e.id())
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in output:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("Landlock let through %q:\n%s", a, out)
				}
			}
		})
	}
}

func TestLandlockBadAnnotationIsCreateError(t *testing.T) {
	e := newEnv(t)
	b := e.bundle(func(s *specs.Spec) {
		s.Annotations[landlock.Annotation] = `{"readWrite":["tmp"]}`
	})
	id := e.id()
	msg := e.fails("create", "--bundle", b, id)
	if !strings.Contains(msg, landlock.Annotation) || !strings.Contains(msg, "must be absolute") {
		t.Fatalf("error does not name the annotation and the problem: %s", msg)
	}
	e.assertGone(id, b)
}

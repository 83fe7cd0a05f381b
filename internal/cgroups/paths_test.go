package cgroups

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestInnerPath(t *testing.T) {
	tests := []struct {
		desc, id, path, want, wantErr string
	}{
		{desc: "default is under /tirith", id: "web", want: "/tirith/web"},
		{desc: "absolute path kept", id: "web", path: "/kubepods/pod1/web", want: "/kubepods/pod1/web"},
		{desc: "absolute path cleaned", id: "web", path: "/a//b/../c/", want: "/a/c"},
		{desc: "relative path stays relative", id: "web", path: "mygroup/web", want: "mygroup/web"},
		{desc: "relative path cannot climb out", id: "web", path: "../../etc/web", want: "etc/web"},
		{desc: "root cgroup refused", id: "web", path: "/", wantErr: "linux.cgroupsPath: must name a cgroup below the root"},
		{desc: "path that cleans to root refused", id: "web", path: "/a/..", wantErr: "linux.cgroupsPath:"},
		{desc: "relative dot refused", id: "web", path: "./", wantErr: "linux.cgroupsPath:"},
		{desc: "id with slash refused for default path", id: "a/b", wantErr: "id: must be a non-empty name"},
		{desc: "id dot-dot refused for default path", id: "..", wantErr: "id:"},
		{desc: "empty id refused for default path", wantErr: "id:"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := innerPath(tt.id, tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestV2Dir(t *testing.T) {
	tests := []struct{ desc, inner, own, want string }{
		{"absolute from the root", "/tirith/web", "/user.slice/sess.scope", "/sys/fs/cgroup/tirith/web"},
		{"relative goes next to the runtime's own cgroup", "web", "/user.slice/sess.scope", "/sys/fs/cgroup/user.slice/web"},
		{"relative with runtime in the root", "web", "/", "/sys/fs/cgroup/web"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := v2Dir("/sys/fs/cgroup", tt.inner, tt.own); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseOwnV2Cgroup(t *testing.T) {
	got, err := parseOwnV2Cgroup(strings.NewReader("4:memory:/x\n0::/user.slice/a.scope\n"))
	if err != nil || got != "/user.slice/a.scope" {
		t.Errorf("got %q, %v", got, err)
	}
	if _, err := parseOwnV2Cgroup(strings.NewReader("4:memory:/x\n")); err == nil {
		t.Error("no error for a v1-only file")
	}
}

func TestCheckStatePaths(t *testing.T) {
	tests := []struct {
		desc  string
		paths map[string]string
		depth int
		ok    bool
	}{
		{"container cgroups accepted", map[string]string{"memory": "/sys/fs/cgroup/memory/tirith/a", "": "/sys/fs/cgroup/unified/tirith/a"}, 2, true},
		{"outside the root refused", map[string]string{"memory": "/etc"}, 2, false},
		{"dot-dot refused", map[string]string{"memory": "/sys/fs/cgroup/memory/../../../etc"}, 2, false},
		{"hierarchy root refused on v1", map[string]string{"memory": "/sys/fs/cgroup/memory"}, 2, false},
		{"cgroup root refused on v2", map[string]string{"": "/sys/fs/cgroup"}, 1, false},
		{"relative refused", map[string]string{"": "tirith/a"}, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := checkStatePaths("/sys/fs/cgroup", tt.paths, tt.depth)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestNewOnThisHostComputesPaths needs no root: New only reads mountinfo and
// /proc/self/cgroup.
func TestNewOnThisHostComputesPaths(t *testing.T) {
	m, err := New(Config{ID: "pathtest"})
	if err != nil {
		t.Fatal(err)
	}
	st := m.State()
	if st.Mode != DetectMode() || len(st.Paths) == 0 {
		t.Fatalf("state %+v", st)
	}
	for k, p := range st.Paths {
		if !strings.HasPrefix(p, "/sys/fs/cgroup/") || !strings.HasSuffix(p, "/tirith/pathtest") {
			t.Errorf("path %q for %q not /sys/fs/cgroup/.../tirith/pathtest", p, k)
		}
	}
	if st.Mode == ModeV2 {
		return
	}
	if p := st.Paths["devices"]; p != "/sys/fs/cgroup/devices/tirith/pathtest" {
		t.Errorf("devices path %q", p)
	}
	if st.Mode == ModeHybrid {
		if p := st.Paths[""]; p != filepath.Join("/sys/fs/cgroup/unified/tirith/pathtest") {
			t.Errorf("hybrid host: unified path %q, want the library to join /sys/fs/cgroup/unified too", p)
		}
	}
	if m.Exists() {
		t.Error("Exists before Apply")
	}
}

func TestLoadRefusesTamperedState(t *testing.T) {
	mode := DetectMode()
	st := State{Mode: mode, Paths: map[string]string{"devices": "/etc"}}
	if mode == ModeV2 {
		st.Paths = map[string]string{"": "/etc"}
	}
	if _, err := Load(st); err == nil {
		t.Error("Load accepted a path outside /sys/fs/cgroup")
	}
	other := ModeV2
	if mode == ModeV2 {
		other = ModeV1
	}
	if _, err := Load(State{Mode: other, Paths: map[string]string{"": "/sys/fs/cgroup/tirith/x"}}); err == nil {
		t.Error("Load accepted a state for another cgroup mode")
	}
}

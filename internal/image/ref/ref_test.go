package ref

import "testing"

func TestParseNormalises(t *testing.T) {
	const dg = "sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904b825dc642cb6eb9a060e54bf"
	cases := []struct{ in, want, familiar string }{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"docker.io/library/busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"},
		{"index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"},
		{"user/app:v1", "docker.io/user/app:v1", "user/app:v1"},
		{"127.0.0.1:5000/x/y", "127.0.0.1:5000/x/y:latest", "127.0.0.1:5000/x/y:latest"},
		{"localhost:5000/y:2", "localhost:5000/y:2", "localhost:5000/y:2"},
		{"busybox@" + dg, "docker.io/library/busybox@" + dg, "busybox@" + dg},
		{"busybox:1@" + dg, "docker.io/library/busybox@" + dg, "busybox@" + dg},
	}
	for _, c := range cases {
		r, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := r.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.want)
		}
		if got := r.Familiar(); got != c.familiar {
			t.Errorf("Parse(%q).Familiar() = %q, want %q", c.in, got, c.familiar)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{"", "  ", "UPPER/case", "busybox@sha256:short", "a:b:c", "bad name"} {
		if r, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want error", in, r)
		}
	}
}

func TestAllowsPlainHTTP(t *testing.T) {
	cases := []struct {
		host     string
		insecure []string
		want     bool
	}{
		{"localhost:5000", nil, true},
		{"127.0.0.1:5000", nil, true},
		{"127.8.9.10", nil, true},
		{"[::1]:5000", nil, true},
		{"10.0.0.1:5000", nil, false}, // RFC 1918 is not trusted (ggcr would use http)
		{"192.168.1.2", nil, false},
		{"printer.local", nil, false},
		{"docker.io", nil, false},
		{"reg.lan:5000", []string{"reg.lan:5000"}, true},
		{"reg.lan:5000", []string{"reg.lan"}, true},
		{"reg.lan:5000", []string{"other"}, false},
	}
	for _, c := range cases {
		if got := AllowsPlainHTTP(c.host, c.insecure); got != c.want {
			t.Errorf("AllowsPlainHTTP(%q, %v) = %v, want %v", c.host, c.insecure, got, c.want)
		}
	}
}

package portproxy

import (
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Mapping{
		"80":                {"127.0.0.1", 0, 80, "tcp"},
		"8080:80":           {"127.0.0.1", 8080, 80, "tcp"},
		"8080:80/udp":       {"127.0.0.1", 8080, 80, "udp"},
		"0.0.0.0:8080:80":   {"0.0.0.0", 8080, 80, "tcp"},
		"10.1.2.3::53/udp":  {"10.1.2.3", 0, 53, "udp"},
		"[::1]:8080:80/tcp": {"::1", 8080, 80, "tcp"},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65536", "80/sctp", "a:80", "1:2:3:4", "host:80:80", "8080:", "[::1:80:80", "-1:80"} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "CONTAINERPORT") {
			t.Errorf("Parse(%q): %v, want a usage error", in, err)
		}
	}
	if m, _ := Parse("0.0.0.0:1:2"); !m.AllInterfaces() || m.Short() != "0.0.0.0:1->2/tcp" || m.String() != "2/tcp -> 0.0.0.0:1" {
		t.Errorf("forms of %+v: %q %q", m, m.Short(), m.String())
	}
}

// A random loopback port relays TCP (both directions, half-close) and
// UDP to a server on another loopback address; Close unbinds it.
func TestRelay(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			c.Write(append([]byte("tcp:"), b...))
			c.Close()
		}
	}()
	ul, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	go func() {
		b := make([]byte, 100)
		for {
			n, from, err := ul.ReadFrom(b)
			if err != nil {
				return
			}
			ul.WriteTo(append([]byte("udp:"), b[:n]...), from)
		}
	}()
	tport := tl.Addr().(*net.TCPAddr).Port
	uport := ul.LocalAddr().(*net.UDPAddr).Port
	p, err := Listen([]Mapping{{"127.0.0.1", 0, tport, "tcp"}, {"127.0.0.1", 0, uport, "udp"}})
	if err != nil {
		t.Fatal(err)
	}
	p.Serve("127.0.0.1")
	if p.Mappings[0].HostPort == 0 || p.Mappings[1].HostPort == 0 {
		t.Fatalf("no port chosen: %+v", p.Mappings)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.Mappings[0].HostPort))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(c); string(b) != "tcp:hello" {
		t.Fatalf("tcp relay: %q", b)
	}
	c.Close()
	u, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(p.Mappings[1].HostPort))
	if err != nil {
		t.Fatal(err)
	}
	u.Write([]byte("ping"))
	u.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 100)
	if n, _ := u.Read(b); string(b[:n]) != "udp:ping" {
		t.Fatalf("udp relay: %q", b[:n])
	}
	u.Close()
	p.Close()
	if _, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.Mappings[0].HostPort)); err == nil {
		t.Fatal("the port is still bound after Close")
	}
	// A port already bound is an error naming it, and nothing stays.
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	bp := busy.Addr().(*net.TCPAddr).Port
	if _, err := Listen([]Mapping{{"127.0.0.1", 0, 1, "tcp"}, {"127.0.0.1", bp, 1, "tcp"}}); err == nil || !strings.Contains(err.Error(), strconv.Itoa(bp)) {
		t.Fatalf("busy port: %v", err)
	}
}

package bridge

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tirith-project/tirith/internal/network/firewall"
	"github.com/tirith-project/tirith/internal/network/netns"
	"github.com/tirith-project/tirith/internal/testutil"
)

// The tests run in a network namespace of their own (the binary
// re-executes itself under unshare -n): the bridges and tables they
// make are not the host's.
func TestMain(m *testing.M) {
	if os.Geteuid() == 0 && os.Getenv("TIRITH_BRIDGE_TEST_NS") == "" {
		if path, err := exec.LookPath("unshare"); err == nil {
			cmd := exec.Command(path, append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
			cmd.Env = append(os.Environ(), "TIRITH_BRIDGE_TEST_NS=1")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					os.Exit(ee.ExitCode())
				}
				panic(err)
			}
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

func newManager(t *testing.T) *Manager {
	t.Helper()
	testutil.RequireRoot(t)
	if os.Getenv("TIRITH_BRIDGE_TEST_NS") == "" {
		t.Fatal("not in a network namespace of the test's own (unshare(1) missing?)")
	}
	m := &Manager{DataDir: filepath.Join(t.TempDir(), "networks"), NSDir: filepath.Join(t.TempDir(), ".netns")}
	if err := m.checkPlugins("bridge", "host-local"); err != nil {
		t.Skip(err)
	}
	// Whatever a failing test left.
	t.Cleanup(func() { m.Prune(context.Background(), func(string) bool { return false }) })
	return m
}

// listen serves one TCP accept in the namespace of ep, answering "hi".
func listen(t *testing.T, ep *Endpoint) string {
	t.Helper()
	var l net.Listener
	err := netns.Do(ep.NetNS, func() (err error) {
		l, err = net.Listen("tcp", net.JoinHostPort(ep.IP, "0"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	return l.Addr().String()
}

// dial tries addr from the namespace ns ("" for ours).
func dial(ns, addr string) error {
	do := func(fn func() error) error { return fn() }
	if ns != "" {
		do = func(fn func() error) error { return netns.Do(ns, fn) }
	}
	return do(func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		b := make([]byte, 2)
		_, err = c.Read(b)
		return err
	})
}

// On the default network two containers cannot reach each other, the
// host reaches both; on a user network the members reach each other.
// Detaching the last one leaves no bridge, table, lease or namespace.
func TestAttachIsolationAndCleanup(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	a, err := m.Attach(ctx, "aaaa", DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Attach(ctx, "bbbb", DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if a.IP == b.IP || a.Gateway != "10.89.0.1" || !strings.HasPrefix(a.IP, "10.89.0.") {
		t.Fatalf("addresses: a %+v b %+v", a, b)
	}
	addrA := listen(t, a)
	if err := dial("", addrA); err != nil {
		t.Fatalf("host to a container on the default network: %v", err)
	}
	if err := dial(b.NetNS, addrA); err == nil {
		t.Fatal("a container on the default network reached another")
	}
	l, _ := netlink.LinkByName(a.Veth)
	if pi, err := netlink.LinkGetProtinfo(l); err != nil || !pi.Isolated {
		t.Fatalf("bridge port %s not isolated: %+v %v", a.Veth, pi, err)
	}

	if _, err := m.Create("app", "", false); err != nil {
		t.Fatal(err)
	}
	c, err := m.Attach(ctx, "cccc", "app")
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Attach(ctx, "dddd", "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := dial(d.NetNS, listen(t, c)); err != nil {
		t.Fatalf("members of a user network: %v", err)
	}
	if err := dial(c.NetNS, addrA); err == nil {
		t.Fatal("a user network's member reached a container on the default network")
	}
	if err := m.Remove("app"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("removing a network in use: %v", err)
	}

	for _, id := range []string{"aaaa", "bbbb", "cccc", "dddd"} {
		if err := m.Detach(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Remove("app"); err != nil {
		t.Fatal(err)
	}
	assertClean(t, m)
}

func assertClean(t *testing.T, m *Manager) {
	t.Helper()
	links, _ := netlink.LinkList()
	for _, l := range links {
		if n := l.Attrs().Name; n != "lo" {
			t.Errorf("link %s left", n)
		}
	}
	if p, err := firewall.Present(); err != nil || len(p) != 0 {
		t.Errorf("tables left: %v %v", p, err)
	}
	for _, dir := range []string{m.NSDir, m.endpointsDir()} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s not empty: %v", dir, ents)
		}
	}
	filepath.WalkDir(m.ipamDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && net.ParseIP(d.Name()) != nil {
			t.Errorf("lease %s left", p)
		}
		return nil
	})
}

// A crash mid-way leaves an endpoint file, a namespace and a lease
// with no container: Prune removes them all.
func TestPruneOrphans(t *testing.T) {
	m := newManager(t)
	ctx := context.Background()
	if _, err := m.Attach(ctx, "live", DefaultName); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(ctx, "dead", DefaultName); err != nil {
		t.Fatal(err)
	}
	// A namespace whose endpoint was never written.
	if err := netns.Create(m.NSPath("lost")); err != nil {
		t.Fatal(err)
	}
	rep, err := m.Prune(ctx, func(id string) bool { return id == "live" })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Endpoints, ",") != "dead" || strings.Join(rep.Namespaces, ",") != "lost" {
		t.Fatalf("prune report %+v", rep)
	}
	if ep, _ := m.Endpoint("live"); ep == nil {
		t.Fatal("prune detached a live container")
	}
	if _, err := m.Prune(ctx, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	assertClean(t, m)
}

func TestMissingPluginsNameThePackage(t *testing.T) {
	m := &Manager{DataDir: t.TempDir(), NSDir: t.TempDir(), PluginDirs: []string{t.TempDir()}}
	_, err := m.Attach(context.Background(), "x", DefaultName)
	if err == nil || !strings.Contains(err.Error(), "apt-get install containernetworking-plugins") {
		t.Fatalf("missing plugins: %v", err)
	}
}

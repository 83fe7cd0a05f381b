package bridge

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	return newStore(t, filepath.Join(t.TempDir(), "network.lock"))
}

// newStore is a manager of a store of its own, with the host lock at
// hostLock.
func newStore(t *testing.T, hostLock string) *Manager {
	t.Helper()
	testutil.RequireRoot(t)
	if os.Getenv("TIRITH_BRIDGE_TEST_NS") == "" {
		t.Fatal("not in a network namespace of the test's own (unshare(1) missing?)")
	}
	m := &Manager{DataDir: filepath.Join(t.TempDir(), "networks"), NSDir: filepath.Join(t.TempDir(), ".netns"), HostLock: hostLock}
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
	id, err := m.StoreID()
	if err != nil {
		t.Fatal(err)
	}
	if p, err := firewall.Present(firewall.TableName(id)); err != nil || len(p) != 0 {
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

// Two stores on one host: attached at the same time they get their own
// bridges, subnets and tables; one store's detach leaves the other's
// rules and traffic; an auto-picked subnet another store has taken
// since is picked again, a --subnet one fails naming the clash.
func TestTwoStores(t *testing.T) {
	hostLock := filepath.Join(t.TempDir(), "network.lock")
	a, b := newStore(t, hostLock), newStore(t, hostLock)
	ctx := context.Background()
	var a1, b1 *Endpoint
	var errA, errB error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a1, errA = a.Attach(ctx, "a1", DefaultName) }()
	go func() { defer wg.Done(); b1, errB = b.Attach(ctx, "b1", DefaultName) }()
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	idA, _ := a.StoreID()
	idB, _ := b.StoreID()
	subnet := func(m *Manager, name string) string {
		t.Helper()
		n, err := m.lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		return n.Subnet
	}
	sa, sb := subnet(a, DefaultName), subnet(b, DefaultName)
	if idA == idB || a1.Bridge != DefaultBridge(idA) || b1.Bridge != DefaultBridge(idB) || sa == sb || a1.Gateway == b1.Gateway {
		t.Fatalf("stores %s %s share: a1 %+v (%s), b1 %+v (%s)", idA, idB, a1, sa, b1, sb)
	}
	addrA, addrB := listen(t, a1), listen(t, b1)
	for _, addr := range []string{addrA, addrB} {
		if err := dial("", addr); err != nil {
			t.Fatalf("host to %s: %v", addr, err)
		}
	}
	if dial(a1.NetNS, addrB) == nil || dial(b1.NetNS, addrA) == nil {
		t.Fatal("a container reached another store's container")
	}
	tables := func(id string) int {
		p, err := firewall.Present(firewall.TableName(id))
		if err != nil {
			t.Fatal(err)
		}
		return len(p)
	}
	if err := a.Detach(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(a1.Bridge); err == nil || tables(idA) != 0 || tables(idB) != 2 {
		t.Fatalf("after a's detach: bridge %s err %v, tables of a %d, of b %d", a1.Bridge, err, tables(idA), tables(idB))
	}
	if err := dial("", addrB); err != nil {
		t.Fatalf("b's container after a's detach: %v", err)
	}
	if dial(a1.NetNS, addrB) == nil {
		t.Fatal("b's rules are gone: a1's namespace reached b1")
	}

	// b takes a's (now unused) default subnet for a network of its
	// own: a's default network moves.
	if _, err := b.Create("x", sa, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Attach(ctx, "b2", "x"); err != nil {
		t.Fatal(err)
	}
	a2, err := a.Attach(ctx, "a2", DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if s := subnet(a, DefaultName); s == sa || s == sb || !strings.HasPrefix(a2.IP, strings.TrimSuffix(s, "0/24")) {
		t.Fatalf("a's default network was not moved off %s and %s: %s, a2 %s", sa, sb, s, a2.IP)
	}
	if err := dial("", listen(t, a2)); err != nil {
		t.Fatalf("host to a2 on the moved subnet: %v", err)
	}
	// A --subnet network whose subnet b has taken since fails.
	if _, err := a.Create("fixed", "10.89.200.0/24", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create("y", "10.89.200.0/24", false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Attach(ctx, "b3", "y"); err != nil {
		t.Fatal(err)
	}
	_, err = a.Attach(ctx, "a3", "fixed")
	if err == nil || !strings.Contains(err.Error(), "network fixed") || !strings.Contains(err.Error(), "10.89.200.0/24") || !strings.Contains(err.Error(), UserBridge(idB, "y")) {
		t.Fatalf("attach to a --subnet network another store took: %v", err)
	}
	if _, err := os.Stat(a.endpointPath("a3")); err == nil {
		t.Fatal("the failed attach left its endpoint")
	}
	for _, d := range []struct {
		m  *Manager
		id string
	}{{a, "a2"}, {b, "b1"}, {b, "b2"}, {b, "b3"}} {
		if err := d.m.Detach(ctx, d.id); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []struct {
		m    *Manager
		name string
	}{{a, "fixed"}, {b, "x"}, {b, "y"}} {
		if err := r.m.Remove(r.name); err != nil {
			t.Fatal(err)
		}
	}
	assertClean(t, a)
	assertClean(t, b)
}

// Prune removes the global tables of earlier versions, no other.
func TestPruneRemovesLegacyTables(t *testing.T) {
	m := newManager(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft(8) is not installed to make the old tables")
	}
	if out, err := exec.Command(nft, "add table bridge tirith; add table inet tirith; add table inet tirithx").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	defer exec.Command(nft, "delete table inet tirithx").Run()
	rep, err := m.Prune(context.Background(), func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Tables, ",") != "bridge tirith,inet tirith" {
		t.Fatalf("prune removed tables %v", rep.Tables)
	}
	if p, _ := firewall.Present("tirithx"); len(p) != 1 {
		t.Fatalf("prune removed a table not its own: %v", p)
	}
}

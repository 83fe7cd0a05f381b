package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tirith-project/tirith/internal/network/bridge"
	"github.com/tirith-project/tirith/internal/network/firewall"
	"github.com/tirith-project/tirith/internal/network/netns"
)

// Bridge networking through the front end: real traffic between
// containers, the host, and a namespace the test makes to stand for
// "outside", all on addresses Tirith or the test created.

// netFE is a front-end env for network tests: CNI plugins required,
// and a check when the test ends that nothing of Tirith's network is
// left (no bridge or veth, table, lease or pinned namespace).
func netFE(t *testing.T, private bool) *feEnv {
	t.Helper()
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Fatal("CNI plugins not found: install Debian's containernetworking-plugins (.ci/run does)")
	}
	var f *feEnv
	if private {
		f = privateFE(t)
	} else {
		f = newFE(t)
	}
	t.Cleanup(func() { f.assertNetClean() })
	return f
}

// assertNetClean checks for this store's names only: other stores
// (tests) may have networks of their own at the same time.
func (f *feEnv) assertNetClean() {
	f.t.Helper()
	id := f.storeID()
	ours := map[string]bool{bridge.DefaultBridge(id): true}
	for _, n := range f.nets {
		ours[bridge.UserBridge(id, n)] = true
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		name := l.Attrs().Name
		if ours[name] {
			f.t.Errorf("bridge %s left", name)
		}
		if _, ok := l.(*netlink.Veth); ok && l.Attrs().MasterIndex != 0 {
			if m, err := netlink.LinkByIndex(l.Attrs().MasterIndex); err == nil && ours[m.Attrs().Name] {
				f.t.Errorf("veth %s left on %s", name, m.Attrs().Name)
			}
		}
	}
	if p, err := firewall.Present(firewall.TableName(id)); err != nil || len(p) > 0 {
		f.t.Errorf("nftables tables left: %v %v", p, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.root, ".netns")); len(ents) > 0 {
		f.t.Errorf("pinned network namespaces left: %v", ents)
	}
	filepath.WalkDir(filepath.Join(f.storage, "networks", "ipam"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && net.ParseIP(d.Name()) != nil {
			f.t.Errorf("IPAM lease %s left", p)
		}
		return nil
	})
	if ents, _ := os.ReadDir(filepath.Join(f.storage, "networks", "endpoints")); len(ents) > 0 {
		f.t.Errorf("endpoint files left: %v", ents)
	}
}

// storeID is the id naming the store's bridges and tables.
func (f *feEnv) storeID() string {
	f.t.Helper()
	id, err := (&bridge.Manager{DataDir: filepath.Join(f.storage, "networks")}).StoreID()
	must(f.t, err)
	return id
}

// netCreate makes a user network of a new name (removed at the end).
func (f *feEnv) netCreate(flags ...string) string {
	f.t.Helper()
	name := f.name()
	f.nets = append(f.nets, name)
	f.feOK(append(append([]string{"network", "create"}, flags...), name)...)
	f.t.Cleanup(func() {
		exec.Command(tirithBin, "--root", f.root, "--storage", f.storage, "network", "rm", name).Run()
	})
	return name
}

// netInfo is a running container's address, from tirith inspect.
type netInfo struct {
	IP, MAC, Gateway string
}

func (f *feEnv) netInfo(name string) netInfo {
	f.t.Helper()
	var in []struct {
		NetworkSettings struct {
			IPAddress, MacAddress, Gateway string
		}
	}
	must(f.t, json.Unmarshal([]byte(f.feOK("inspect", name).stdout), &in))
	ns := in[0].NetworkSettings
	if ns.IPAddress == "" {
		f.t.Fatalf("%s has no address", name)
	}
	return netInfo{ns.IPAddress, ns.MacAddress, ns.Gateway}
}

// netBridge is network name's bridge and subnet, from network inspect.
func (f *feEnv) netBridge(name string) (string, netip.Prefix) {
	f.t.Helper()
	var in []struct{ Bridge, Subnet string }
	must(f.t, json.Unmarshal([]byte(f.feOK("network", "inspect", name).stdout), &in))
	if len(in) != 1 {
		f.t.Fatalf("network inspect %s: %+v", name, in)
	}
	p, err := netip.ParsePrefix(in[0].Subnet)
	if err != nil {
		f.t.Fatalf("network inspect %s: subnet %q: %v", name, in[0].Subnet, err)
	}
	return in[0].Bridge, p
}

// runNet starts a detached container on a network and removes it at the end.
func (f *feEnv) runNet(name string, flags []string, cmd ...string) {
	f.t.Helper()
	f.cleanupFE(name)
	f.feOK(append(append(append([]string{"run", "-d", "--name", name}, flags...), f.image), cmd...)...)
}

// server is what the target containers run: a web server on 80
// (serving /etc, so /hostname names the container) and a UDP echo on
// 5353.
var server = []string{"sh", "-c", "busybox httpd -p 80 -h /etc && exec probe --udp-echo 5353"}

const httpGet = `printf 'GET /hostname HTTP/1.0\r\n\r\n' | busybox nc -w 2 %s 80`

// hostGet fetches /hostname from addr (host:port) as the host.
func hostGet(addr string) (string, error) { return hostFetch(addr, "/hostname") }

// hostFetch fetches path from addr as the host.
func hostFetch(addr, path string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.0\r\n\r\n", path)
	b, err := io.ReadAll(c)
	return string(b), err
}

func hostUDP(addr, msg string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	c.Write([]byte(msg))
	b := make([]byte, 100)
	n, err := c.Read(b)
	return string(b[:n]), err
}

// waitServing polls until the container at ip answers on 80 (from the host).
func (f *feEnv) waitServing(ip string) {
	f.t.Helper()
	for range 50 {
		if out, err := hostGet(net.JoinHostPort(ip, "80")); err == nil && strings.Contains(out, "200 OK") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("the server at %s never answered the host", ip)
}

// linkLocal is the IPv6 link-local address the kernel derives from mac.
func linkLocal(mac string) string {
	hw, _ := net.ParseMAC(mac)
	ip := net.IP{0xfe, 0x80, 0, 0, 0, 0, 0, 0, hw[0] ^ 2, hw[1], hw[2], 0xff, 0xfe, hw[3], hw[4], hw[5]}
	return ip.String()
}

// Two containers on the default bridge reach the host's proxy side but
// not each other: TCP, UDP, ping, IPv6, and an attacker holding
// CAP_NET_RAW and CAP_NET_ADMIN over its interface (--userns=host)
// cannot claim the other's address by ARP or reach the host's own
// services.
func TestFrontendBridgeIsolation(t *testing.T) {
	f := netFE(t, false)
	a, b, atk := f.name(), f.name(), f.name()
	f.runNet(a, []string{"--network", "bridge"}, server...)
	f.runNet(b, []string{"--network", "bridge"}, "sleep", "1000")
	f.runNet(atk, []string{"--network", "bridge", "--userns=host", "--cap-add", "NET_RAW", "--cap-add", "NET_ADMIN"}, "sleep", "1000")
	ai, bi, ti := f.netInfo(a), f.netInfo(b), f.netInfo(atk)
	// On the store's own bridge and subnet, as network inspect shows them.
	bridgeName, subnet := f.netBridge("bridge")
	if bridgeName != bridge.DefaultBridge(f.storeID()) {
		t.Fatalf("the default network's bridge is %q, not the store's", bridgeName)
	}
	if ai.IP == bi.IP || !subnet.Contains(netip.MustParseAddr(ai.IP)) || ai.Gateway != subnet.Addr().Next().String() {
		t.Fatalf("addresses: %+v %+v, subnet %s", ai, bi, subnet)
	}
	// The host reaches A: its servers are up.
	f.waitServing(ai.IP)
	if out, err := hostUDP(net.JoinHostPort(ai.IP, "5353"), "host"); err != nil || out != "host" {
		t.Fatalf("host to A over UDP: %q %v", out, err)
	}
	// B does not.
	if r := f.fe("exec", b, "sh", "-c", fmt.Sprintf(httpGet, ai.IP)); strings.Contains(r.stdout, "200 OK") {
		t.Fatalf("B reached A over TCP: %s", r.stdout)
	}
	if r := f.fe("exec", b, "probe", "--udp-send", ai.IP+":5353", "b"); r.code == 0 {
		t.Fatalf("B reached A over UDP: %s", r.stdout)
	}
	if r := f.fe("exec", b, "probe", "--ping", ai.IP); r.code == 0 {
		t.Fatalf("B pinged A: %s", r.stdout)
	}
	// Nor does B reach a service of the host's on the gateway address.
	port := strconv.Itoa(hostService(t, "0.0.0.0:0", "host service\n"))
	if r := f.fe("exec", b, "sh", "-c", "busybox nc -w 2 "+ai.Gateway+" "+port+" </dev/null"); strings.Contains(r.stdout, "host service") {
		t.Fatal("a container reached a host service on the gateway address")
	}

	// The attacker: raw sockets and its own interface to play with.
	if r := f.fe("exec", atk, "busybox", "ping", "-c", "1", "-W", "2", ai.IP); r.code == 0 {
		t.Fatalf("raw ping reached A: %s", r.stdout)
	}
	if r := f.fe("exec", atk, "busybox", "ping6", "-c", "1", "-W", "2", "-I", "eth0", linkLocal(ai.MAC)); r.code == 0 {
		t.Fatalf("IPv6 reached A: %s", r.stdout)
	}
	// ARP for the gateway from its own address is answered (control)...
	if r := f.fe("exec", atk, "busybox", "arping", "-c", "2", "-w", "3", "-I", "eth0", "-s", ti.IP, ai.Gateway); !strings.Contains(r.stdout, "Received 1 response") && !strings.Contains(r.stdout, "Received 2 response") {
		t.Fatalf("ARP from the attacker's own address got no answer: %s %s", r.stdout, r.stderr)
	}
	// ...from A's address it is dropped, and the host still maps A's
	// address to A's MAC.
	f.feOK("exec", atk, "busybox", "ip", "addr", "add", ai.IP+"/32", "dev", "eth0")
	if r := f.fe("exec", atk, "busybox", "arping", "-c", "3", "-w", "3", "-I", "eth0", "-s", ai.IP, ai.Gateway); !strings.Contains(r.stdout, "Received 0 response") {
		t.Fatalf("ARP claiming A's address was answered: %s %s", r.stdout, r.stderr)
	}
	out, _ := exec.Command("ip", "neigh", "show", ai.IP).CombinedOutput()
	if strings.Contains(strings.ToLower(string(out)), strings.ToLower(ti.MAC)) {
		t.Fatalf("the host's neighbour table took the attacker's MAC for A: %s", out)
	}
	// An IP packet from A's address is dropped too: no answer from A's
	// server to a spoofed source.
	if r := f.fe("exec", atk, "sh", "-c", "busybox ip addr del "+ti.IP+"/24 dev eth0; "+fmt.Sprintf(httpGet, ai.Gateway)); strings.Contains(r.stdout, "HTTP") {
		t.Fatalf("spoofed traffic got through: %s", r.stdout)
	}
	for _, n := range []string{a, b, atk} {
		f.feOK("rm", "-f", n)
	}
}

// On a user network the members reach each other by name (TCP, UDP,
// ping), each one's /etc/hosts lists the others, and nobody off the
// network reaches them. The network cannot be removed while in use.
func TestFrontendUserNetwork(t *testing.T) {
	f := netFE(t, false)
	netName := f.netCreate()
	s1, s2, other := f.name(), f.name(), f.name()
	f.runNet(s1, []string{"--network", netName}, server...)
	f.runNet(s2, []string{"--network", netName}, "sleep", "1000")
	f.runNet(other, []string{"--network", "bridge"}, "sleep", "1000")
	i1 := f.netInfo(s1)
	f.waitServing(i1.IP)
	if r := f.feOK("exec", s2, "sh", "-c", fmt.Sprintf(httpGet, s1)); !strings.Contains(r.stdout, "200 OK") {
		t.Fatalf("s2 to s1 by name: %s %s", r.stdout, r.stderr)
	}
	if r := f.feOK("exec", s2, "probe", "--udp-send", s1+":5353", "s2"); strings.TrimSpace(r.stdout) != "s2" {
		t.Fatalf("s2 to s1 over UDP: %q", r.stdout)
	}
	f.feOK("exec", s2, "probe", "--ping", s1)
	// s1 started first and learnt of s2 from the rewritten hosts file.
	if hosts := f.feOK("exec", s1, "cat", "/etc/hosts").stdout; !strings.Contains(hosts, "\t"+s2+"\n") {
		t.Fatalf("s1's /etc/hosts lacks s2:\n%s", hosts)
	}
	if r := f.fe("exec", other, "sh", "-c", fmt.Sprintf(httpGet, i1.IP)); strings.Contains(r.stdout, "200 OK") {
		t.Fatal("a container of the default network reached a user network's member")
	}
	if r := f.fe("network", "rm", netName); r.code != 125 || !strings.Contains(r.stderr, "in use") {
		t.Fatalf("network rm in use: exit %d %s", r.code, r.stderr)
	}
	if ls := f.feOK("network", "ls").stdout; !strings.Contains(ls, netName) || !strings.Contains(ls, "bridge") {
		t.Fatalf("network ls:\n%s", ls)
	}
	for _, n := range []string{s1, s2, other} {
		f.feOK("rm", "-f", n)
	}
	f.feOK("network", "rm", netName)
	if strings.Contains(f.feOK("network", "ls").stdout, netName) {
		t.Fatal("removed network still listed")
	}
}

// outside is a namespace the test makes, linked to the host by a veth
// pair on 10.199.0.0/30: a stand-in for the world beyond the host.
func outside(t *testing.T) (addr string) {
	t.Helper()
	ns := filepath.Join(t.TempDir(), "outside")
	must(t, netns.Create(ns))
	t.Cleanup(func() { netns.Remove(ns) })
	suffix := strconv.Itoa(os.Getpid() % 100000)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "itvh" + suffix}, PeerName: "itvo" + suffix}
	must(t, netlink.LinkAdd(veth))
	t.Cleanup(func() { netlink.LinkDel(veth) })
	peer, err := netlink.LinkByName("itvo" + suffix)
	must(t, err)
	nsf, err := os.Open(ns)
	must(t, err)
	defer nsf.Close()
	must(t, netlink.LinkSetNsFd(peer, int(nsf.Fd())))
	hostAddr, _ := netlink.ParseAddr("10.199.0.1/30")
	must(t, netlink.AddrAdd(veth, hostAddr))
	must(t, netlink.LinkSetUp(veth))
	var l net.Listener
	must(t, netns.Do(ns, func() error {
		p, err := netlink.LinkByName("itvo" + suffix)
		if err != nil {
			return err
		}
		a, _ := netlink.ParseAddr("10.199.0.2/30")
		if err := netlink.AddrAdd(p, a); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(p); err != nil {
			return err
		}
		l, err = net.Listen("tcp", "10.199.0.2:8000")
		return err
	}))
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Say who we saw: masquerading makes it the host's address.
			fmt.Fprintf(c, "HTTP/1.0 200 OK\r\n\r\nfrom %s\n", c.RemoteAddr().(*net.TCPAddr).IP)
			c.Close()
		}
	}()
	return "10.199.0.2"
}

// The default network has egress (masqueraded behind the host); an
// --internal network has none.
func TestFrontendNetworkEgress(t *testing.T) {
	f := netFE(t, false)
	dst := outside(t)
	get := fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 %s 8000`, dst)
	if out := f.runOut([]string{"--network", "bridge"}, "sh", "-c", get); !strings.Contains(out, "from 10.199.0.1") {
		t.Fatalf("egress from the default network: %q", out)
	}
	internal := f.netCreate("--internal")
	defer f.feOK("network", "rm", internal)
	if r := f.fe("run", "--rm", "--network", internal, f.image, "sh", "-c", get); strings.Contains(r.stdout, "200 OK") {
		t.Fatalf("egress from an --internal network: %q", r.stdout)
	}
}

// Published ports: on 127.0.0.1 unless asked, a random one with -p
// PORT, shown by port and ps, served from the host's loopback, not
// bound on 0.0.0.0; 0.0.0.0 when asked, with a wall 5 warning.
func TestFrontendPublish(t *testing.T) {
	f := netFE(t, false)
	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	fixed, udp := free(), free()
	web := f.name()
	f.cleanupFE(web)
	r := f.feOK("run", "-d", "--name", web, "--network", "bridge", "-p", strconv.Itoa(fixed)+":80", "-p", "80",
		"-p", fmt.Sprintf("0.0.0.0:%d:5353/udp", udp), f.image, server[0], server[1], server[2])
	if !strings.Contains(r.stderr, fmt.Sprintf("-p 0.0.0.0:%d:5353/udp: wall 5", udp)) {
		t.Fatalf("no wall 5 warning for 0.0.0.0: %q", r.stderr)
	}
	ports := f.feOK("port", web).stdout
	var random int
	for _, line := range strings.Split(strings.TrimSpace(ports), "\n") {
		if rest, ok := strings.CutPrefix(line, "80/tcp -> 127.0.0.1:"); ok && rest != strconv.Itoa(fixed) {
			random, _ = strconv.Atoi(rest)
		}
	}
	if !strings.Contains(ports, fmt.Sprintf("80/tcp -> 127.0.0.1:%d\n", fixed)) || random == 0 || !strings.Contains(ports, fmt.Sprintf("5353/udp -> 0.0.0.0:%d", udp)) {
		t.Fatalf("tirith port:\n%s", ports)
	}
	if got := strings.TrimSpace(f.feOK("port", web, "80/tcp").stdout); !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("tirith port NAME 80/tcp: %q", got)
	}
	if ps := f.feOK("ps").stdout; !strings.Contains(ps, fmt.Sprintf("127.0.0.1:%d->80/tcp", fixed)) {
		t.Fatalf("ps lacks the port:\n%s", ps)
	}
	for _, p := range []int{fixed, random} {
		var out string
		var err error
		for range 50 {
			if out, err = hostGet("127.0.0.1:" + strconv.Itoa(p)); err == nil && strings.Contains(out, "200 OK") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(out, "200 OK") {
			t.Fatalf("127.0.0.1:%d: %q %v", p, out, err)
		}
		if got := tcpListeners(t, p); got != "0100007F" {
			t.Fatalf("port %d is bound on %q, want only 127.0.0.1 (0100007F)", p, got)
		}
	}
	if out, err := hostUDP("127.0.0.1:"+strconv.Itoa(udp), "udp"); err != nil || out != "udp" {
		t.Fatalf("published UDP: %q %v", out, err)
	}
	f.feOK("rm", "-f", web)
	if _, err := hostGet("127.0.0.1:" + strconv.Itoa(fixed)); err == nil {
		t.Fatal("the port is still served after rm")
	}
	// -p needs a bridge network; a bad -p is a usage error; both exit 125.
	for _, args := range [][]string{{"--network", "none", "-p", "80"}, {"--network", "bridge", "-p", "80:x"}} {
		r := f.fe(append(append([]string{"run", "--rm"}, args...), f.image, "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, "-p") {
			t.Fatalf("run %v: exit %d %s", args, r.code, r.stderr)
		}
	}
}

// tcpListeners is the local addresses (hex, as /proc/net/tcp prints
// them) of the IPv4 listening sockets on port, joined by commas.
func tcpListeners(t *testing.T, port int) string {
	data, err := os.ReadFile("/proc/net/tcp")
	must(t, err)
	var addrs []string
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		ip, p, _ := strings.Cut(f[1], ":")
		if n, _ := strconv.ParseInt(p, 16, 32); int(n) == port {
			addrs = append(addrs, ip)
		}
	}
	return strings.Join(addrs, ",")
}

// --network none: only lo, and it is up.
func TestFrontendNetworkNone(t *testing.T) {
	f := netFE(t, false)
	out := f.runOut([]string{"--network", "none"}, "busybox", "ip", "-o", "link")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], ": lo:") || !strings.Contains(lines[0], "UP") {
		t.Fatalf("--network none links:\n%s", out)
	}
}

// A run killed after its network was attached, a rm killed half-way
// and a monitor killed under a running container: system prune leaves
// nothing of the network behind.
func TestFrontendNetworkCrashPrune(t *testing.T) {
	f := netFE(t, true)
	for _, step := range []string{"after-network", "after-bundle", "after-start"} {
		f.feCrashed(step, "run", "--network", "bridge", "--name", f.name(), f.image, "sleep", "1000")
	}
	victim := f.name()
	f.feOK("run", "-d", "--network", "bridge", "--name", victim, f.image, "sleep", "1000")
	f.feCrashed("after-runtime-delete", "rm", "-f", victim)
	// A detached container whose monitor and init were killed: no one
	// recorded the exit or detached the network.
	orphan := f.name()
	id := strings.TrimSpace(f.feOK("run", "-d", "--network", "bridge", "--name", orphan, f.image, "sleep", "1000").stdout)
	var rec struct{ Pid, MonitorPid int }
	data, err := os.ReadFile(filepath.Join(f.storage, "containers", id, "meta.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &rec))
	if rec.Pid == 0 || rec.MonitorPid == 0 {
		t.Fatalf("record without pids: %s", data)
	}
	syscall.Kill(rec.MonitorPid, syscall.SIGKILL)
	syscall.Kill(rec.Pid, syscall.SIGKILL)
	// Until both are reaped, the container still looks alive.
	for i := 0; i < 100 && (pidAlive(rec.MonitorPid) || pidAlive(rec.Pid)); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.ReadDir(filepath.Join(f.root, ".netns")); err != nil {
		t.Fatal(err)
	}
	out := f.feOK("system", "prune", "-f").stdout
	if !strings.Contains(out, "Deleted") {
		t.Fatalf("prune output:\n%s", out)
	}
}

func pidAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// On a bridge network /etc/resolv.conf is the host's without loopback
// servers, and read-only like /etc/hosts.
func TestFrontendResolvConf(t *testing.T) {
	f := netFE(t, false)
	host, err := os.ReadFile("/etc/resolv.conf")
	must(t, err)
	var want strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(string(host), "\n"), "\n") {
		if fs := strings.Fields(l); len(fs) >= 2 && fs[0] == "nameserver" {
			if ip := net.ParseIP(fs[1]); ip == nil || ip.IsLoopback() {
				continue
			}
		}
		want.WriteString(l + "\n")
	}
	out := f.runOut([]string{"--network", "bridge"}, "sh", "-c", "cat /etc/resolv.conf; (echo x >> /etc/resolv.conf && echo WROTE) 2>/dev/null; true")
	if strings.Contains(out, "WROTE") {
		t.Fatal("/etc/resolv.conf is writable in the container")
	}
	if strings.Contains(want.String(), "nameserver") && out != want.String() {
		t.Fatalf("/etc/resolv.conf:\n%s\nwant:\n%s", out, want.String())
	}
}

// Without --network a container is on the store's default network:
// eth0 on the store's subnet. On a host without the CNI plugins (here
// hidden under a tmpfs in a mount namespace of the command's own) it
// runs on loopback only with a warning naming the package, while an
// explicit --network bridge fails naming it.
func TestFrontendDefaultNetwork(t *testing.T) {
	f := netFE(t, false)
	out := f.runOut(nil, "busybox", "ip", "-o", "-4", "addr", "show", "eth0")
	_, subnet := f.netBridge("bridge")
	fields := strings.Fields(out)
	if len(fields) < 4 {
		t.Fatalf("eth0 without --network:\n%s", out)
	}
	if a, err := netip.ParsePrefix(fields[3]); err != nil || !subnet.Contains(a.Addr()) {
		t.Fatalf("eth0's address %q is not on the default network's subnet %s", fields[3], subnet)
	}

	noCNI := filepath.Join(t.TempDir(), "tirith-no-cni")
	must(t, os.WriteFile(noCNI, []byte(`#!/bin/sh
exec unshare -m sh -c 'for d in /usr/lib/cni /opt/cni/bin; do [ ! -d $d ] || mount -t tmpfs tmpfs $d || exit 99; done; exec "$0" "$@"' `+tirithBin+` "$@"
`), 0o700))
	r := f.runBin(noCNI, "", nil, "--storage", f.storage, "run", "--rm", f.image, "busybox", "ip", "-o", "link")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 1 || !strings.Contains(lines[0], ": lo:") {
		t.Fatalf("run without the plugins: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning") || !strings.Contains(r.stderr, "containernetworking-plugins") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("run without the plugins: want one warning line naming the package, got:\n%s", r.stderr)
	}
	for _, args := range [][]string{{"--network", "bridge"}, {"-p", "80"}} {
		r = f.runBin(noCNI, "", nil, append(append([]string{"--storage", f.storage, "run", "--rm"}, args...), f.image, "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, "apt-get install containernetworking-plugins") {
			t.Fatalf("run %v without the plugins: exit %d %s", args, r.code, r.stderr)
		}
	}
}

// Two stores on one host, each with a container on its default network
// at the same time: their own bridges and subnets, each container
// served on its published port and reaching the outside through its
// own gateway; removing one store's container leaves the other's rules
// and traffic; afterwards nothing of either is left (netFE's checks).
func TestFrontendTwoStores(t *testing.T) {
	a, b := netFE(t, false), netFE(t, true)
	dst := outside(t)
	egress := fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | busybox nc -w 2 %s 8000`, dst)
	type started struct {
		f    *feEnv
		name string
		r    result
	}
	runs := make(chan started, 2)
	for _, f := range []*feEnv{a, b} {
		name := f.name()
		f.cleanupFE(name)
		go func() {
			runs <- started{f, name, f.fe(append([]string{"run", "-d", "--name", name, "--hostname", name, "-p", "80", f.image}, server...)...)}
		}()
	}
	names := map[*feEnv]string{}
	for range 2 {
		s := <-runs
		if s.r.code != 0 {
			t.Fatalf("run -d in store %s: exit %d %s", s.f.storage, s.r.code, s.r.stderr)
		}
		names[s.f] = s.name
	}
	ba, sa := a.netBridge("bridge")
	bb, sb := b.netBridge("bridge")
	if ba == bb || sa.Overlaps(sb) || ba != bridge.DefaultBridge(a.storeID()) || bb != bridge.DefaultBridge(b.storeID()) {
		t.Fatalf("the stores share: %s %s, %s %s", ba, sa, bb, sb)
	}
	port := func(f *feEnv) string {
		t.Helper()
		return strings.TrimSpace(f.feOK("port", names[f], "80/tcp").stdout)
	}
	served := func(f *feEnv) {
		t.Helper()
		addr := port(f)
		var out string
		var err error
		for range 50 {
			if out, err = hostGet(addr); err == nil && strings.Contains(out, "200 OK") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(out, "200 OK") || !strings.Contains(out, names[f]) {
			t.Fatalf("%s's published port %s: %q %v (want its hostname)", names[f], addr, out, err)
		}
		if r := f.fe("exec", names[f], "sh", "-c", egress); !strings.Contains(r.stdout, "from 10.199.0.1") {
			t.Fatalf("%s's egress through its gateway: %q %s", names[f], r.stdout, r.stderr)
		}
	}
	served(a)
	served(b)
	// Neither reaches the other across the stores.
	ib := b.netInfo(names[b])
	if r := a.fe("exec", names[a], "sh", "-c", fmt.Sprintf(httpGet, ib.IP)); strings.Contains(r.stdout, "200 OK") {
		t.Fatalf("store a's container reached store b's: %s", r.stdout)
	}
	a.feOK("rm", "-f", names[a])
	if p, err := firewall.Present(firewall.TableName(a.storeID())); err != nil || len(p) != 0 {
		t.Fatalf("store a's tables after its last container: %v %v", p, err)
	}
	if p, err := firewall.Present(firewall.TableName(b.storeID())); err != nil || len(p) != 2 {
		t.Fatalf("store b's tables after store a's container went: %v %v", p, err)
	}
	if _, err := netlink.LinkByName(ba); err == nil {
		t.Fatalf("store a's bridge %s is left", ba)
	}
	served(b)
	b.feOK("rm", "-f", names[b])
}

// hostService listens on addr on the host for the test's life, answers
// every connection with reply, and returns its port.
func hostService(t *testing.T, addr, reply string) int {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	must(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(reply))
			c.Close()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// Package bridge attaches containers to Tirith's bridge networks with
// CNI (libcni and the reference plugins bridge and host-local) and
// keeps the firewall in step: the default network "bridge", where
// containers reach no other container (bridge port isolation plus the
// firewall's rules, neither depending on br_netfilter), and user
// networks, whose members reach each other.
//
// Tirith owns every piece of state: the network namespace (pinned under
// the runtime root), the IPAM leases and the CNI cache (under the
// storage), one endpoint file per attached container (written before
// the plugins run, so that a crash at any point leaves something prune
// can find), and the nftables tables, rewritten from the endpoints.
//
// Several stores (--storage dirs) may share a host: each has a random
// id (DataDir/store-id) that names its bridges and tables, so none
// touches another's, and subnets are chosen under a host-wide lock
// against the host's live addresses, other stores' bridges among them.
package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/network/firewall"
	"github.com/tirith-project/tirith/internal/network/netns"
)

// DefaultPluginDirs are where the CNI plugins are looked for: Debian's
// package, then the upstream default.
var DefaultPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// PluginPackage names what provides the plugins, for the error.
const PluginPackage = "containernetworking-plugins"

// cniVersion is the newest spec version Debian's plugins (1.1) speak.
const cniVersion = "1.0.0"

// ifName is the container's interface.
const ifName = "eth0"

// Manager attaches and detaches containers.
type Manager struct {
	// DataDir holds IPAM leases, the CNI cache, endpoint files and user
	// network definitions (e.g. <storage>/networks), mode 0700.
	DataDir string
	// NSDir holds the pinned network namespaces (e.g. <root>/.netns).
	NSDir string
	// PluginDirs are searched for the CNI plugins (nil: the defaults).
	PluginDirs []string
	// HostLock is the host-wide lock file held around subnet choice
	// and CNI ADD, so that two stores never pick the same subnet (""
	// is DefaultHostLock).
	HostLock string
}

// DefaultHostLock is the host-wide lock of every store.
const DefaultHostLock = "/run/tirith-network.lock"

// Endpoint is a container's attachment, as its endpoint file keeps it.
type Endpoint struct {
	Container string `json:"container"`
	Network   string `json:"network"`
	Bridge    string `json:"bridge"`
	NetNS     string `json:"netns"`
	Veth      string `json:"veth,omitempty"`
	MAC       string `json:"mac,omitempty"`
	IP        string `json:"ip,omitempty"`
	Gateway   string `json:"gateway,omitempty"`
	PrefixLen int    `json:"prefixLen,omitempty"`
}

// NSPath is where container id's network namespace is pinned.
func (m *Manager) NSPath(id string) string { return filepath.Join(m.NSDir, id) }

func (m *Manager) ipamDir() string      { return filepath.Join(m.DataDir, "ipam") }
func (m *Manager) cacheDir() string     { return filepath.Join(m.DataDir, "cache") }
func (m *Manager) endpointsDir() string { return filepath.Join(m.DataDir, "endpoints") }
func (m *Manager) endpointPath(id string) string {
	return filepath.Join(m.endpointsDir(), id+".json")
}

func (m *Manager) pluginDirs() []string {
	if m.PluginDirs != nil {
		return m.PluginDirs
	}
	return DefaultPluginDirs
}

// lock serialises every change to endpoints, bridges and the tables.
func (m *Manager) lock() (func(), error) {
	for _, d := range []string{m.DataDir, m.ipamDir(), m.cacheDir(), m.endpointsDir(), m.defsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("network state: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return nil, err
		}
	}
	unlock, err := flock(filepath.Join(m.DataDir, ".lock"))
	if err != nil {
		return nil, err
	}
	if err := m.ensureStoreID(); err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// hostLock is taken before the store's lock, never after.
func (m *Manager) hostLock() (func(), error) {
	p := m.HostLock
	if p == "" {
		p = DefaultHostLock
	}
	return flock(p)
}

func flock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("network lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, os.NewSyscallError("flock "+path, err)
	}
	return func() { f.Close() }, nil
}

func (m *Manager) storeIDPath() string { return filepath.Join(m.DataDir, "store-id") }

// ensureStoreID makes the store's id if it has none (under the lock).
func (m *Manager) ensureStoreID() error {
	if _, err := m.readStoreID(); !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	return atomicfile.Write(m.storeIDPath(), []byte(hex.EncodeToString(b[:])+"\n"), 0o600)
}

func (m *Manager) readStoreID() (string, error) {
	b, err := os.ReadFile(m.storeIDPath())
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(b))
	if _, err := hex.DecodeString(id); err != nil || len(id) != 8 {
		return "", fmt.Errorf("%s is corrupt (want 8 hex digits): %q", m.storeIDPath(), id)
	}
	return id, nil
}

// StoreID is the id that names this store's bridges and nftables
// tables; the first call makes it.
func (m *Manager) StoreID() (string, error) {
	id, err := m.readStoreID()
	if !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	unlock, err := m.lock() // makes it
	if err != nil {
		return "", err
	}
	unlock()
	return m.readStoreID()
}

// CheckPlugins fails, naming the package, when a plugin that bridge
// networks need is missing.
func (m *Manager) CheckPlugins() error { return m.checkPlugins("bridge", "host-local") }

// checkPlugins fails, naming the package, when a plugin is missing.
func (m *Manager) checkPlugins(names ...string) error {
	for _, n := range names {
		found := false
		for _, d := range m.pluginDirs() {
			if st, err := os.Stat(filepath.Join(d, n)); err == nil && st.Mode().IsRegular() {
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("bridge networking needs the CNI plugin %q, not found in %s: install Debian's %s (apt-get install %s), or use --network none",
				n, strings.Join(m.pluginDirs(), ", "), PluginPackage, PluginPackage)
		}
	}
	return nil
}

// confList is the CNI configuration of network n.
func (m *Manager) confList(n *Network) (*libcni.NetworkConfigList, error) {
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  [][]map[string]string{{{"subnet": n.Subnet}}},
		"dataDir": m.ipamDir(),
	}
	if !n.Internal {
		ipam["routes"] = []map[string]string{{"dst": "0.0.0.0/0"}}
	}
	conf := map[string]any{
		"cniVersion": cniVersion,
		"name":       n.Name,
		"plugins": []map[string]any{{
			"type":   "bridge",
			"bridge": n.Bridge,
			// The gateway address on the bridge: the host end of
			// published ports. Internal networks get one too (the
			// firewall forwards nothing of theirs).
			"isGateway":   true,
			"ipMasq":      false, // the firewall masquerades, without iptables
			"hairpinMode": false,
			"ipam":        ipam,
		}},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		return nil, err
	}
	return libcni.NetworkConfFromBytes(b)
}

func (m *Manager) cni() *libcni.CNIConfig {
	return libcni.NewCNIConfigWithCacheDir(m.pluginDirs(), m.cacheDir(), nil)
}

// Attach creates container id's network namespace and connects it to
// the network named name. On error nothing is left.
func (m *Manager) Attach(ctx context.Context, id, name string) (_ *Endpoint, err error) {
	if err := m.CheckPlugins(); err != nil {
		return nil, err
	}
	// Until the bridge has its address, another store could pick the
	// same subnet: the host lock covers both.
	unlockHost, err := m.hostLock()
	if err != nil {
		return nil, err
	}
	defer unlockHost()
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := m.lookup(name)
	if err != nil {
		return nil, err
	}
	if err := m.ensureSubnet(n); err != nil {
		return nil, err
	}
	ep := &Endpoint{Container: id, Network: n.Name, Bridge: n.Bridge, NetNS: m.NSPath(id)}
	// First the record of what is about to exist, for prune.
	if err := m.writeEndpoint(ep); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, m.detachLocked(ctx, ep))
		}
	}()
	if err := netns.Create(ep.NetNS); err != nil {
		return nil, err
	}
	list, err := m.confList(n)
	if err != nil {
		return nil, err
	}
	res, err := m.cni().AddNetworkList(ctx, list, &libcni.RuntimeConf{ContainerID: id, NetNS: ep.NetNS, IfName: ifName})
	if err != nil {
		return nil, fmt.Errorf("network %s: CNI bridge plugin: %w", n.Name, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("network %s: CNI result: %w", n.Name, err)
	}
	for _, i := range r.Interfaces {
		switch {
		case i.Sandbox != "" && i.Name == ifName:
			ep.MAC = i.Mac
		case i.Sandbox == "" && i.Name != n.Bridge:
			ep.Veth = i.Name
		}
	}
	if len(r.IPs) == 0 || ep.Veth == "" || ep.MAC == "" {
		return nil, fmt.Errorf("network %s: the CNI bridge plugin returned no address, veth or MAC", n.Name)
	}
	ones, _ := r.IPs[0].Address.Mask.Size()
	ep.IP, ep.PrefixLen = r.IPs[0].Address.IP.String(), ones
	if r.IPs[0].Gateway != nil {
		ep.Gateway = r.IPs[0].Gateway.String()
	}
	if err := m.writeEndpoint(ep); err != nil {
		return nil, err
	}
	if n.Isolated {
		if err := isolatePort(ep.Veth); err != nil {
			return nil, err
		}
	}
	if err := m.syncLocked(); err != nil {
		return nil, err
	}
	return ep, nil
}

func isolatePort(veth string) error {
	l, err := netlink.LinkByName(veth)
	if err != nil {
		return fmt.Errorf("isolate bridge port %s: %w", veth, err)
	}
	if err := netlink.LinkSetIsolated(l, true); err != nil {
		return fmt.Errorf("isolate bridge port %s: %w", veth, err)
	}
	return nil
}

// Detach disconnects container id and removes its namespace; a
// container that was never attached is not an error.
func (m *Manager) Detach(ctx context.Context, id string) error {
	if _, err := os.Stat(m.endpointPath(id)); errors.Is(err, fs.ErrNotExist) {
		// Nothing was attached: the common case of --network none.
		if _, err := os.Stat(m.NSPath(id)); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	ep, err := m.readEndpoint(id)
	if errors.Is(err, fs.ErrNotExist) {
		return netns.Remove(m.NSPath(id))
	}
	if err != nil {
		return err
	}
	return m.detachLocked(ctx, ep)
}

func (m *Manager) detachLocked(ctx context.Context, ep *Endpoint) error {
	var errs []error
	if n, err := m.lookup(ep.Network); err == nil {
		list, err := m.confList(n)
		if err == nil {
			rt := &libcni.RuntimeConf{ContainerID: ep.Container, NetNS: ep.NetNS, IfName: ifName}
			if _, serr := os.Stat(ep.NetNS); serr != nil {
				rt.NetNS = "" // gone: the plugins only release the lease
			}
			err = m.cni().DelNetworkList(ctx, list, rt)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("network %s: CNI DEL for %s: %w", ep.Network, ep.Container, err))
		}
	} else {
		errs = append(errs, err)
	}
	// The veth goes with the namespace.
	if err := netns.Remove(ep.NetNS); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		if err := os.Remove(m.endpointPath(ep.Container)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := m.syncLocked(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// syncLocked rewrites the firewall from the endpoint files and removes
// bridges no endpoint uses.
func (m *Manager) syncLocked() error {
	eps, err := m.endpoints()
	if err != nil {
		return err
	}
	var st firewall.State
	used := map[string]bool{}
	for _, ep := range eps {
		n, err := m.lookup(ep.Network)
		if err != nil {
			continue
		}
		if !used[n.Bridge] && n.Subnet != "" {
			used[n.Bridge] = true
			pfx, err := netip.ParsePrefix(n.Subnet)
			if err != nil {
				return err
			}
			st.Networks = append(st.Networks, firewall.Network{Bridge: n.Bridge, Subnet: pfx, Internal: n.Internal, Isolated: n.Isolated})
		}
		ip, ierr := netip.ParseAddr(ep.IP)
		mac, merr := net.ParseMAC(ep.MAC)
		if ep.Veth == "" || ierr != nil || merr != nil {
			continue // an attach under way or crashed: no port yet
		}
		st.Ports = append(st.Ports, firewall.Port{Veth: ep.Veth, MAC: mac, IP: ip, Isolated: n.Isolated})
	}
	id, err := m.readStoreID()
	if err != nil {
		return err
	}
	if err := firewall.Sync(id, st); err != nil {
		return err
	}
	// Only this store's bridges: another's are not ours to remove.
	nets, err := m.Networks()
	if err != nil {
		return err
	}
	for _, n := range nets {
		if !used[n.Bridge] {
			if err := removeBridge(n.Bridge); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeBridge deletes bridge name if it exists.
func removeBridge(name string) error {
	l, err := netlink.LinkByName(name)
	if _, ok := l.(*netlink.Bridge); err != nil || !ok {
		return nil
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("remove bridge %s: %w", name, err)
	}
	return nil
}

func (m *Manager) writeEndpoint(ep *Endpoint) error {
	b, err := json.MarshalIndent(ep, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.Write(m.endpointPath(ep.Container), b, 0o600)
}

func (m *Manager) readEndpoint(id string) (*Endpoint, error) {
	b, err := os.ReadFile(m.endpointPath(id))
	if err != nil {
		return nil, err
	}
	var ep Endpoint
	if err := json.Unmarshal(b, &ep); err != nil {
		return nil, fmt.Errorf("endpoint of %s is corrupt: %w", id, err)
	}
	return &ep, nil
}

// Endpoint returns container id's attachment, nil if it has none.
func (m *Manager) Endpoint(id string) (*Endpoint, error) {
	ep, err := m.readEndpoint(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return ep, err
}

// endpoints reads every endpoint file.
func (m *Manager) endpoints() ([]*Endpoint, error) {
	ents, err := os.ReadDir(m.endpointsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Endpoint
	for _, d := range ents {
		id, ok := strings.CutSuffix(d.Name(), ".json")
		if !ok {
			continue
		}
		ep, err := m.readEndpoint(id)
		if err != nil {
			return nil, err
		}
		out = append(out, ep)
	}
	return out, nil
}

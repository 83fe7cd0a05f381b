package bridge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/network/firewall"
)

// Network is a bridge network's definition.
type Network struct {
	Name   string `json:"name"`
	Bridge string `json:"bridge"`
	Subnet string `json:"subnet"`
	// Internal networks have no route out and no masquerade.
	Internal bool `json:"internal,omitempty"`
	// Isolated networks' members reach only the host (the default
	// network); a user network's members reach each other.
	Isolated bool `json:"isolated,omitempty"`
	// Auto: Tirith picked the subnet (no --subnet), and picks another
	// at attach time, while no container uses the network, if the
	// host has come to use it (another store's bridge).
	Auto bool `json:"auto,omitempty"`
}

// DefaultName is the default network's name, as in Docker.
const DefaultName = "bridge"

// autoRange is where subnets are picked, a /24 each.
var autoRange = netip.MustParsePrefix("10.89.0.0/16")

// defaultPath holds the default network's definition once its subnet
// is picked. The default network is built in: containers on it reach
// nobody but the host's published-port proxy and the outside world.
func (m *Manager) defaultPath() string { return filepath.Join(m.DataDir, "default.json") }

// DefaultBridge is the default network's bridge of store storeID
// (14 characters, within IFNAMSIZ).
func DefaultBridge(storeID string) string { return firewall.IfacePrefix + storeID }

// UserBridge is the bridge of user network name of store storeID.
func UserBridge(storeID, name string) string {
	sum := sha256.Sum256([]byte(storeID + "\x00" + name))
	return firewall.IfacePrefix + "-" + hex.EncodeToString(sum[:4])
}

var netNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

func (m *Manager) defsDir() string { return filepath.Join(m.DataDir, "defs") }

func (m *Manager) defPath(name string) string {
	if name == DefaultName {
		return m.defaultPath()
	}
	return filepath.Join(m.defsDir(), name+".json")
}

func (m *Manager) saveDef(n *Network) error {
	b, err := json.MarshalIndent(n, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.Write(m.defPath(n.Name), b, 0o600)
}

// lookup finds a network by name.
func (m *Manager) lookup(name string) (*Network, error) {
	if name == DefaultName {
		id, err := m.StoreID()
		if err != nil {
			return nil, err
		}
		// No subnet until the first attach picks one.
		n := Network{Name: DefaultName, Bridge: DefaultBridge(id), Isolated: true, Auto: true}
		b, err := os.ReadFile(m.defaultPath())
		if errors.Is(err, fs.ErrNotExist) {
			return &n, nil
		}
		if err != nil {
			return nil, err
		}
		var saved Network
		if err := json.Unmarshal(b, &saved); err != nil {
			return nil, fmt.Errorf("network %s: definition is corrupt: %w", name, err)
		}
		n.Subnet = saved.Subnet
		return &n, nil
	}
	if !netNameRE.MatchString(name) {
		return nil, fmt.Errorf("network %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", name)
	}
	b, err := os.ReadFile(m.defPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("network %s not found (create it with tirith network create %s)", name, name)
	}
	if err != nil {
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("network %s: definition is corrupt: %w", name, err)
	}
	return &n, nil
}

// Networks lists the default network and the user networks, by name.
func (m *Manager) Networks() ([]*Network, error) {
	def, err := m.lookup(DefaultName)
	if err != nil {
		return nil, err
	}
	out := []*Network{def}
	ents, err := os.ReadDir(m.defsDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, d := range ents {
		if name, ok := strings.CutSuffix(d.Name(), ".json"); ok {
			n, err := m.lookup(name)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Members are the containers attached to network name.
func (m *Manager) Members(name string) ([]*Endpoint, error) {
	eps, err := m.endpoints()
	if err != nil {
		return nil, err
	}
	var out []*Endpoint
	for _, ep := range eps {
		if ep.Network == name && ep.IP != "" {
			out = append(out, ep)
		}
	}
	return out, nil
}

// Create defines a user network. subnet "" picks a free /24 of
// 10.89.0.0/16.
func (m *Manager) Create(name, subnet string, internal bool) (*Network, error) {
	if name == DefaultName || name == "none" || name == "host" || name == "slirp4netns" || strings.HasPrefix(name, "container:") {
		return nil, fmt.Errorf("network %q: the name is reserved", name)
	}
	if !netNameRE.MatchString(name) {
		return nil, fmt.Errorf("network name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", name)
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	nets, err := m.Networks()
	if err != nil {
		return nil, err
	}
	id, err := m.readStoreID()
	if err != nil {
		return nil, err
	}
	n := &Network{Name: name, Bridge: UserBridge(id, name), Internal: internal, Auto: subnet == ""}
	for _, o := range nets {
		if o.Name == name {
			return nil, fmt.Errorf("network %s already exists", name)
		}
		if o.Bridge == n.Bridge {
			return nil, fmt.Errorf("network %s: its bridge name %s is network %s's (a hash collision): choose another name", name, n.Bridge, o.Name)
		}
	}
	if subnet == "" {
		pfx, err := pickSubnet(nets, name)
		if err != nil {
			return nil, err
		}
		n.Subnet = pfx.String()
		return n, m.saveDef(n)
	}
	pfx, err := netip.ParsePrefix(subnet)
	if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 29 || pfx.Bits() < 8 {
		return nil, fmt.Errorf("--subnet %q: want an IPv4 CIDR between /8 and /29, e.g. 10.90.0.0/24", subnet)
	}
	if pfx.Masked() != pfx {
		return nil, fmt.Errorf("--subnet %q: host bits are set (did you mean %s?)", subnet, pfx.Masked())
	}
	for _, o := range nets {
		if p, err := netip.ParsePrefix(o.Subnet); err == nil && p.Overlaps(pfx) {
			return nil, fmt.Errorf("--subnet %s overlaps %s of network %s", pfx, p, o.Name)
		}
	}
	if h, ok := overlapping(pfx, hostPrefixes(), ""); ok {
		return nil, fmt.Errorf("--subnet %s overlaps %s, already in use on the host (interface %s)", pfx, h.Prefix, h.Iface)
	}
	n.Subnet = pfx.String()
	return n, m.saveDef(n)
}

// pickSubnet is the first /24 of autoRange that overlaps neither the
// host's prefixes nor another of the store's networks (self aside).
func pickSubnet(nets []*Network, self string) (netip.Prefix, error) {
	host := hostPrefixes()
	for i := 0; i < 256; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
		free := true
		for _, o := range nets {
			if q, err := netip.ParsePrefix(o.Subnet); err == nil && o.Name != self && q.Overlaps(p) {
				free = false
			}
		}
		if _, taken := overlapping(p, host, ""); free && !taken {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 left in %s: give --subnet", autoRange)
}

// ensureSubnet gives network n a subnet no other interface of the host
// uses (another store may have taken it since): an auto-picked one is
// picked again while no container uses it; a --subnet one fails.
// Under the host lock and the store's.
func (m *Manager) ensureSubnet(n *Network) error {
	eps, err := m.endpoints()
	if err != nil {
		return err
	}
	inUse := false
	for _, ep := range eps {
		inUse = inUse || ep.Network == n.Name
	}
	if !inUse {
		// A bridge of ours nobody uses (a crash): it may hold an old
		// gateway address.
		if err := removeBridge(n.Bridge); err != nil {
			return err
		}
	}
	if n.Subnet != "" {
		pfx, err := netip.ParsePrefix(n.Subnet)
		if err != nil {
			return fmt.Errorf("network %s: subnet %q: %w", n.Name, n.Subnet, err)
		}
		h, clash := overlapping(pfx, hostPrefixes(), n.Bridge)
		switch {
		case !clash:
			return nil
		case inUse || !n.Auto:
			return fmt.Errorf("network %s: its subnet %s overlaps %s on interface %s (another store's network or the host's): remove the network (tirith network rm %s) and create it with another --subnet",
				n.Name, pfx, h.Prefix, h.Iface, n.Name)
		}
	}
	nets, err := m.Networks()
	if err != nil {
		return err
	}
	pfx, err := pickSubnet(nets, n.Name)
	if err != nil {
		return fmt.Errorf("network %s: %w", n.Name, err)
	}
	n.Subnet = pfx.String()
	return m.saveDef(n)
}

// hostPrefix is an IPv4 subnet of one of the host's interfaces.
type hostPrefix struct {
	Prefix netip.Prefix
	Iface  string
}

// overlapping finds a host prefix overlapping p, not on interface skip.
func overlapping(p netip.Prefix, host []hostPrefix, skip string) (hostPrefix, bool) {
	for _, h := range host {
		if h.Iface != skip && h.Prefix.Overlaps(p) {
			return h, true
		}
	}
	return hostPrefix{}, false
}

// hostPrefixes are the host's IPv4 subnets (another store's Tirith
// bridges among them), which a network must not shadow.
func hostPrefixes() []hostPrefix {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	names := map[int]string{}
	if links, err := netlink.LinkList(); err == nil {
		for _, l := range links {
			names[l.Attrs().Index] = l.Attrs().Name
		}
	}
	var out []hostPrefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if ok && !ip.IsLoopback() {
			out = append(out, hostPrefix{netip.PrefixFrom(ip, ones).Masked(), names[a.LinkIndex]})
		}
	}
	return out
}

// Remove deletes a user network that no container uses.
func (m *Manager) Remove(name string) error {
	if name == DefaultName {
		return fmt.Errorf("network %s is built in and cannot be removed", name)
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := m.lookup(name); err != nil {
		return err
	}
	eps, err := m.endpoints()
	if err != nil {
		return err
	}
	for _, ep := range eps {
		if ep.Network == name {
			return fmt.Errorf("network %s is in use by container %.12s (remove it first)", name, ep.Container)
		}
	}
	return os.Remove(m.defPath(name))
}

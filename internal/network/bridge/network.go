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
}

// DefaultName is the default network's name, as in Docker.
const DefaultName = "bridge"

// defaultNetwork is built in: containers on it reach nobody but the
// host's published-port proxy and the outside world.
var defaultNetwork = Network{Name: DefaultName, Bridge: "tirith0", Subnet: "10.89.0.0/24", Isolated: true}

var netNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

func (m *Manager) defsDir() string { return filepath.Join(m.DataDir, "defs") }

// lookup finds a network by name.
func (m *Manager) lookup(name string) (*Network, error) {
	if name == DefaultName {
		n := defaultNetwork
		return &n, nil
	}
	if !netNameRE.MatchString(name) {
		return nil, fmt.Errorf("network %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*", name)
	}
	b, err := os.ReadFile(filepath.Join(m.defsDir(), name+".json"))
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
	out := []*Network{{Name: defaultNetwork.Name, Bridge: defaultNetwork.Bridge, Subnet: defaultNetwork.Subnet, Isolated: true}}
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
	if name == DefaultName || name == "none" || name == "host" || strings.HasPrefix(name, "container:") {
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
	var taken []netip.Prefix
	for _, n := range nets {
		if n.Name == name {
			return nil, fmt.Errorf("network %s already exists", name)
		}
		if p, err := netip.ParsePrefix(n.Subnet); err == nil {
			taken = append(taken, p)
		}
	}
	taken = append(taken, hostPrefixes()...)
	var pfx netip.Prefix
	if subnet != "" {
		if pfx, err = netip.ParsePrefix(subnet); err != nil || !pfx.Addr().Is4() || pfx.Bits() > 29 || pfx.Bits() < 8 {
			return nil, fmt.Errorf("--subnet %q: want an IPv4 CIDR between /8 and /29, e.g. 10.90.0.0/24", subnet)
		}
		if pfx.Masked() != pfx {
			return nil, fmt.Errorf("--subnet %q: host bits are set (did you mean %s?)", subnet, pfx.Masked())
		}
		for _, t := range taken {
			if t.Overlaps(pfx) {
				return nil, fmt.Errorf("--subnet %s overlaps %s, already in use", pfx, t)
			}
		}
	} else {
		for i := 1; i < 256 && !pfx.IsValid(); i++ {
			p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(i), 0}), 24)
			free := true
			for _, t := range taken {
				free = free && !t.Overlaps(p)
			}
			if free {
				pfx = p
			}
		}
		if !pfx.IsValid() {
			return nil, errors.New("no free /24 left in 10.89.0.0/16: give --subnet")
		}
	}
	sum := sha256.Sum256([]byte(name))
	n := &Network{Name: name, Bridge: "tirith-" + hex.EncodeToString(sum[:4]), Subnet: pfx.String(), Internal: internal}
	b, err := json.MarshalIndent(n, "", "\t")
	if err != nil {
		return nil, err
	}
	return n, atomicfile.Write(filepath.Join(m.defsDir(), name+".json"), b, 0o600)
}

// hostPrefixes are the host's IPv4 subnets (another store's Tirith
// bridges among them), which a network must not shadow.
func hostPrefixes() []netip.Prefix {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP.To4())
		ones, _ := a.Mask.Size()
		if ok && !ip.IsLoopback() {
			out = append(out, netip.PrefixFrom(ip, ones).Masked())
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
	return os.Remove(filepath.Join(m.defsDir(), name+".json"))
}

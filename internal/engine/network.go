package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/tirith-project/tirith/internal/engine/specgen"
	"github.com/tirith-project/tirith/internal/network/bridge"
	"github.com/tirith-project/tirith/internal/network/netns"
	"github.com/tirith-project/tirith/internal/network/portproxy"
	"github.com/tirith-project/tirith/internal/network/slirp"
)

// Networks is the bridge network manager of this store: IPAM leases,
// CNI cache, endpoints and user networks under <storage>/networks, the
// containers' network namespaces pinned under <root>/.netns (a dot-dir:
// the runtime's listing skips it).
func (e *Engine) Networks() *bridge.Manager {
	return &bridge.Manager{DataDir: filepath.Join(e.Storage, "networks"), NSDir: filepath.Join(e.Root, ".netns")}
}

// hostsBridge is /etc/hosts of a container on a bridge network: its own
// address under its hostname, and on a user network every other
// member's under its name.
func (e *Engine) hostsBridge(hostname string, ep *bridge.Endpoint, isolated bool) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&b, "%s\t%s\n", ep.IP, hostname)
	if isolated {
		return b.Bytes()
	}
	members, err := e.Networks().Members(ep.Network)
	if err != nil {
		return b.Bytes()
	}
	for _, m := range members {
		if m.Container == ep.Container {
			continue
		}
		if r, err := e.readRecord(m.Container); err == nil {
			fmt.Fprintf(&b, "%s\t%s\n", m.IP, r.Name)
		}
	}
	return b.Bytes()
}

// refreshHosts rewrites /etc/hosts of the running members of a user
// network, in place: the container's bind mount holds the inode, so a
// rename would not reach it.
func (e *Engine) refreshHosts(network string) {
	nets, err := e.Networks().Networks()
	if err != nil {
		return
	}
	for _, n := range nets {
		if n.Name != network || n.Isolated {
			continue
		}
		members, err := e.Networks().Members(network)
		if err != nil {
			return
		}
		for _, m := range members {
			r, err := e.readRecord(m.Container)
			if err != nil || r.Hostname == "" {
				continue
			}
			data := e.hostsBridge(r.Hostname, m, false)
			f, err := os.OpenFile(filepath.Join(e.etc(m.Container), "hosts"), os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				continue
			}
			f.Write(data)
			f.Close()
		}
	}
}

// isolated reports whether network name is one whose members reach no
// other member (the default network).
func (e *Engine) isolated(name string) bool {
	nets, err := e.Networks().Networks()
	if err != nil {
		return true
	}
	for _, n := range nets {
		if n.Name == name {
			return n.Isolated
		}
	}
	return true
}

// resolvConf is the container's /etc/resolv.conf on a bridge network:
// the host's, without loopback name servers (the container's loopback
// is its own). A host whose only server is a local stub (systemd-
// resolved's 127.0.0.53) gives its upstream list instead, as Docker
// does. No server left means none: Tirith names no public resolver.
func resolvConf() []byte {
	out, n := filterResolv("/etc/resolv.conf")
	if n == 0 {
		if alt, m := filterResolv("/run/systemd/resolve/resolv.conf"); m > 0 {
			out = alt
		}
	}
	return out
}

// filterResolv reads a resolv.conf and drops loopback nameserver
// lines; it returns the rest and how many servers are left.
func filterResolv(path string) ([]byte, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return []byte{}, 0
	}
	var out bytes.Buffer
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
			a, err := netip.ParseAddr(f[1])
			if err != nil || a.IsLoopback() {
				continue
			}
			n++
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes(), n
}

// publish binds the container's published ports (before its start, so
// that a port in use fails the run) and records the host ports chosen.
func (e *Engine) publish(id string) (*portproxy.Proxy, *Record, error) {
	rec, err := e.readRecord(id)
	if err != nil || len(rec.Ports) == 0 {
		return nil, rec, err
	}
	p, err := portproxy.Listen(rec.Ports)
	if err != nil {
		return nil, nil, err
	}
	if rec.Network == specgen.Slirp {
		p.NetNS = e.Networks().NSPath(id)
	}
	rec, err = e.update(id, func(r *Record) { r.Ports = p.Mappings })
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, rec, nil
}

// detachNetwork takes the container off its network (its veth, lease
// and namespace) and updates the other members' hosts files.
func (e *Engine) detachNetwork(id string) error {
	// slirp4netns first: it holds the namespace open.
	if err := slirp.Stop(e.slirpPidFile(id)); err != nil {
		return err
	}
	ep, err := e.Networks().Endpoint(id)
	if err != nil {
		return err
	}
	if err := e.Networks().Detach(context.Background(), id); err != nil {
		return err
	}
	if ep != nil {
		e.refreshHosts(ep.Network)
	}
	return nil
}

func (e *Engine) slirpPidFile(id string) string { return filepath.Join(e.Dir(id), "slirp4netns.pid") }

// attachSlirp makes container id's network namespace and gives it
// slirp4netns as its way out; the endpoint it returns is what the
// container's record and /etc/hosts show (no endpoint file: prune finds
// the pinned namespace, and rm the pid file). On error nothing is left.
func (e *Engine) attachSlirp(id string) (*bridge.Endpoint, error) {
	ns := e.Networks().NSPath(id)
	if err := netns.Create(ns); err != nil {
		return nil, err
	}
	if err := slirp.Start(ns, e.slirpPidFile(id)); err != nil {
		_ = netns.Remove(ns)
		return nil, err
	}
	return &bridge.Endpoint{Container: id, Network: specgen.Slirp, NetNS: ns, IP: slirp.Address, Gateway: slirp.Gateway, PrefixLen: 24}, nil
}

// Ports are the published ports of a running container (none once it
// has exited: the proxy went with it).
func (e *Engine) Ports(q string) ([]portproxy.Mapping, error) {
	rec, err := e.Lookup(q)
	if err != nil {
		return nil, err
	}
	e.Refresh(rec)
	if rec.Status != StatusRunning {
		return nil, nil
	}
	return rec.Ports, nil
}

// NetworkMember is one container of a network, for network inspect.
type NetworkMember struct {
	Name        string `json:"Name"`
	IPv4Address string `json:"IPv4Address"`
	MacAddress  string `json:"MacAddress"`
}

// NetworkInfo is `tirith network inspect`'s view of a network.
type NetworkInfo struct {
	Name       string                   `json:"Name"`
	Driver     string                   `json:"Driver"`
	Bridge     string                   `json:"Bridge"`
	Subnet     string                   `json:"Subnet"`
	Internal   bool                     `json:"Internal"`
	Isolated   bool                     `json:"Isolated"`
	Containers map[string]NetworkMember `json:"Containers"`
}

// InspectNetworks describes networks (all of them without names).
func (e *Engine) InspectNetworks(names ...string) ([]NetworkInfo, error) {
	nets, err := e.Networks().Networks()
	if err != nil {
		return nil, err
	}
	byName := map[string]*bridge.Network{}
	for _, n := range nets {
		byName[n.Name] = n
	}
	if len(names) == 0 {
		for _, n := range nets {
			names = append(names, n.Name)
		}
	}
	var out []NetworkInfo
	for _, name := range names {
		n, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("network %s not found", name)
		}
		info := NetworkInfo{Name: n.Name, Driver: "bridge", Bridge: n.Bridge, Subnet: n.Subnet, Internal: n.Internal, Isolated: n.Isolated, Containers: map[string]NetworkMember{}}
		members, err := e.Networks().Members(n.Name)
		if err != nil {
			return nil, err
		}
		for _, m := range members {
			mem := NetworkMember{IPv4Address: fmt.Sprintf("%s/%d", m.IP, m.PrefixLen), MacAddress: m.MAC}
			if r, err := e.readRecord(m.Container); err == nil {
				mem.Name = r.Name
			}
			info.Containers[m.Container] = mem
		}
		out = append(out, info)
	}
	return out, nil
}

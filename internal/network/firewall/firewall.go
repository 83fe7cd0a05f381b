// Package firewall writes a store's nftables tables (through netlink,
// no nft binary), both named `tirith-<store id>`: the bridge one pins
// each container's port to its own MAC and IPv4 address (no ARP or IP
// spoofing, no IPv6, no VLAN tags) and drops what isolated ports would
// bridge to each other, and the inet one keeps routed traffic from
// crossing between containers or networks, keeps containers off the
// host's services, cuts --internal networks off and masquerades the
// others' egress.
//
// The bridge family's hooks see bridged frames natively: nothing here
// depends on br_netfilter. Sync rewrites both tables from the full
// desired state in one transaction, so a crash never leaves half a
// rule set, and an empty state removes them.
//
// Each store has its own tables and its inet rules match only its own
// bridges (the set @bridges): a drop in any base chain is final, so
// rules matching every Tirith bridge would cut another store's user
// networks off (with br_netfilter on), and one store's rewrite would
// wipe another's rules.
package firewall

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TableName is the name of both tables of the store whose id is
// storeID.
func TableName(storeID string) string { return "tirith-" + storeID }

// LegacyTable is what versions before per-store tables named both:
// prune removes them.
const LegacyTable = "tirith"

// IfacePrefix starts the name of every bridge Tirith makes.
const IfacePrefix = "tirith"

// bridgeSet is the inet table's set of the store's bridge names.
const bridgeSet = "bridges"

// Network is one of Tirith's bridges.
type Network struct {
	Bridge   string
	Subnet   netip.Prefix
	Internal bool // no egress
	Isolated bool // members reach no other member
}

// Port is a container's end on a bridge: the host side of its veth and
// the addresses the container was given.
type Port struct {
	Veth string
	MAC  net.HardwareAddr
	IP   netip.Addr
	// Isolated ports reach no other port of their bridge, only the host.
	Isolated bool
}

// State is everything the tables must enforce.
type State struct {
	Networks []Network
	Ports    []Port
}

func tables(name string) (bridge, inet *nftables.Table) {
	return &nftables.Table{Family: nftables.TableFamilyBridge, Name: name}, &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
}

// Sync makes the tables of store storeID enforce st (removes them if
// st is empty).
func Sync(storeID string, st State) error {
	if storeID == "" {
		return errors.New("nftables: no store id")
	}
	bridgeTable, inetTable := tables(TableName(storeID))
	// One ack per rule comes back for the batch: without CAP_ACK each
	// echoes its rule, and a few hundred overflow the socket
	// (ENOBUFS, seen with 20 containers).
	c, err := nftables.New(nftables.WithSockOptions(func(nc *netlink.Conn) error {
		if err := nc.SetOption(netlink.CapAcknowledge, true); err != nil {
			return err
		}
		return nc.SetReadBuffer(4 << 20)
	}))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	// Add-then-delete: deleting a table that is not there would fail
	// the whole batch.
	for _, t := range []*nftables.Table{bridgeTable, inetTable} {
		c.AddTable(t)
		c.DelTable(t)
	}
	if len(st.Networks) > 0 || len(st.Ports) > 0 {
		writeBridge(c, bridgeTable, st)
		if err := writeInet(c, inetTable, st); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: write table %s: %w", inetTable.Name, err)
	}
	return nil
}

// Present reports which of the tables named table exist, as "FAMILY
// NAME" (for prune and tests): TableName(id) or LegacyTable.
func Present(table string) ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	var out []string
	bt, it := tables(table)
	for _, t := range []*nftables.Table{bt, it} {
		_, err := c.ListTableOfFamily(t.Name, t.Family)
		if err == nil {
			out = append(out, family(t.Family)+" "+t.Name)
		} else if !errors.Is(err, unix.ENOENT) {
			return nil, err
		}
	}
	return out, nil
}

// RemoveLegacy removes the global tables `bridge tirith` and `inet
// tirith` of earlier versions, if there, and says which it removed.
func RemoveLegacy() ([]string, error) {
	found, err := Present(LegacyTable)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	bt, it := tables(LegacyTable)
	for _, t := range []*nftables.Table{bt, it} {
		c.AddTable(t)
		c.DelTable(t)
	}
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("nftables: remove the tables %s of earlier versions: %w", LegacyTable, err)
	}
	return found, nil
}

func family(f nftables.TableFamily) string {
	if f == nftables.TableFamilyBridge {
		return "bridge"
	}
	return "inet"
}

var accept = nftables.ChainPolicyAccept

func writeBridge(c *nftables.Conn, bridgeTable *nftables.Table, st State) {
	c.AddTable(bridgeTable)
	pre := c.AddChain(&nftables.Chain{Name: "ports", Table: bridgeTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-200), Policy: &accept})
	fwd := c.AddChain(&nftables.Chain{Name: "isolate", Table: bridgeTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityRef(-200), Policy: &accept})
	add := func(ch *nftables.Chain, parts ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: bridgeTable, Chain: ch, Exprs: join(parts...)})
	}
	for _, p := range st.Ports {
		in := is(expr.MetaKeyIIFNAME, p.Veth)
		mac := []byte(p.MAC)
		ip := p.IP.AsSlice()
		// Only IPv4 and ARP, untagged: no IPv6, no VLAN-tagged frames.
		add(pre, in, etherTypeNot(unix.ETH_P_IP), etherTypeNot(unix.ETH_P_ARP), dropIt)
		add(pre, in, field(expr.PayloadBaseLLHeader, 6, mac, false), dropIt)
		// ARP: Ethernet/IPv4 only, sender = the port's own MAC and IP.
		arp := etherType(unix.ETH_P_ARP)
		for _, f := range []struct {
			off  uint32
			want []byte
		}{{0, []byte{0, 1}}, {2, []byte{8, 0}}, {4, []byte{6}}, {5, []byte{4}}} {
			add(pre, in, arp, field(expr.PayloadBaseNetworkHeader, f.off, f.want, false), dropIt)
		}
		add(pre, in, arp, field(expr.PayloadBaseNetworkHeader, 8, mac, false), dropIt)
		add(pre, in, arp, field(expr.PayloadBaseNetworkHeader, 14, ip, false), dropIt)
		add(pre, in, etherType(unix.ETH_P_IP), field(expr.PayloadBaseNetworkHeader, 12, ip, false), dropIt)
		if p.Isolated {
			// Bridged (not to the host) frames from an isolated port:
			// what port isolation does, in case it was turned off.
			add(fwd, in, dropIt)
		}
	}
}

func writeInet(c *nftables.Conn, inetTable *nftables.Table, st State) error {
	c.AddTable(inetTable)
	// Host byte order, as nft keeps ifname keys (it prints them reversed
	// otherwise).
	set := &nftables.Set{Table: inetTable, Name: bridgeSet, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian}
	var elems []nftables.SetElement
	for _, n := range st.Networks {
		elems = append(elems, nftables.SetElement{Key: ifname(n.Bridge)})
	}
	if err := c.AddSet(set, elems); err != nil {
		return fmt.Errorf("nftables: set %s: %w", bridgeSet, err)
	}
	fwd := c.AddChain(&nftables.Chain{Name: "forward", Table: inetTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	in := c.AddChain(&nftables.Chain{Name: "input", Table: inetTable, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	nat := c.AddChain(&nftables.Chain{Name: "masquerade", Table: inetTable, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept})
	add := func(ch *nftables.Chain, parts ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: inetTable, Chain: ch, Exprs: join(parts...)})
	}
	fromOurs := inSet(expr.MetaKeyIIFNAME, set)
	toOurs := inSet(expr.MetaKeyOIFNAME, set)
	for _, n := range st.Networks {
		if !n.Isolated {
			// Members of a user network, bridged: with br_netfilter on,
			// the inet hooks see them too.
			add(fwd, is(expr.MetaKeyIIFNAME, n.Bridge), is(expr.MetaKeyOIFNAME, n.Bridge), acceptIt)
		}
	}
	for _, n := range st.Networks {
		if n.Internal {
			add(fwd, is(expr.MetaKeyIIFNAME, n.Bridge), dropIt)
			add(fwd, is(expr.MetaKeyOIFNAME, n.Bridge), dropIt)
		}
	}
	// Replies to what containers started (egress) come back in.
	add(fwd, toOurs, established(), acceptIt)
	// Routed between two bridges, or back into the same one: a
	// container reaching another at layer 3 through the gateway.
	add(fwd, fromOurs, toOurs, dropIt)
	// Nothing from outside opens a connection into a container
	// (published ports are proxied from the host, not forwarded).
	add(fwd, toOurs, dropIt)
	// To the host: only replies (to the port proxy's connections).
	add(in, fromOurs, established(), acceptIt)
	add(in, fromOurs, dropIt)
	for _, n := range st.Networks {
		if n.Internal || !n.Subnet.Addr().Is4() {
			continue
		}
		add(nat, []expr.Any{meta(expr.MetaKeyNFPROTO), eq([]byte{unix.NFPROTO_IPV4}),
			load(expr.PayloadBaseNetworkHeader, 12, 4),
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: net.CIDRMask(n.Subnet.Bits(), 32), Xor: []byte{0, 0, 0, 0}},
			eq(n.Subnet.Masked().Addr().AsSlice())},
			isNot(expr.MetaKeyOIFNAME, n.Bridge),
			[]expr.Any{&expr.Masq{}})
	}
	return nil
}

var (
	dropIt   = []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	acceptIt = []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
)

func join(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func meta(k expr.MetaKey) *expr.Meta { return &expr.Meta{Key: k, Register: 1} }

func load(base expr.PayloadBase, off, n uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: n}
}

func eq(b []byte) *expr.Cmp  { return &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: b} }
func neq(b []byte) *expr.Cmp { return &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: b} }

// is matches an interface name exactly, isNot its opposite.
func is(k expr.MetaKey, name string) []expr.Any    { return []expr.Any{meta(k), eq(ifname(name))} }
func isNot(k expr.MetaKey, name string) []expr.Any { return []expr.Any{meta(k), neq(ifname(name))} }

// inSet matches interface names in set (nft's "iifname @bridges").
func inSet(k expr.MetaKey, set *nftables.Set) []expr.Any {
	return []expr.Any{meta(k), &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID}}
}

// field compares len(want) bytes at off from base with want (eq or not).
func field(base expr.PayloadBase, off uint32, want []byte, equal bool) []expr.Any {
	if equal {
		return []expr.Any{load(base, off, uint32(len(want))), eq(want)}
	}
	return []expr.Any{load(base, off, uint32(len(want))), neq(want)}
}

func etherType(t uint16) []expr.Any {
	return field(expr.PayloadBaseLLHeader, 12, binaryutil.BigEndian.PutUint16(t), true)
}

func etherTypeNot(t uint16) []expr.Any {
	return field(expr.PayloadBaseLLHeader, 12, binaryutil.BigEndian.PutUint16(t), false)
}

func established() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED), Xor: []byte{0, 0, 0, 0}},
		neq([]byte{0, 0, 0, 0}),
	}
}

// ifname is an interface name as the kernel compares it: NUL-padded
// to IFNAMSIZ.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

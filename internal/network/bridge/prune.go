package bridge

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/tirith-project/tirith/internal/network/firewall"
	"github.com/tirith-project/tirith/internal/network/netns"
)

// PruneReport says what Prune removed.
type PruneReport struct {
	Endpoints  []string // containers detached
	Namespaces []string // pinned namespaces removed
	Leases     []string // IPAM leases released ("network/ip")
	Bridges    []string // this store's bridges nothing used
	Tables     []string // nftables tables ("FAMILY NAME"): this store's, unused, and earlier versions' global ones
}

// Prune removes what belongs to no live container: endpoints (with
// their veths and leases), pinned namespaces, leases with no endpoint
// (a crash between the IPAM plugin and the endpoint file), and
// bridges and tables nothing uses, and the global tables of earlier
// versions (`bridge tirith`, `inet tirith`). live says whether a container id
// still exists (its network must stay).
func (m *Manager) Prune(ctx context.Context, live func(id string) bool) (*PruneReport, error) {
	if _, err := os.Stat(m.DataDir); errors.Is(err, os.ErrNotExist) {
		// This store never had a network; the host may have the old
		// tables (of another store), and nftables may be missing.
		legacy, _ := firewall.RemoveLegacy()
		return &PruneReport{Tables: legacy}, nil
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &PruneReport{}
	var errs []error
	// What of ours exists now, to report what the syncs remove.
	id, err := m.readStoreID()
	if err != nil {
		return nil, err
	}
	nets, err := m.Networks()
	if err != nil {
		return nil, err
	}
	var bridges []string
	for _, n := range nets {
		if _, err := netlink.LinkByName(n.Bridge); err == nil {
			bridges = append(bridges, n.Bridge)
		}
	}
	tables, err := firewall.Present(firewall.TableName(id))
	if err != nil {
		errs = append(errs, err)
	}
	eps, err := m.endpoints()
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, ep := range eps {
		if live(ep.Container) {
			has[ep.Container] = true
			continue
		}
		if err := m.detachLocked(ctx, ep); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Endpoints = append(rep.Endpoints, ep.Container)
	}
	if ents, err := os.ReadDir(m.NSDir); err == nil {
		for _, d := range ents {
			if has[d.Name()] || live(d.Name()) {
				continue
			}
			if err := netns.Remove(filepath.Join(m.NSDir, d.Name())); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Namespaces = append(rep.Namespaces, d.Name())
		}
	}
	for _, n := range nets {
		dir := filepath.Join(m.ipamDir(), n.Name)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, d := range ents {
			if _, err := netip.ParseAddr(d.Name()); err != nil {
				continue // host-local's lock and last_reserved_ip files
			}
			b, err := os.ReadFile(filepath.Join(dir, d.Name()))
			if err != nil {
				continue
			}
			id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
			id = strings.TrimSpace(id)
			if has[id] || live(id) {
				continue
			}
			// A DEL without a namespace only releases the lease.
			ep := &Endpoint{Container: id, Network: n.Name, Bridge: n.Bridge, NetNS: filepath.Join(m.NSDir, id)}
			if err := m.detachLocked(ctx, ep); err != nil {
				errs = append(errs, err)
				continue
			}
			rep.Leases = append(rep.Leases, n.Name+"/"+d.Name())
		}
	}
	if err := m.syncLocked(); err != nil {
		errs = append(errs, err)
	}
	for _, b := range bridges {
		if _, err := netlink.LinkByName(b); err != nil {
			rep.Bridges = append(rep.Bridges, b)
		}
	}
	if now, err := firewall.Present(firewall.TableName(id)); err == nil {
		for _, t := range tables {
			if !slices.Contains(now, t) {
				rep.Tables = append(rep.Tables, t)
			}
		}
	}
	legacy, err := firewall.RemoveLegacy()
	if err != nil {
		errs = append(errs, err)
	}
	rep.Tables = append(rep.Tables, legacy...)
	return rep, errors.Join(errs...)
}

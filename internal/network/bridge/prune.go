package bridge

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/tirith-project/tirith/internal/network/netns"
)

// PruneReport says what Prune removed.
type PruneReport struct {
	Endpoints  []string // containers detached
	Namespaces []string // pinned namespaces removed
	Leases     []string // IPAM leases released ("network/ip")
}

// Prune removes what belongs to no live container: endpoints (with
// their veths and leases), pinned namespaces, leases with no endpoint
// (a crash between the IPAM plugin and the endpoint file), and
// bridges and tables nothing uses. live says whether a container id
// still exists (its network must stay).
func (m *Manager) Prune(ctx context.Context, live func(id string) bool) (*PruneReport, error) {
	if _, err := os.Stat(m.DataDir); errors.Is(err, os.ErrNotExist) {
		return &PruneReport{}, nil // this store never had a network
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &PruneReport{}
	var errs []error
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
	nets, err := m.Networks()
	if err != nil {
		return nil, err
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
	return rep, errors.Join(errs...)
}

package firewall

import (
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tirith-project/tirith/internal/network/netns"
	"github.com/tirith-project/tirith/internal/testutil"
)

// The tables as nft(8) reads them back, written in a namespace of the
// test's own: the rules say what the package comment promises.
func TestSyncWritesAndRemovesTables(t *testing.T) {
	testutil.RequireRoot(t)
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft(8) is not installed to read the tables back")
	}
	ns := filepath.Join(t.TempDir(), "ns")
	if err := netns.Create(ns); err != nil {
		t.Fatal(err)
	}
	defer netns.Remove(ns)
	mac, _ := net.ParseMAC("02:00:00:00:00:01")
	st := State{
		Networks: []Network{{Bridge: "tirith0", Subnet: netip.MustParsePrefix("10.89.0.0/24"), Isolated: true}, {Bridge: "tirith-x", Subnet: netip.MustParsePrefix("10.89.1.0/24"), Internal: true}},
		Ports:    []Port{{Veth: "veth1", MAC: mac, IP: netip.MustParseAddr("10.89.0.2"), Isolated: true}},
	}
	list := func() string {
		out, err := exec.Command("nsenter", "--net="+ns, nft, "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset: %v\n%s", err, out)
		}
		return string(out)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Another store's tables, there before and after.
	other := State{Networks: []Network{{Bridge: "tirithother", Subnet: netip.MustParsePrefix("10.89.5.0/24"), Isolated: true}}}
	must(netns.Do(ns, func() error { return Sync("bbbbbbbb", other) }))
	must(netns.Do(ns, func() error { return Sync("aaaaaaaa", st) }))
	got := list()
	for _, want := range []string{
		`iifname "veth1" ether type != ip ether type != arp drop`,
		`iifname "veth1" ether saddr != 02:00:00:00:00:01 drop`,
		`iifname "veth1" arp saddr ether != 02:00:00:00:00:01 drop`,
		`iifname "veth1" arp saddr ip != 10.89.0.2 drop`,
		`iifname "veth1" ip saddr != 10.89.0.2 drop`,
		`arp htype != 1 drop`, `arp ptype != ip drop`, `arp hlen != 6 drop`, `arp plen != 4 drop`,
		"chain isolate {\n\t\ttype filter hook forward priority filter; policy accept;\n\t\tiifname \"veth1\" drop",
		"table inet tirith-aaaaaaaa {\n\tset bridges {\n\t\ttype ifname\n\t\telements = { ",
		`iifname @bridges oifname @bridges drop`,
		`oifname @bridges drop`,
		`iifname @bridges drop`,
		`iifname "tirith-x" drop`,
		`iifname "tirith-x" oifname "tirith-x" accept`,
		`ip saddr 10.89.0.0/24 oifname != "tirith0" masquerade`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `iifname "tirith0" oifname "tirith0" accept`) {
		t.Errorf("the isolated network's members may reach each other:\n%s", got)
	}
	// The set holds this store's two bridges, no other.
	_, set, _ := strings.Cut(got, "table inet tirith-aaaaaaaa {")
	set, _, _ = strings.Cut(set, "}")
	if !strings.Contains(set, `"tirith0"`) || !strings.Contains(set, `"tirith-x"`) || strings.Contains(set, "other") {
		t.Errorf("set of this store's bridges: %s", set)
	}
	if strings.Contains(got, `"tirith*"`) {
		t.Errorf("rules match every Tirith bridge, other stores' too:\n%s", got)
	}
	if strings.Contains(got, "10.89.1.0/24") {
		t.Errorf("the internal network is masqueraded:\n%s", got)
	}
	// Rewriting is idempotent, and the empty state removes the tables.
	must(netns.Do(ns, func() error { return Sync("aaaaaaaa", st) }))
	if strings.Count(list(), `"tirith0" masquerade`) != 1 {
		t.Errorf("a second Sync duplicated rules:\n%s", list())
	}
	present := func(table string) []string {
		t.Helper()
		var p []string
		must(netns.Do(ns, func() (err error) { p, err = Present(table); return }))
		return p
	}
	if p := strings.Join(present(TableName("aaaaaaaa")), ","); p != "bridge tirith-aaaaaaaa,inet tirith-aaaaaaaa" {
		t.Errorf("Present: %q", p)
	}
	must(netns.Do(ns, func() error { return Sync("aaaaaaaa", State{}) }))
	if p := present(TableName("aaaaaaaa")); len(p) != 0 {
		t.Errorf("Present after removal: %v", p)
	}
	// The other store's tables are untouched, and only they are left.
	got = list()
	if !strings.Contains(got, `ip saddr 10.89.5.0/24 oifname != "tirithother" masquerade`) || strings.Contains(got, "aaaaaaaa") {
		t.Errorf("after the first store's tables went:\n%s", got)
	}
	// The global tables of earlier versions go; the other store's stay.
	out, err := exec.Command("nsenter", "--net="+ns, nft, "add table bridge tirith; add table inet tirith").CombinedOutput()
	if err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	var removed []string
	must(netns.Do(ns, func() (err error) { removed, err = RemoveLegacy(); return }))
	if strings.Join(removed, ",") != "bridge tirith,inet tirith" || len(present(LegacyTable)) != 0 || len(present(TableName("bbbbbbbb"))) != 2 {
		t.Errorf("RemoveLegacy removed %v; left %v and %v", removed, present(LegacyTable), present(TableName("bbbbbbbb")))
	}
	must(netns.Do(ns, func() error { return Sync("bbbbbbbb", State{}) }))
	if got := strings.TrimSpace(list()); got != "" {
		t.Errorf("empty states left:\n%s", got)
	}
}

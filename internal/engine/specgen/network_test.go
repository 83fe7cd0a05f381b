package specgen

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/network"
)

func buildNet(t *testing.T, netns string, o Options) (*Built, error) {
	t.Helper()
	o.ReadOnly = true
	o.Image = "test"
	return BuildSpec(SpecInput{Config: store.Config{Cmd: []string{"sh"}}, Rootfs: testRootfs(t), ID: strings.Repeat("ab", 32),
		SecretsSource: "/x", EtcSource: "/etc-src", NetNS: netns}, &o)
}

// A bridge network joins the namespace Tirith made (lo is up there
// already: no annotation), binds resolv.conf, and -p on 0.0.0.0 is a
// wall 5 relaxation while loopback is not.
func TestBridgeNetworkSpec(t *testing.T) {
	b, err := buildNet(t, "/run/tirith/.netns/x", Options{Network: "bridge", Publish: []string{"8080:80", "0.0.0.0:53:53/udp"}})
	if err != nil {
		t.Fatal(err)
	}
	var joined string
	for _, n := range b.Spec.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			joined = n.Path
		}
	}
	if joined != "/run/tirith/.netns/x" || b.Spec.Annotations[network.LoopbackAnnotation] != "" {
		t.Fatalf("network namespace %q, annotations %v", joined, b.Spec.Annotations)
	}
	found := false
	for _, m := range b.Spec.Mounts {
		if m.Destination == "/etc/resolv.conf" && m.Source == "/etc-src/resolv.conf" && strings.Contains(strings.Join(m.Options, ","), "ro") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no read-only /etc/resolv.conf: %+v", b.Spec.Mounts)
	}
	if len(b.Ports) != 2 || b.Ports[0].HostIP != "127.0.0.1" || b.Ports[0].HostPort != 8080 {
		t.Fatalf("ports %+v", b.Ports)
	}
	if len(b.Relaxations) != 1 || b.Relaxations[0].Wall != 5 || !strings.Contains(b.Relaxations[0].Flag, "0.0.0.0:53:53/udp") {
		t.Fatalf("relaxations %+v", b.Relaxations)
	}
}

func TestNetworkSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		netns string
		o     Options
		want  string
	}{
		{"", Options{Network: "none", Publish: []string{"80"}}, "needs a bridge or slirp4netns network"},
		{"", Options{Network: "bridge"}, "namespace was not made"},
		{"/ns", Options{Network: "bridge", Publish: []string{"80/sctp"}}, "is not tcp or udp"},
	} {
		if _, err := buildNet(t, tc.netns, tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
	}
}

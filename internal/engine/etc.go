package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/runtime"
)

// hostsNone is /etc/hosts of a container with only loopback: localhost
// and its own hostname resolve without DNS, as in Docker and podman.
const hostsNone = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
127.0.1.1	%s
`

// writeEtc writes the container's hosts and hostname files into dir,
// and resolv.conf when it is not nil. hostsFrom, if set, is a hosts file
// to copy instead (a copy: the container cannot change the original):
// the host's for --network host, the peer's for --network
// container:NAME, as Docker does; hosts, if set, is the content.
func writeEtc(dir, hostname, hostsFrom string, hosts, resolv []byte) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("container /etc files: %w", err)
	}
	if hosts == nil {
		hosts = []byte(fmt.Sprintf(hostsNone, hostname))
	}
	if hostsFrom != "" {
		b, err := os.ReadFile(hostsFrom)
		if err != nil {
			return fmt.Errorf("--network: %w", err)
		}
		hosts = b
	}
	files := map[string][]byte{"hosts": hosts, "hostname": []byte(hostname + "\n")}
	if resolv != nil {
		files["resolv.conf"] = resolv
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("container /etc files: %w", err)
		}
	}
	return nil
}

// peerNetwork resolves --network container:NAME: the network namespace
// of that container's init, which must be running, and its hosts file.
func (e *Engine) peerNetwork(network string) (netns, hosts string, err error) {
	name, ok := strings.CutPrefix(network, "container:")
	if !ok || name == "" {
		return "", "", nil
	}
	rec, err := e.Lookup(name)
	if err != nil {
		return "", "", fmt.Errorf("--network %s: %w", network, err)
	}
	c, err := runtime.Load(e.Root, rec.ID)
	if err != nil {
		return "", "", fmt.Errorf("--network %s: container %s is not running", network, name)
	}
	defer c.Close()
	if c.Status() != runtime.Running {
		return "", "", fmt.Errorf("--network %s: container %s is not running", network, name)
	}
	// By the init's pid, as Docker's spec does: create joins it within
	// milliseconds, checked to be a network namespace.
	return procfs.Pid(c.State.Pid, "ns/net"), filepath.Join(e.etc(rec.ID), "hosts"), nil
}

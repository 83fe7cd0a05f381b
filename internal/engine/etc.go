package engine

import (
	"fmt"
	"os"
	"path/filepath"
)

// hostsNone is /etc/hosts of a container with only loopback: localhost
// and its own hostname resolve without DNS, as in Docker and podman.
const hostsNone = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
127.0.1.1	%s
`

// writeEtc writes the container's hosts and hostname files into dir. With
// the host's network, its hosts file is the host's (a copy: the
// container cannot change the host's), as Docker does.
func writeEtc(dir, hostname string, hostNetwork bool) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("container /etc files: %w", err)
	}
	hosts := []byte(fmt.Sprintf(hostsNone, hostname))
	if hostNetwork {
		b, err := os.ReadFile("/etc/hosts")
		if err != nil {
			return fmt.Errorf("--network host: %w", err)
		}
		hosts = b
	}
	for name, data := range map[string][]byte{"hosts": hosts, "hostname": []byte(hostname + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("container /etc files: %w", err)
		}
	}
	return nil
}

package runtime

import (
	"os"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/namespaces"
	"github.com/tirith-project/tirith/internal/rootfs"
)

// Features describes what this runtime implements (runtime-spec
// features.md), for `tirith features`.
func Features() *features.Features {
	f := false
	apparmor := fileHas("/sys/module/apparmor/parameters/enabled", "Y")
	_, err := os.Stat("/sys/fs/selinux/enforce")
	selinux := err == nil
	mode := cgroups.DetectMode()
	v2 := mode == cgroups.ModeV2
	v1 := !v2
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions:  rootfs.KnownOptions(),
		Linux: &features.Linux{
			Namespaces:      namespaces.Types(),
			Capabilities:    caps.Names(),
			Cgroup:          &features.Cgroup{V1: &v1, V2: &v2, Systemd: &f, SystemdUser: &f},
			Apparmor:        &features.Apparmor{Enabled: &apparmor},
			Selinux:         &features.Selinux{Enabled: &selinux},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &f}},
		},
	}
}

func fileHas(path, want string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(data)) == want
}

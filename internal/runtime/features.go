package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/tirith-project/tirith/internal/caps"
	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/lsm/apparmor"
	"github.com/tirith-project/tirith/internal/lsm/selinux"
	"github.com/tirith-project/tirith/internal/namespaces"
	"github.com/tirith-project/tirith/internal/rootfs"
)

// Features describes what this runtime implements (runtime-spec
// features.md), for `tirith features`.
func Features() *features.Features {
	f := false
	apparmorOn, selinuxOn := apparmor.Enabled(), selinux.Enabled()
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
			Apparmor:        &features.Apparmor{Enabled: &apparmorOn},
			Selinux:         &features.Selinux{Enabled: &selinuxOn},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &f}},
		},
	}
}

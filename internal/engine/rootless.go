package engine

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tirith-project/tirith/internal/cgroups"
	"github.com/tirith-project/tirith/internal/engine/specgen"
	"github.com/tirith-project/tirith/internal/rootfs"
	"github.com/tirith-project/tirith/internal/rootless"
)

// rootlessSpec fits a built spec to the rootless namespace: the
// container's user namespace maps the namespace's ids as they are (the
// user has no other range to give it, and its files' owners are already
// right), no idmapped rootfs, and the limits of wall 6 only where a
// cgroup is delegated to the user; every one left out is a relaxation,
// printed and kept in the record.
func rootlessSpec(id string, built *specgen.Built, userns bool) error {
	s := built.Spec
	delete(s.Annotations, rootfs.IdmapAnnotation)
	if userns {
		var err error
		if s.Linux.UIDMappings, err = rootless.IdentityMap("uid_map"); err != nil {
			return err
		}
		if s.Linux.GIDMappings, err = rootless.IdentityMap("gid_map"); err != nil {
			return err
		}
	}
	r := s.Linux.Resources
	if r == nil {
		return nil
	}
	if _, err := cgroups.New(cgroups.Config{ID: id, CgroupsPath: s.Linux.CgroupsPath, Resources: r, Rootless: true}); err == nil {
		return nil
	}
	var down []string
	if r.Memory != nil {
		down = append(down, "memory")
	}
	if r.Pids != nil {
		down = append(down, "pids")
	}
	if r.CPU != nil {
		down = append(down, "cpu")
	}
	if r.BlockIO != nil {
		down = append(down, "block I/O")
	}
	if len(down) == 0 {
		return nil
	}
	s.Linux.Resources = &specs.LinuxResources{Devices: r.Devices}
	built.Relaxations = append(built.Relaxations, specgen.Relaxation{Wall: 6, Flag: "rootless",
		What: fmt.Sprintf("no cgroup is delegated to uid %d: no %s limit", rootless.HostUID(), strings.Join(down, ", "))})
	return nil
}

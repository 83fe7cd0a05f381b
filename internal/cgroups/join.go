package cgroups

import (
	"fmt"
	"strconv"
)

// Join moves pid into the container's existing cgroups without touching
// their limits: how `exec` puts a new process under the container's walls.
func (m *Manager) Join(pid int) error {
	if m.None() {
		return nil
	}
	if m.mode == ModeV2 {
		if err := m.fs.write(m.dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("join cgroup %q: add pid %d: %w", m.dir, pid, err)
		}
		return nil
	}
	if err := m.v1.AddPid("", pid); err != nil {
		return fmt.Errorf("join cgroup %q: add pid %d: %w", m.paths["devices"], pid, err)
	}
	return nil
}

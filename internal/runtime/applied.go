package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"

	"github.com/tirith-project/tirith/internal/atomicfile"
	"github.com/tirith-project/tirith/internal/runtime/plan"
)

// planFile holds a container's Applied, beside state.json.
const planFile = "plan.json"

// Applied is what a container's init was told to do and what the kernel
// granted: the data `tirith inspect` reports and `exec` builds on.
type Applied struct {
	Plan   *plan.Plan   `json:"plan"`
	Report *plan.Report `json:"report,omitempty"`
}

func (c *Container) savePlan(a *Applied) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return atomicfile.Replace(filepath.Join(c.dir, planFile), data, 0o600)
}

// ErrNoPlan: the container was created by a runtime that stored none
// (or its create did not get as far).
var ErrNoPlan = errors.New("no plan stored")

// Applied loads the container's stored plan and report.
func (c *Container) Applied() (*Applied, error) {
	data, err := os.ReadFile(filepath.Join(c.dir, planFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("container %q: %w", c.State.ID, ErrNoPlan)
	}
	if err != nil {
		return nil, fmt.Errorf("read plan of %q: %w", c.State.ID, err)
	}
	var a Applied
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("plan of %q is corrupt: %w", c.State.ID, err)
	}
	if a.Plan == nil || a.Plan.Version != plan.Version {
		return nil, fmt.Errorf("plan of %q is of another version (want %d): %w", c.State.ID, plan.Version, ErrNoPlan)
	}
	return &a, nil
}

// plan is the container's stored plan, or for a container created by a
// runtime that stored none, one built again from its stored spec.
func (c *Container) plan() (*plan.Plan, error) {
	a, err := c.Applied()
	if err == nil {
		return a.Plan, nil
	}
	if !errors.Is(err, ErrNoPlan) {
		return nil, err
	}
	return plan.Build(c.State.Config, plan.Facts{ID: c.State.ID, Arch: goruntime.GOARCH, CgroupPaths: c.State.Cgroup.Paths})
}

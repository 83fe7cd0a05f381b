package engine

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tirith-project/tirith/internal/procfs"
	"github.com/tirith-project/tirith/internal/runtime"
)

// AuditTarget is what `tirith audit container` needs of a container:
// its init's pid as the host sees it and, when Tirith made it, what
// Tirith recorded.
type AuditTarget struct {
	Pid int
	// Record is the front end's record (nil for an OCI runtime
	// container or a bare pid).
	Record *Record
	// ID is the runtime's id, "" for a pid no Tirith container has.
	ID string
	// Security is the plan and apply report as inspect shows them.
	Security *InspectSecurity
	// Drift is what a front-end container changed in its root
	// filesystem (nil for others, or when it could not be read).
	Drift *DriftSummary
}

// ResolveAudit finds q among the front end's containers (name or id),
// then the OCI runtime's under --root, then as a pid of any runtime's
// container. A pid that is a Tirith container's init gets its records
// too.
func (e *Engine) ResolveAudit(q string) (*AuditTarget, error) {
	recs, _ := e.List()
	for _, r := range recs {
		if r.Name == q || r.ID == q {
			return e.auditRecord(r)
		}
	}
	if pid, err := strconv.Atoi(q); err == nil && pid > 0 && !strings.HasPrefix(q, "0") {
		if _, err := os.Stat(procfs.Pid(pid)); err != nil {
			return nil, fmt.Errorf("%w: %s (no such process)", ErrNoContainer, q)
		}
		for _, r := range recs {
			e.Refresh(r)
			if r.Status == StatusRunning && r.Pid == pid {
				return e.auditRecord(r)
			}
		}
		ids, _ := runtime.List(e.Root)
		for _, id := range ids {
			if t, err := e.auditRuntime(id); err == nil && t.Pid == pid {
				return t, nil
			}
		}
		return &AuditTarget{Pid: pid}, nil
	}
	if t, err := e.auditRuntime(q); err == nil {
		return t, nil
	}
	r, err := e.Lookup(q)
	if err != nil {
		return nil, err
	}
	return e.auditRecord(r)
}

func (e *Engine) auditRecord(r *Record) (*AuditTarget, error) {
	e.Refresh(r)
	if r.Status != StatusRunning || r.Pid <= 0 {
		return nil, fmt.Errorf("container %s is not running (%s): only a running container can be audited", r.Name, r.Status)
	}
	t := &AuditTarget{Pid: r.Pid, Record: r, ID: r.ID}
	if a := e.applied(r.ID); a != nil {
		t.Security = planSecurity(r, a)
	}
	if ch, err := e.Diff(r.ID); err == nil {
		d := Summarize(ch)
		t.Drift = &d
	}
	return t, nil
}

func (e *Engine) auditRuntime(id string) (*AuditTarget, error) {
	c, err := runtime.Load(e.Root, id)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if st := c.Status(); st != runtime.Running && st != runtime.Created && st != runtime.Paused {
		return nil, fmt.Errorf("container %s is not running (%s)", id, st)
	}
	t := &AuditTarget{Pid: c.State.Pid, ID: id}
	if a, err := c.Applied(); err == nil {
		t.Security = planSecurity(&Record{}, a)
	} else if !errors.Is(err, runtime.ErrNoPlan) {
		return nil, err
	}
	return t, nil
}

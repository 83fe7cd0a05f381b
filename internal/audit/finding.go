// Package audit holds Tirith's audits of images, containers and the host:
// each check yields a Finding (id, title, severity, result, evidence,
// remediation), a Report gathers them, and output.go prints a report as a
// table, JSON or SARIF 2.1.0 for CI pipelines.
package audit

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says how bad a finding is when its result is not a pass.
type Severity int

// The severities, lowest first (their order is what --fail-on compares).
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want one of %s)", s, strings.Join(severityNames, ", "))
}

// MarshalText writes the name, so JSON reports say "high", not 3.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Result is a check's outcome.
type Result string

const (
	// Pass: the check found nothing wrong.
	Pass Result = "pass"
	// Warn: something to look at; it may be intended.
	Warn Result = "warn"
	// Fail: the check found the problem it looks for.
	Fail Result = "fail"
	// Note: a fact reported for the record (kernel version, a mode the
	// host runs in), nothing to fix. Spelled "info" in output.
	Note Result = "info"
)

// Finding is one check's outcome. Evidence never holds a secret's value:
// checks that look at values report names, paths and reasons only.
type Finding struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Severity    Severity `json:"severity"`
	Result      Result   `json:"result"`
	Evidence    []string `json:"evidence,omitempty"`
	Remediation string   `json:"remediation,omitempty"`
	// Refs names what the check covers elsewhere: dockle checkpoints
	// ("CIS-DI-0008"), CIS Docker Benchmark items ("CIS 5.4").
	Refs []string `json:"refs,omitempty"`
}

// Problem says whether the finding counts against the target: a warn or
// a fail. Passes and notes never do.
func (f Finding) Problem() bool { return f.Result == Warn || f.Result == Fail }

// Report is one audit's findings about one target.
type Report struct {
	// Kind is "image", "container" or "host".
	Kind string `json:"kind"`
	// Target names what was audited (an image reference and ID, a
	// container name and pid, the host name).
	Target   string    `json:"target"`
	Findings []Finding `json:"findings"`
	// Grade summarises a container audit (A best); empty elsewhere.
	Grade string `json:"grade,omitempty"`
	// Extra holds kind-specific data (a container's plan, drift counts).
	Extra map[string]any `json:"extra,omitempty"`
}

// Add appends a finding.
func (r *Report) Add(f Finding) { r.Findings = append(r.Findings, f) }

// Sort orders findings worst first: problems before passes and notes,
// then by severity, then by id.
func (r *Report) Sort() {
	rank := func(f Finding) int {
		switch f.Result {
		case Fail:
			return 0
		case Warn:
			return 1
		case Note:
			return 3
		}
		return 2
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if rank(a) != rank(b) {
			return rank(a) < rank(b)
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		return a.ID < b.ID
	})
}

// AtOrAbove returns the problems whose severity is at least min: what
// --fail-on turns into exit code 1.
func (r *Report) AtOrAbove(min Severity) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Problem() && f.Severity >= min {
			out = append(out, f)
		}
	}
	return out
}

// Find returns the findings with the given id.
func (r *Report) Find(id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

package audit

import (
	"fmt"
	"strings"

	"github.com/tirith-project/tirith/internal/image/vuln"
)

// VulnFindings turns OSV matches into findings of the image audit, so
// that they share its formats and --fail-on: one per package matched,
// named by the record's id, with a note saying how many records were
// read from dir. A record that gives no severity counts as medium, and
// says so.
func VulnFindings(records int, dir string, matches []vuln.Finding) []Finding {
	out := []Finding{{
		ID: "TIRITH-VULN-DB", Title: "OSV records matched against the image's packages", Severity: Info, Result: Note,
		Evidence: []string{fmt.Sprintf("%d records read from %s; %d matches", records, dir, len(matches))},
	}}
	for _, m := range matches {
		sev, given := vulnSeverity(m.Severity)
		ev := []string{
			fmt.Sprintf("package %s %s (%s), listed in %s of layer %s", m.Package, m.Version, m.Ecosystem, m.Path, m.Layer),
		}
		if !given {
			ev = append(ev, "the record gives no severity: counted as medium")
		}
		fix := "no fixed version is known: remove the package or accept the risk"
		if m.Fixed != "" {
			ev = append(ev, "fixed in "+m.Fixed)
			fix = fmt.Sprintf("upgrade %s to %s or later", m.Package, m.Fixed)
		}
		title := fmt.Sprintf("%s %s is vulnerable", m.Package, m.Version)
		if len(m.Aliases) > 0 {
			title += " (" + strings.Join(m.Aliases, ", ") + ")"
		}
		if m.Summary != "" {
			title += ": " + m.Summary
		}
		out = append(out, Finding{ID: m.ID, Title: title, Severity: sev, Result: Fail, Evidence: ev, Remediation: fix, Refs: append([]string{m.PURL}, m.Aliases...)})
	}
	return out
}

func vulnSeverity(s string) (Severity, bool) {
	if v, err := ParseSeverity(s); err == nil && v != Info {
		return v, true
	}
	return Medium, false
}

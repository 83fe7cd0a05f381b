package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type auditReport struct {
	Kind     string `json:"kind"`
	Target   string `json:"target"`
	Grade    string `json:"grade"`
	Findings []struct {
		ID       string   `json:"id"`
		Severity string   `json:"severity"`
		Result   string   `json:"result"`
		Evidence []string `json:"evidence"`
	} `json:"findings"`
	Extra map[string]any `json:"extra"`
}

func parseAudit(t *testing.T, out string) auditReport {
	t.Helper()
	var r auditReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("audit JSON: %v\n%s", err, out)
	}
	return r
}

// finding returns the finding id as "severity/result evidence...".
func (r auditReport) finding(t *testing.T, id string) (sev, res, ev string) {
	t.Helper()
	for _, f := range r.Findings {
		if f.ID == id {
			return f.Severity, f.Result, strings.Join(f.Evidence, "\n")
		}
	}
	t.Fatalf("no finding %s in %+v", id, r.Findings)
	return
}

// tirith audit image on images in a store: JSON, SARIF, the table,
// --fail-on's exit code and the errors.
func TestAuditImageCLI(t *testing.T) {
	e := newEnv(t)
	st := t.TempDir()
	file := filepath.Join(t.TempDir(), "rootfs.tar")
	must(t, os.WriteFile(file, rootfsTar(t), 0o644))
	e.storageOK(st, "import", file, "example.com/audited:1")

	r := parseAudit(t, e.storageOK(st, "audit", "image", "--format", "json", "example.com/audited:1"))
	if r.Kind != "image" || !strings.Contains(r.Target, "example.com/audited:1 (sha256:") {
		t.Fatalf("report header = %q %q", r.Kind, r.Target)
	}
	if sev, res, ev := r.finding(t, "IMG-SETUID"); sev != "high" || res != "fail" || !strings.Contains(ev, "/bin/su (owner 0:0, mode 4755, layer 0)") {
		t.Fatalf("IMG-SETUID = %s %s %q", sev, res, ev)
	}
	if sev, res, _ := r.finding(t, "IMG-ROOT-USER"); sev != "high" || res != "fail" {
		t.Fatalf("IMG-ROOT-USER = %s %s (an imported image has no USER)", sev, res)
	}

	// --fail-on: high findings exist, critical ones do not.
	res := e.storage(st, "audit", "image", "--fail-on", "high", "example.com/audited:1")
	if res.code != 1 || !strings.Contains(res.stdout, "IMG-SETUID") || !strings.Contains(res.stderr, "at or above high") {
		t.Fatalf("--fail-on high: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if res := e.storage(st, "audit", "image", "--fail-on", "critical", "example.com/audited:1"); res.code != 0 {
		t.Fatalf("--fail-on critical: exit %d, want 0\n%s", res.code, res.stderr)
	}
	// A table without a terminal has no colour.
	if strings.Contains(res.stdout, "\x1b[") || !strings.HasPrefix(res.stdout, "image audit: example.com/audited:1") {
		t.Fatalf("table output:\n%q", res.stdout)
	}

	var sarif struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID string `json:"ruleId"`
				Level  string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	must(t, json.Unmarshal([]byte(e.storageOK(st, "audit", "image", "--format", "sarif", "example.com/audited:1")), &sarif))
	found := false
	for _, x := range sarif.Runs[0].Results {
		found = found || x.RuleID == "IMG-SETUID" && x.Level == "error"
	}
	if sarif.Version != "2.1.0" || !found {
		t.Fatalf("SARIF = %+v", sarif)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--format", "xml", "example.com/audited:1"}, `unknown format "xml"`},
		{[]string{"--fail-on", "severe", "example.com/audited:1"}, `unknown severity "severe"`},
		{[]string{"example.com/nope:1"}, "example.com/nope:1"},
	} {
		res := e.storage(st, append([]string{"audit", "image"}, c.args...)...)
		if res.code != 125 || !strings.Contains(res.stderr, c.want) {
			t.Errorf("audit image %v: exit %d, stderr %q; want 125 and %q", c.args, res.code, res.stderr, c.want)
		}
	}
}

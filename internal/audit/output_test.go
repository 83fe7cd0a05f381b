package audit

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func sampleReport() *Report {
	r := &Report{Kind: "image", Target: "example.com/app:1 (sha256:abc)"}
	r.Add(Finding{ID: "TIR-IMG-ROOT", Title: "runs as root", Severity: High, Result: Fail,
		Evidence: []string{"config.User is empty"}, Remediation: "add USER", Refs: []string{"CIS-DI-0001"}})
	r.Add(Finding{ID: "TIR-IMG-HEALTHCHECK", Title: "no HEALTHCHECK", Severity: Low, Result: Warn})
	r.Add(Finding{ID: "TIR-IMG-SETUID", Title: "no setuid files", Severity: High, Result: Pass})
	r.Add(Finding{ID: "TIR-IMG-LAYERS", Title: "layers", Severity: Info, Result: Note, Evidence: []string{"3 layers"}})
	r.Sort()
	return r
}

// The SARIF output validates against the OASIS SARIF 2.1.0 schema
// (errata01, testdata/sarif-schema-2.1.0.json), for a report with
// problems and for an empty one.
func TestSARIFValidatesAgainstSchema(t *testing.T) {
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	reports := []*Report{sampleReport(), {Kind: "host", Target: "h \"quoted\" /x"}}
	// A real audit's report too: every image check, problems and passes.
	reports = append(reports, Host(hostFixture(t, hardened)))
	reports = append(reports, mustImage(t))
	for _, r := range reports {
		var buf bytes.Buffer
		if err := WriteSARIF(&buf, r, "test"); err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Fatalf("SARIF does not validate: %v\n%s", err, buf.String())
		}
	}
	// The schema is not a rubber stamp: a log without version fails.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"runs":[]}`))
	if sch.Validate(bad) == nil {
		t.Fatal("a log without version validated")
	}
}

func TestSARIFContent(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, sampleReport(), "1.0"); err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Tool.Driver.Rules) != 4 {
		t.Fatalf("rules = %d, want one per check (4)", len(run.Tool.Driver.Rules))
	}
	if len(run.Results) != 2 {
		t.Fatalf("results = %+v, want the fail and the warn only", run.Results)
	}
	r0 := run.Results[0]
	if r0.RuleID != "TIR-IMG-ROOT" || r0.Level != "error" || run.Tool.Driver.Rules[r0.RuleIndex].ID != r0.RuleID {
		t.Fatalf("first result = %+v", r0)
	}
	if run.Results[1].Level != "note" {
		t.Fatalf("low warn level = %q, want note", run.Results[1].Level)
	}
	if !strings.Contains(r0.Message.Text, "config.User is empty") {
		t.Fatalf("message %q lacks the evidence", r0.Message.Text)
	}
}

func TestAtOrAbove(t *testing.T) {
	r := sampleReport()
	for _, c := range []struct {
		min  Severity
		want int
	}{{Info, 2}, {Low, 2}, {Medium, 1}, {High, 1}, {Critical, 0}} {
		if got := len(r.AtOrAbove(c.min)); got != c.want {
			t.Errorf("AtOrAbove(%s) = %d, want %d (passes and notes never count)", c.min, got, c.want)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil || !strings.Contains(err.Error(), "critical") {
		t.Fatalf("ParseSeverity(severe) = %v, want an error listing the names", err)
	}
	if s, err := ParseSeverity("HIGH"); err != nil || s != High {
		t.Fatalf("ParseSeverity(HIGH) = %v, %v", s, err)
	}
}

func TestTableAndJSON(t *testing.T) {
	var plain, col, js bytes.Buffer
	r := sampleReport()
	if err := WriteTable(&plain, r, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(&col, r, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "\x1b[") {
		t.Fatalf("colour without a terminal:\n%s", plain.String())
	}
	if !strings.Contains(col.String(), ansiRed+"FAIL"+ansiReset) {
		t.Fatalf("no red FAIL on a terminal:\n%q", col.String())
	}
	lines := strings.Split(plain.String(), "\n")
	if !strings.HasPrefix(lines[1], "RESULT") || !strings.HasPrefix(lines[2], "FAIL") {
		t.Fatalf("table:\n%s", plain.String())
	}
	// Columns line up: ID starts at the same offset on every finding line.
	col0 := strings.Index(lines[1], "ID")
	if strings.Index(lines[2], "TIR-IMG-ROOT") != col0 {
		t.Fatalf("misaligned table:\n%s", plain.String())
	}
	if !strings.Contains(plain.String(), "1 fail, 1 warn, 1 pass, 1 info") {
		t.Fatalf("summary missing:\n%s", plain.String())
	}
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Findings[0].Severity != High || back.Findings[0].Result != Fail || !strings.Contains(js.String(), `"severity": "high"`) {
		t.Fatalf("JSON round trip: %+v\n%s", back.Findings[0], js.String())
	}
	js.Reset()
	if err := WriteJSON(&js, &Report{Kind: "host"}); err != nil || !strings.Contains(js.String(), `"findings": []`) {
		t.Fatalf("empty report JSON: %v %s", err, js.String())
	}
}

// mustImage audits an image with a few problems.
func mustImage(t *testing.T) *Report {
	l := layerTar(t, dir("bin/", 0o755), tfile{name: "bin/su", typ: '0', mode: 0o4755, body: "x"}, dir("srv/", 0o777))
	r, err := Image(input(t, "example.com/x", v1.Config{Env: []string{"DB_PASSWORD=hunter2"}}, nil, l), ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.AtOrAbove(High)) == 0 {
		t.Fatal("the image has no high finding")
	}
	return r
}

package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Formats are the values of --format.
var Formats = []string{"table", "json", "sarif"}

// Write prints r in format ("table", "json" or "sarif"); colour applies
// to the table only (the caller decides: a terminal, NO_COLOR unset).
func Write(w io.Writer, r *Report, format string, colour bool, version string) error {
	switch format {
	case "", "table":
		return WriteTable(w, r, colour)
	case "json":
		return WriteJSON(w, r)
	case "sarif":
		return WriteSARIF(w, r, version)
	}
	return fmt.Errorf("--format: unknown format %q (want %s)", format, strings.Join(Formats, ", "))
}

// WriteJSON prints the report as indented JSON; findings is never null.
func WriteJSON(w io.Writer, r *Report) error {
	out := *r
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiBlue   = "\x1b[34m"
)

// WriteTable prints one line per finding (result, severity, id, title)
// with its evidence and remediation indented below problems, then a
// summary line.
func WriteTable(w io.Writer, r *Report, colour bool) error {
	fmt.Fprintf(w, "%s audit: %s\n", r.Kind, r.Target)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 4, 1, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tSEVERITY\tID\tTITLE")
	counts := map[Result]int{}
	for _, f := range r.Findings {
		counts[f.Result]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strings.ToUpper(string(f.Result)), f.Severity, f.ID, f.Title)
		if !f.Problem() && f.Result != Note {
			continue
		}
		for _, e := range f.Evidence {
			fmt.Fprintf(tw, "\t\t\t  - %s\n", e)
		}
		if f.Problem() && f.Remediation != "" {
			fmt.Fprintf(tw, "\t\t\t  fix: %s\n", f.Remediation)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Colour goes in after tabwriter has aligned the columns: it counts
	// escape bytes as width.
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if colour {
			for _, res := range []Result{Fail, Warn, Pass, Note} {
				word := strings.ToUpper(string(res))
				if strings.HasPrefix(line, word+" ") {
					line = resultColour(res) + word + ansiReset + line[len(word):]
					break
				}
			}
		}
		io.WriteString(w, line)
	}
	fmt.Fprintf(w, "%d fail, %d warn, %d pass, %d info", counts[Fail], counts[Warn], counts[Pass], counts[Note])
	if r.Grade != "" {
		fmt.Fprintf(w, "; grade %s", r.Grade)
	}
	_, err := fmt.Fprintln(w)
	return err
}

func resultColour(r Result) string {
	switch r {
	case Fail:
		return ansiRed
	case Warn:
		return ansiYellow
	case Pass:
		return ansiGreen
	}
	return ansiBlue
}

// SARIF 2.1.0 (OASIS): one run, Tirith as the tool, a rule per check id
// and a result per problem (passes and notes are not results: code
// scanning tools would show them as alerts).
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name,omitempty"`
	ShortDescription     sarifText      `json:"shortDescription"`
	Help                 *sarifText     `json:"help,omitempty"`
	DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID     string          `json:"ruleId"`
	RuleIndex  int             `json:"ruleIndex"`
	Level      string          `json:"level"`
	Message    sarifText       `json:"message"`
	Locations  []sarifLocation `json:"locations"`
	Properties map[string]any  `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

// sarifLevel maps a severity to SARIF's three levels.
func sarifLevel(s Severity) string {
	switch {
	case s >= High:
		return "error"
	case s >= Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is the 0-10 score GitHub code scanning reads from a
// rule's properties.
var securitySeverity = map[Severity]string{Info: "0.0", Low: "3.0", Medium: "5.5", High: "8.0", Critical: "9.5"}

// WriteSARIF prints the report as a SARIF 2.1.0 log.
func WriteSARIF(w io.Writer, r *Report, version string) error {
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: "tirith", Version: version,
			InformationURI: "https://github.com/tirith-project/tirith",
			Rules:          []sarifRule{},
		}},
		Results: []sarifResult{},
	}
	index := map[string]int{}
	for _, f := range r.Findings {
		i, ok := index[f.ID]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.ID] = i
			rule := sarifRule{
				ID: f.ID, ShortDescription: sarifText{f.Title},
				DefaultConfiguration: sarifConfig{sarifLevel(f.Severity)},
				Properties: map[string]any{
					"security-severity": securitySeverity[f.Severity],
					"tags":              []string{"security", r.Kind},
				},
			}
			if f.Remediation != "" {
				rule.Help = &sarifText{f.Remediation}
			}
			if len(f.Refs) > 0 {
				rule.Properties["refs"] = f.Refs
			}
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rule)
		}
		if !f.Problem() {
			continue
		}
		msg := f.Title
		if len(f.Evidence) > 0 {
			msg += ": " + strings.Join(f.Evidence, "; ")
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: f.ID, RuleIndex: i, Level: sarifLevel(f.Severity),
			Message: sarifText{msg},
			// The audited object is the artifact: code scanning wants a
			// location, and an image or container has no source line.
			Locations: []sarifLocation{{sarifPhysical{sarifArtifact{artifactURI(r)}}}},
			Properties: map[string]any{
				"severity": f.Severity.String(), "result": string(f.Result),
			},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{
		Schema:  "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
		Version: "2.1.0",
		Runs:    []sarifRun{run},
	})
}

// artifactURI names the target as a relative URI reference: its kind
// and name, with characters a URI cannot hold escaped.
func artifactURI(r *Report) string {
	var b strings.Builder
	b.WriteString(r.Kind + "/")
	for _, c := range []byte(r.Target) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:@/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// Package vuln matches an image's components (package sbom) against OSV
// records (https://ossf.github.io/osv-schema/) read from a directory, as
// osv.dev's per-ecosystem exports hold them: one JSON file per record.
// Fully offline. Ecosystems: Debian (dpkg version ordering, source package
// names), Alpine (apk version ordering), Go (semver) and PyPI (PEP 440).
package vuln

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tirith-project/tirith/internal/image/sbom"
)

// Record is the part of an OSV record matching needs.
type Record struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases"`
	Summary  string   `json:"summary"`
	Severity []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem"`
			Name      string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced   string `json:"introduced"`
				Fixed        string `json:"fixed"`
				LastAffected string `json:"last_affected"`
			} `json:"events"`
		} `json:"ranges"`
		Versions          []string       `json:"versions"`
		EcosystemSpecific map[string]any `json:"ecosystem_specific"`
		DatabaseSpecific  map[string]any `json:"database_specific"`
	} `json:"affected"`
	DatabaseSpecific map[string]any `json:"database_specific"`
}

// Finding is one record affecting one component.
type Finding struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases,omitempty"`
	Summary   string   `json:"summary,omitempty"`
	Severity  string   `json:"severity"` // critical, high, medium, low or unknown
	Package   string   `json:"package"`
	Version   string   `json:"version"`
	Fixed     string   `json:"fixed,omitempty"`
	Ecosystem string   `json:"ecosystem"`
	PURL      string   `json:"purl"`
	Layer     string   `json:"layer"`
	Path      string   `json:"path"`
}

// DB is a set of OSV records by ecosystem (without ":release") and
// package name.
type DB struct {
	byPkg map[string][]*Record
	Count int
}

// maxRecord caps one record file.
const maxRecord = 8 << 20

// Load reads every *.json file under dir as an OSV record. A file that is
// not a record is an error naming it: a half-written database must not
// pass as a clean scan.
func Load(dir string) (*DB, error) {
	db := &DB{byPkg: map[string][]*Record{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxRecord {
			return fmt.Errorf("%s: %d bytes, more than %d", p, info.Size(), maxRecord)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r Record
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if r.ID == "" {
			return fmt.Errorf("%s: not an OSV record (no id)", p)
		}
		seen := map[string]bool{}
		for _, a := range r.Affected {
			k := key(baseEcosystem(a.Package.Ecosystem), a.Package.Name)
			if !seen[k] {
				seen[k] = true
				db.byPkg[k] = append(db.byPkg[k], &r)
			}
		}
		db.Count++
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vulnerability database %s: %w", dir, err)
	}
	return db, nil
}

func key(eco, name string) string { return eco + "\x00" + name }

func baseEcosystem(e string) string {
	b, _, _ := strings.Cut(e, ":")
	return b
}

// ecosystemOf maps a component to the OSV ecosystem, the name records use
// and the release ("12" of "Debian:12"; "" when any).
func ecosystemOf(c sbom.Component) (eco, name, release string) {
	_, rel, _ := strings.Cut(c.OS, ":")
	switch c.Type {
	case "deb":
		n := c.Name
		if c.Source != "" {
			n = c.Source // Debian's records name source packages
		}
		return "Debian", n, majorOf(rel)
	case "apk":
		n := c.Name
		if c.Source != "" {
			n = c.Source
		}
		return "Alpine", n, alpineRelease(rel)
	case "golang":
		return "Go", c.Name, ""
	case "pypi":
		return "PyPI", normPy(c.Name), ""
	}
	return "", "", ""
}

func majorOf(v string) string {
	m, _, _ := strings.Cut(v, ".")
	return m
}

// alpineRelease: VERSION_ID 3.19.1 is OSV's "Alpine:v3.19".
func alpineRelease(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return ""
	}
	return "v" + parts[0] + "." + parts[1]
}

func normPy(n string) string {
	return strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(n))
}

// Match returns the findings for cs, sorted by severity then id.
func (db *DB) Match(cs []sbom.Component) []Finding {
	var out []Finding
	for _, c := range cs {
		eco, name, release := ecosystemOf(c)
		if eco == "" {
			continue
		}
		cmp := comparers[eco]
		for _, r := range db.candidates(eco, name) {
			for _, a := range r.Affected {
				if baseEcosystem(a.Package.Ecosystem) != eco || (eco == "PyPI" && normPy(a.Package.Name) != name) || (eco != "PyPI" && a.Package.Name != name) {
					continue
				}
				if _, rel, ok := strings.Cut(a.Package.Ecosystem, ":"); ok && release != "" && rel != release {
					continue // a record for another release of the distribution
				}
				hit, fixed := affects(cmp, c.Version, a.Versions, a.Ranges)
				if !hit {
					continue
				}
				out = append(out, Finding{
					ID: r.ID, Aliases: r.Aliases, Summary: r.Summary, Severity: severity(r, a.EcosystemSpecific, a.DatabaseSpecific),
					Package: c.Name, Version: c.Version, Fixed: fixed, Ecosystem: a.Package.Ecosystem,
					PURL: c.PURL, Layer: c.Layer, Path: c.Path,
				})
				break
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if Rank(out[i].Severity) != Rank(out[j].Severity) {
			return Rank(out[i].Severity) > Rank(out[j].Severity)
		}
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Package < out[j].Package
	})
	return out
}

func (db *DB) candidates(eco, name string) []*Record {
	if eco != "PyPI" {
		return db.byPkg[key(eco, name)]
	}
	var out []*Record
	for k, rs := range db.byPkg { // PyPI names compare normalized
		e, n, _ := strings.Cut(k, "\x00")
		if e == eco && normPy(n) == name {
			out = append(out, rs...)
		}
	}
	return out
}

// affects applies OSV's rules: an explicit version list, or ranges of
// events in order (introduced opens, fixed closes at that version,
// last_affected closes after it). It returns the fixed version of the
// range that matched, if any. GIT ranges are not evaluated.
func affects(cmp func(a, b string) int, v string, versions []string, ranges []struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced   string `json:"introduced"`
		Fixed        string `json:"fixed"`
		LastAffected string `json:"last_affected"`
	} `json:"events"`
}) (bool, string) {
	for _, x := range versions {
		if x == v {
			return true, ""
		}
	}
	if cmp == nil || v == "" {
		return false, ""
	}
	for _, rg := range ranges {
		if rg.Type != "ECOSYSTEM" && rg.Type != "SEMVER" {
			continue
		}
		affected := false
		fixed := ""
		for _, ev := range rg.Events {
			switch {
			case ev.Introduced != "":
				if ev.Introduced == "0" || cmp(v, ev.Introduced) >= 0 {
					affected = true
				}
			case ev.Fixed != "":
				if affected && cmp(v, ev.Fixed) >= 0 {
					affected = false
				} else if affected && fixed == "" {
					fixed = ev.Fixed
				}
			case ev.LastAffected != "":
				if affected && cmp(v, ev.LastAffected) > 0 {
					affected = false
				}
			}
		}
		if affected {
			return true, fixed
		}
	}
	return false, ""
}

var comparers = map[string]func(a, b string) int{
	"Debian": CompareDpkg,
	"Alpine": CompareApk,
	"Go":     CompareSemver,
	"PyPI":   ComparePEP440,
}

// Severities, lowest first.
var severities = []string{"unknown", "low", "medium", "high", "critical"}

// Rank orders severities: unknown 0 ... critical 4; -1 for no severity name.
func Rank(s string) int {
	for i, x := range severities {
		if x == s {
			return i
		}
	}
	return -1
}

// severity takes the record's or the affected entry's named severity
// (GitHub's database_specific.severity, Debian's urgency); "unknown"
// otherwise (CVSS vectors are not scored).
func severity(r *Record, eco, db map[string]any) string {
	for _, m := range []map[string]any{db, eco, r.DatabaseSpecific} {
		for _, k := range []string{"severity", "urgency"} {
			if s, ok := m[k].(string); ok {
				s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "*"))
				switch s {
				case "moderate":
					s = "medium"
				case "unimportant", "negligible", "not yet assigned":
					s = "low"
				}
				if Rank(s) > 0 {
					return s
				}
			}
		}
	}
	return "unknown"
}

package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/sbom"
	"github.com/tirith-project/tirith/internal/image/store"
	"github.com/tirith-project/tirith/internal/image/vuln"
)

func newAuditCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check images (and the host) against what is known to be unsafe",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAuditImageCmd(g))
	return cmd
}

func newAuditImageCmd(g *Globals) *cobra.Command {
	var dbDir, format, failOn string
	cmd := &cobra.Command{
		Use:   "image --vuln-db DIR [--format table|json] [--fail-on SEVERITY] IMAGE",
		Short: "Match an image's packages against OSV vulnerability records, offline",
		Long: "Match the packages `tirith sbom` finds in an image of the store against OSV records read\n" +
			"from DIR (one JSON file per record, as osv.dev's per-ecosystem exports): Debian, Alpine, Go\n" +
			"and PyPI. --fail-on low|medium|high|critical makes findings of that severity or above an\n" +
			"error (exit 1).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dbDir == "" {
				return fmt.Errorf("--vuln-db DIR is required")
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("--format %q: want table or json", format)
			}
			if failOn != "" && vuln.Rank(failOn) < 1 {
				return fmt.Errorf("--fail-on %q: want low, medium, high or critical", failOn)
			}
			db, err := vuln.Load(dbDir)
			if err != nil {
				return err
			}
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			subj, cs, err := sbom.ForImage(s, args[0])
			if err != nil {
				return err
			}
			fs := db.Match(cs)
			w := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if fs == nil {
					fs = []vuln.Finding{}
				}
				err = enc.Encode(struct {
					Image    string         `json:"image"`
					ID       string         `json:"id"`
					Records  int            `json:"records"`
					Findings []vuln.Finding `json:"findings"`
				}{subj.Name, subj.ID, db.Count, fs})
				if err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tALIASES\tSEVERITY\tPACKAGE\tVERSION\tFIXED\tPATH")
				for _, f := range fs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, strings.Join(f.Aliases, ","), f.Severity, f.Package, f.Version, f.Fixed, f.Path)
				}
				tw.Flush()
			}
			if failOn != "" {
				n := 0
				for _, f := range fs {
					if vuln.Rank(f.Severity) >= vuln.Rank(failOn) {
						n++
					}
				}
				if n > 0 {
					return fmt.Errorf("%d finding(s) of severity %s or above", n, failOn)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dbDir, "vuln-db", "", "directory of OSV records (*.json)")
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "fail (exit 1) on findings of this severity or above: low, medium, high, critical")
	return cmd
}

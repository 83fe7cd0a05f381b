package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tirith-project/tirith/internal/image/ref"
	"github.com/tirith-project/tirith/internal/image/store"
)

// imageJSON is one element of `tirith images --format json`.
type imageJSON struct {
	ID      string    `json:"id"`
	Names   []string  `json:"names"`
	Digests []string  `json:"digests"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
}

func newImagesCmd(g *Globals) *cobra.Command {
	var (
		format string
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "images [--format table|json] [-q]",
		Short: "List the images in the image store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("--format: unknown format %q (want table or json)", format)
			}
			s, err := store.Open(g.Storage)
			if err != nil {
				return err
			}
			list, err := s.List()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case quiet:
				for _, im := range list {
					fmt.Fprintln(out, shortID(im.ID))
				}
				return nil
			case format == "json":
				js := make([]imageJSON, 0, len(list))
				for _, im := range list {
					js = append(js, imageJSON{ID: im.ID, Names: nonNil(im.Names), Digests: nonNil(im.Digests), Created: im.Created, Size: im.Size})
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(js)
			}
			tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			now := time.Now()
			for _, im := range list {
				for _, rt := range repoTags(im) {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", rt[0], rt[1], shortID(im.ID), created(im.Created, now), humanSize(im.Size))
				}
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only image IDs")
	return cmd
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// repoTags returns the REPOSITORY and TAG columns of an image: one row
// per tag; an image known only by digest shows its repository and
// <none>, one without any name <none> <none> (as docker does).
func repoTags(im store.ImageSummary) [][2]string {
	var rows [][2]string
	for _, n := range im.Names {
		r, err := ref.Parse(n)
		if err != nil || r.Tag == "" {
			rows = append(rows, [2]string{n, "<none>"})
			continue
		}
		rows = append(rows, [2]string{strings.TrimSuffix(r.Familiar(), ":"+r.Tag), r.Tag})
	}
	if len(rows) > 0 {
		return rows
	}
	seen := map[string]bool{}
	for _, d := range im.Digests {
		r, err := ref.Parse(d)
		if err != nil {
			continue
		}
		repo := strings.TrimSuffix(r.Familiar(), "@"+r.Digest)
		if !seen[repo] {
			seen[repo] = true
			rows = append(rows, [2]string{repo, "<none>"})
		}
	}
	if len(rows) == 0 {
		rows = append(rows, [2]string{"<none>", "<none>"})
	}
	return rows
}

// familiar is the short form of a canonical name ("busybox:latest").
func familiar(name string) string {
	r, err := ref.Parse(name)
	if err != nil {
		return name
	}
	return r.Familiar()
}

// noSuchImage turns the store's not-found error into docker's wording.
func noSuchImage(err error, q string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no such image: %s", q)
	}
	return err
}

// humanSize is docker's SIZE column: decimal units, three significant
// digits ("4.26MB", "977kB").
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB", "EB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", f, units[i])
}

// created is docker's CREATED column: "3 weeks ago".
func created(t, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return humanDuration(now.Sub(t)) + " ago"
}

// humanDuration words a duration as docker (go-units) does.
func humanDuration(d time.Duration) string {
	if s := int(d.Seconds()); s < 1 {
		return "Less than a second"
	} else if s == 1 {
		return "1 second"
	} else if s < 60 {
		return fmt.Sprintf("%d seconds", s)
	}
	if m := int(d.Minutes()); m == 1 {
		return "About a minute"
	} else if m < 60 {
		return fmt.Sprintf("%d minutes", m)
	}
	if h := int(math.Round(d.Hours())); h == 1 {
		return "About an hour"
	} else if h < 48 {
		return fmt.Sprintf("%d hours", h)
	} else if h < 24*7*2 {
		return fmt.Sprintf("%d days", h/24)
	} else if h < 24*30*2 {
		return fmt.Sprintf("%d weeks", h/24/7)
	} else if h < 24*365*2 {
		return fmt.Sprintf("%d months", h/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}

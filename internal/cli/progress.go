package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/tirith-project/tirith/internal/image/store"
)

// layerProgress shows store.Progress the way `docker pull` does: a bar
// per layer on a terminal, otherwise one line per finished layer (so logs
// and CI output stay readable).
type layerProgress struct {
	w io.Writer

	// Terminal mode.
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*layerBar
}

type layerBar struct {
	bar    *mpb.Bar
	mu     sync.Mutex
	status string
}

func (b *layerBar) setStatus(s string) {
	b.mu.Lock()
	b.status = s
	b.mu.Unlock()
}

func (b *layerBar) getStatus() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// newLayerProgress returns nil when quiet: nothing is shown.
func newLayerProgress(w io.Writer, quiet bool) *layerProgress {
	if quiet {
		return nil
	}
	lp := &layerProgress{w: w}
	if isTerminal(w) {
		lp.p = mpb.New(mpb.WithOutput(w), mpb.WithWidth(40))
		lp.bars = map[string]*layerBar{}
	}
	return lp
}

// isTerminal reports whether w is a terminal (a real `tirith pull` on a
// console, not a pipe or a file) with a known size: bars are drawn to
// fit it, and a 0x0 pseudo-terminal would show nothing.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	cols, rows, err := term.GetSize(int(f.Fd()))
	return err == nil && cols > 0 && rows > 0
}

// func returns the store callback, nil when nothing is shown.
func (lp *layerProgress) fn() store.ProgressFunc {
	if lp == nil {
		return nil
	}
	return lp.update
}

// statusText is Docker's wording for the store's layer states.
var statusText = map[string]string{
	"exists":      "Already exists",
	"downloading": "Downloading",
	"unpacking":   "Extracting",
	"done":        "Pull complete",
}

func (lp *layerProgress) update(pr store.Progress) {
	id := shortID(pr.Layer)
	text := statusText[pr.Status]
	if text == "" {
		text = pr.Status
	}
	if lp.p == nil {
		if pr.Status == "exists" || pr.Status == "done" {
			fmt.Fprintf(lp.w, "%s: %s\n", id, text)
		}
		return
	}
	lp.mu.Lock()
	defer lp.mu.Unlock()
	b := lp.bars[pr.Layer]
	if b == nil {
		b = &layerBar{status: text}
		// Total 0 at first, set below: a bar made so completes only
		// when told (at "done"), not when the download reaches its
		// size, so it keeps showing "Extracting".
		b.bar = lp.p.AddBar(0,
			mpb.PrependDecorators(
				decor.Name(id+": ", decor.WC{W: 14, C: decor.DindentRight}),
				decor.Any(func(decor.Statistics) string { return b.getStatus() }, decor.WC{W: 15, C: decor.DindentRight}),
			),
			mpb.AppendDecorators(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")),
		)
		lp.bars[pr.Layer] = b
	}
	b.setStatus(text)
	switch pr.Status {
	case "exists", "done":
		b.bar.SetTotal(max(pr.Total, pr.Done, 1), false)
		b.bar.SetCurrent(max(pr.Total, pr.Done, 1))
		b.bar.SetTotal(-1, true)
	default:
		if pr.Total > 0 {
			b.bar.SetTotal(pr.Total, false)
		}
		b.bar.SetCurrent(pr.Done)
	}
}

// finish stops the bars (aborting those of layers that never finished,
// after an error) and waits until they are drawn.
func (lp *layerProgress) finish() {
	if lp == nil || lp.p == nil {
		return
	}
	lp.mu.Lock()
	for _, b := range lp.bars {
		if !b.bar.Completed() {
			b.setStatus("Failed")
			b.bar.Abort(false)
		}
	}
	lp.mu.Unlock()
	lp.p.Wait()
}

// shortID is the 12 hex digits Docker shows for an ID or digest.
func shortID(d string) string {
	_, h, ok := strings.Cut(d, ":")
	if !ok {
		h = d
	}
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

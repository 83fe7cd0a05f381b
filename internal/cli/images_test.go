package cli

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vbauerster/mpb/v8"

	"github.com/tirith-project/tirith/internal/image/store"
)

func TestImagesHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 4_260_000: "4.26MB", 977_123: "977kB", 1_234_567_890: "1.23GB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestImagesCreatedColumn(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		0:                    "Less than a second ago",
		30 * time.Second:     "30 seconds ago",
		90 * time.Second:     "About a minute ago",
		10 * time.Minute:     "10 minutes ago",
		65 * time.Minute:     "About an hour ago",
		5 * time.Hour:        "5 hours ago",
		72 * time.Hour:       "3 days ago",
		21 * 24 * time.Hour:  "3 weeks ago",
		90 * 24 * time.Hour:  "3 months ago",
		800 * 24 * time.Hour: "2 years ago",
	} {
		if got := created(now.Add(-d), now); got != want {
			t.Errorf("created(now-%v) = %q, want %q", d, got, want)
		}
	}
	if got := created(time.Time{}, now); got != "N/A" {
		t.Errorf("created(zero) = %q, want N/A", got)
	}
}

func TestImagesRepoTags(t *testing.T) {
	for _, tc := range []struct {
		im   store.ImageSummary
		want [][2]string
	}{
		{store.ImageSummary{Names: []string{"docker.io/library/busybox:latest", "localhost:5000/a/b:v1"}},
			[][2]string{{"busybox", "latest"}, {"localhost:5000/a/b", "v1"}}},
		{store.ImageSummary{Digests: []string{"docker.io/library/alpine@sha256:" + strings.Repeat("a", 64)}},
			[][2]string{{"alpine", "<none>"}}},
		{store.ImageSummary{}, [][2]string{{"<none>", "<none>"}}},
	} {
		if got := repoTags(tc.im); !slices.Equal(got, tc.want) {
			t.Errorf("repoTags(%v) = %q, want %q", tc.im, got, tc.want)
		}
	}
}

// TestPullInsecureHint checks the decision that plain http needs
// --insecure-registry for a non-loopback registry, and that the error
// then says so; no registry is contacted.
func TestPullInsecureHint(t *testing.T) {
	mismatch := fmt.Errorf("pull reg.lan:5000/x:1: Get \"https://reg.lan:5000/v2/\": %w", http.ErrSchemeMismatch)
	for _, tc := range []struct {
		registry string
		insecure []string
		err      error
		hint     bool
	}{
		{"reg.lan:5000", nil, mismatch, true},
		{"10.0.0.1", nil, errors.New("Get \"https://10.0.0.1/v2/\": http: server gave HTTP response to HTTPS client"), true},
		{"reg.lan:5000", []string{"reg.lan:5000"}, mismatch, false},
		{"reg.lan:5000", []string{"reg.lan"}, mismatch, false},
		{"127.0.0.1:5000", nil, mismatch, false},
		{"localhost", nil, mismatch, false},
		{"reg.lan:5000", nil, errors.New("x509: certificate signed by unknown authority"), false},
	} {
		got := pullError(tc.err, tc.registry, tc.insecure)
		hinted := strings.Contains(got.Error(), "--insecure-registry "+tc.registry)
		if hinted != tc.hint {
			t.Errorf("pullError(%q, %q, %q) = %q; hint %v, want %v", tc.err, tc.registry, tc.insecure, got, hinted, tc.hint)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("pullError lost the cause %v", tc.err)
		}
	}
}

// TestPullProgressFinishAfterError: bars of layers that never finished
// (the pull failed) are aborted, so finish does not wait forever.
func TestPullProgressFinishAfterError(t *testing.T) {
	var buf strings.Builder
	lp := &layerProgress{w: &buf, p: mpb.New(mpb.WithOutput(&buf), mpb.WithAutoRefresh()), bars: map[string]*layerBar{}}
	fn := lp.fn()
	fn(store.Progress{Layer: "sha256:" + strings.Repeat("a", 64), Status: "exists", Done: 10, Total: 10})
	fn(store.Progress{Layer: "sha256:" + strings.Repeat("b", 64), Status: "downloading", Done: 5, Total: 100})
	done := make(chan struct{})
	go func() { lp.finish(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("finish hangs on an unfinished layer")
	}
	if !strings.Contains(buf.String(), "aaaaaaaaaaaa: Already exists") || !strings.Contains(buf.String(), "bbbbbbbbbbbb: Failed") {
		t.Errorf("bars drawn:\n%s", buf.String())
	}
}

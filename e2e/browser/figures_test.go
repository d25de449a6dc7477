package browser

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

// TestFigures writes the README's screenshots (docs/screenshots) of a
// sim run's pages and of `torture serve`'s index, at 1400 and 800 CSS
// pixels wide, into $BROWSER_FIGURES; skipped without it:
//
//	BROWSER_FIGURES=$PWD/docs/screenshots go test -run TestFigures -v ./e2e/browser
func TestFigures(t *testing.T) {
	out := os.Getenv("BROWSER_FIGURES")
	if out == "" {
		t.Skip("set BROWSER_FIGURES=DIR to write the screenshots")
	}
	b := needBrowser(t)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(out) {
		t.Fatalf("BROWSER_FIGURES=%s: want an absolute path", out)
	}
	// A relative store, so that the pages name runs/... rather than a
	// temporary directory.
	t.Chdir(t.TempDir())
	store := "runs"
	simRun(t, sim.DefaultOptions(), store, 1, "valid")
	simRun(t, sim.BugOptions(ares.BugShortQuorum), store, 2, "invalid")
	invalid := simRun(t, sim.BugOptions(ares.BugReuseTag), store, 1, "invalid")
	key := filepath.Join(invalid, "linearizability", "k0.html")
	if _, err := os.Stat(key); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(harness.StoreHandler(store))
	defer srv.Close()
	pages := []struct{ name, url string }{
		{"report", fileURL(filepath.Join(invalid, "report.html"))},
		{"k0", fileURL(key)},
		{"timeline", fileURL(filepath.Join(invalid, "timeline.html"))},
		{"serve-index", srv.URL + "/"},
	}
	for _, pg := range pages {
		for _, width := range []int{1400, 800} {
			shot(t, b, pg.url, width, 900, filepath.Join(out, fmt.Sprintf("%s-%d.png", pg.name, width)))
		}
	}
}

// shot writes a PNG of the viewport once url has loaded (as the page
// scrolled itself: k0.html at the failing operation), recompressed.
func shot(t *testing.T, b *Browser, url string, width, height int, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := b.NewPage(ctx, width, height)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	raw, err := p.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() > len(raw) {
		buf.Reset()
		buf.Write(raw)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d KB", path, buf.Len()/1024)
}

// TestMeasure loads the pages of the run directory $BROWSER_MEASURE
// (report.html, linearizability/k0.html, timeline.html) in fresh tabs,
// $BROWSER_MEASURE_TRIES times each (default 3), and logs their sizes and
// load times; skipped without it. Two times per load: the wall time from
// Page.navigate to the load event (what the harness sees), and the page's
// own Navigation Timing loadEventEnd (from navigation start), plus the
// wall time until two frames after load (what the page draws on load,
// such as k0.html's diagram, is drawn).
func TestMeasure(t *testing.T) {
	dir := os.Getenv("BROWSER_MEASURE")
	if dir == "" {
		t.Skip("set BROWSER_MEASURE=RUN_DIR to measure its pages")
	}
	tries := 3
	if s := os.Getenv("BROWSER_MEASURE_TRIES"); s != "" {
		fmt.Sscan(s, &tries)
	}
	b := needBrowser(t)
	for _, f := range []string{"report.html", "linearizability/k0.html", "timeline.html"} {
		path := filepath.Join(dir, f)
		st, err := os.Stat(path)
		if err != nil {
			t.Error(err)
			continue
		}
		for i := 0; i < tries; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			p, err := b.NewPage(ctx, 1400, 900)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			start := time.Now()
			load, err := p.Navigate(ctx, fileURL(path))
			drawn := time.Since(start)
			if err != nil {
				p.Close()
				cancel()
				t.Fatal(err)
			}
			var nt struct {
				DCL  float64 `json:"dcl"`
				Load float64 `json:"load"`
			}
			if err := p.Eval(ctx, `(() => { const n = performance.getEntriesByType('navigation')[0]; return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd} })()`, &nt); err != nil {
				t.Error(err)
			}
			t.Logf("%-24s %6.2f MB  try %d: navigate→load %4d ms, navigation timing DOMContentLoaded %4.0f ms load %4.0f ms, drawn %4d ms, errors %d",
				f, float64(st.Size())/1e6, i+1, load.Milliseconds(), nt.DCL, nt.Load, drawn.Milliseconds(), len(p.Errors()))
			for _, e := range p.Errors() {
				t.Errorf("%s: %s", f, e)
			}
			p.Close()
			cancel()
		}
	}
}

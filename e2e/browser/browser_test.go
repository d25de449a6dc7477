package browser

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

var (
	chromeOnce sync.Once
	chrome     *Browser
	chromeErr  error
	chromeGone bool // not installed (as opposed to failing to start)
)

func TestMain(m *testing.M) {
	code := m.Run()
	if chrome != nil {
		chrome.Close()
	}
	os.Exit(code)
}

// needBrowser returns the shared headless Chromium, started on first use.
// Without one the test skips, unless CI=true: CI must run these tests,
// not skip them.
func needBrowser(t *testing.T) *Browser {
	t.Helper()
	chromeOnce.Do(func() {
		bin, err := Find()
		if err != nil {
			chromeErr, chromeGone = err, true
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		chrome, chromeErr = Launch(ctx, bin)
	})
	if chromeErr != nil {
		if chromeGone && os.Getenv("CI") != "true" {
			t.Skipf("browser tests skipped: %v", chromeErr)
		}
		t.Fatalf("browser tests: %v (CI=%q)", chromeErr, os.Getenv("CI"))
	}
	return chrome
}

func fileURL(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		panic(err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
}

// simRun is one in-process run of the sim backend into store.
func simRun(t *testing.T, o harness.Options, store string, seed int64, want string) string {
	t.Helper()
	o.Store = store
	o.Seed = seed
	o.Trace = false
	out := harness.Run(context.Background(), o, harness.Env{Bubble: sim.TestBubble(t)})
	if out.Err != nil {
		t.Fatalf("sim run (bug %q, seed %d): %v", o.ServerBug, seed, out.Err)
	}
	if out.Verdict != want {
		t.Fatalf("sim run (bug %q, seed %d): verdict %s, want %s (%s)", o.ServerBug, seed, out.Verdict, want, out.Reason)
	}
	return out.RunDir
}

// validOptions and invalidOptions are the two runs the tests look at: a
// short one of correct servers under every fault, and one of servers
// that reuse tags (one key, so that linearizability/k0.html is the
// failing key's page).
func validOptions() harness.Options {
	o := sim.DefaultOptions()
	o.Ops = 400
	return o
}

func invalidOptions() harness.Options {
	o := sim.BugOptions(ares.BugReuseTag)
	o.Ops, o.Keys = 400, 1
	return o
}

// page loads url in a fresh tab and fails the test on any error the
// page reports (exceptions, console.error, failed loads, CSP).
func page(t *testing.T, b *Browser, url string) *Page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := b.NewPage(ctx, 1400, 900)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if _, err := p.Navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	// A little longer for errors of timers and late work.
	time.Sleep(100 * time.Millisecond)
	for _, e := range p.Errors() {
		// Chromium asks every HTTP origin for /favicon.ico, which the
		// store server does not have: not an error of the page.
		if strings.Contains(e, "/favicon.ico)") {
			continue
		}
		t.Errorf("%s: %s", url, e)
	}
	return p
}

func eval[T any](t *testing.T, p *Page, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var v T
	if err := p.Eval(ctx, expr, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// failureJS says where linearizability/<key>.html stands after load:
// the failing operation's index in what is drawn, how many operations
// are selected, whether the selected one is the failing one, and whether
// it is in view.
const failureJS = `(() => {
  const c = tortureCurrent
  const failing = c ? c.failing : -1
  const sel = document.querySelectorAll('#canvas .selected')
  const t = failing >= 0 ? document.querySelector('.target-rect[data-partition="0"][data-index="' + failing + '"]') : null
  let same = false, inView = false
  if (t && sel.length === 1) {
    const a = sel[0].getBoundingClientRect(), b = t.getBoundingClientRect()
    same = Math.abs(a.left - b.left) < 1 && Math.abs(a.top - b.top) < 1
    inView = b.right > 0 && b.bottom > 0 && b.left < innerWidth && b.top < innerHeight
  }
  const tip = document.querySelector('#canvas .tooltip')
  return {failing, selected: sel.length, same, inView, tooltip: !!tip && getComputedStyle(tip).opacity !== '0' && tip.textContent.length > 0}
})()`

type failureState struct {
	Failing  int  `json:"failing"`
	Selected int  `json:"selected"`
	Same     bool `json:"same"`
	InView   bool `json:"inView"`
	Tooltip  bool `json:"tooltip"`
}

// conflictJS: the minimal-conflict section, if any, and whether it comes
// before the anomalies table.
const conflictJS = `(() => {
  const c = document.querySelectorAll('.conflict')
  const hs = [...document.querySelectorAll('h2')]
  const anom = hs.find((h) => h.textContent.trim() === 'Anomalies')
  const first = c.length ? c[0] : null
  return {
    sections: c.length,
    title: first ? first.querySelector('h2').textContent : '',
    beforeAnomalies: !!(first && anom && (first.compareDocumentPosition(anom) & Node.DOCUMENT_POSITION_FOLLOWING)),
    drawn: first ? first.querySelectorAll('svg').length : 0,
  }
})()`

type conflictState struct {
	Sections        int    `json:"sections"`
	Title           string `json:"title"`
	BeforeAnomalies bool   `json:"beforeAnomalies"`
	Drawn           int    `json:"drawn"`
}

// TestRunPages makes a valid and an invalid sim run and loads their
// pages, straight from disk and through `torture serve`'s handler, in
// headless Chromium: none may report an error; the invalid report marks
// the violation (and shows the minimal conflict, when the report has
// that section); linearizability/k0.html opens on the failing operation,
// selected.
func TestRunPages(t *testing.T) {
	b := needBrowser(t)
	store := t.TempDir()
	valid := simRun(t, validOptions(), store, 1, "valid")
	invalid := simRun(t, invalidOptions(), store, 1, "invalid")

	for _, run := range []struct{ name, dir string }{{"valid", valid}, {"invalid", invalid}} {
		t.Run(run.name, func(t *testing.T) {
			for _, f := range []string{"report.html", "timeline.html"} {
				t.Run(f, func(t *testing.T) { page(t, b, fileURL(filepath.Join(run.dir, f))) })
			}
			keys, _ := filepath.Glob(filepath.Join(run.dir, "linearizability", "*.html"))
			if run.name == "valid" && len(keys) > 0 {
				t.Errorf("valid run with key pages: %v", keys)
			}
			for _, k := range keys {
				t.Run(filepath.Base(k), func(t *testing.T) { page(t, b, fileURL(k)) })
			}
		})
	}

	t.Run("valid/no-markers", func(t *testing.T) {
		p := page(t, b, fileURL(filepath.Join(valid, "report.html")))
		if n := eval[int](t, p, `document.querySelectorAll('g.violation').length`); n != 0 {
			t.Errorf("valid report: %d violation markers", n)
		}
		if n := eval[int](t, p, `document.querySelectorAll('.conflict').length`); n != 0 {
			t.Errorf("valid report: %d conflict sections", n)
		}
	})

	t.Run("invalid/violation", func(t *testing.T) {
		path := filepath.Join(invalid, "report.html")
		p := page(t, b, fileURL(path))
		if n := eval[int](t, p, `document.querySelectorAll('g.violation').length`); n == 0 {
			t.Error("invalid report: no violation marker (g.violation)")
		}
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// The minimal-conflict section is asserted when the report
		// generator writes one (checker/report_conflict.go).
		if !strings.Contains(string(src), `class="conflict"`) {
			t.Log("report.html has no minimal-conflict section: not asserted")
			return
		}
		c := eval[conflictState](t, p, conflictJS)
		if c.Sections == 0 || !strings.HasPrefix(c.Title, "Minimal conflict") || !c.BeforeAnomalies {
			t.Errorf("minimal-conflict section: %+v; want one titled \"Minimal conflict…\" above the anomalies", c)
		}
	})

	t.Run("invalid/k0-opens-at-failure", func(t *testing.T) {
		p := page(t, b, fileURL(filepath.Join(invalid, "linearizability", "k0.html")))
		s := eval[failureState](t, p, failureJS)
		if s.Failing < 0 || s.Selected != 1 || !s.Same || !s.InView || !s.Tooltip {
			t.Errorf("k0.html after load: %+v; want the failing operation selected, in view, with its tooltip", s)
		}
	})

	t.Run("serve", func(t *testing.T) {
		srv := httptest.NewServer(harness.StoreHandler(store))
		defer srv.Close()
		idx := page(t, b, srv.URL+"/")
		text := eval[string](t, idx, `document.body.innerText`)
		for _, dir := range []string{valid, invalid} {
			if !strings.Contains(text, filepath.Base(dir)) && !strings.Contains(eval[string](t, idx, `document.body.innerHTML`), filepath.Base(dir)) {
				t.Errorf("serve index does not list run %s", filepath.Base(dir))
			}
		}
		rel, err := filepath.Rel(store, invalid)
		if err != nil {
			t.Fatal(err)
		}
		base := srv.URL + "/" + filepath.ToSlash(rel) + "/"
		run := page(t, b, base)
		if v := eval[string](t, run, `document.body.innerText`); !strings.Contains(strings.ToLower(v), "invalid") {
			t.Errorf("serve run page of an invalid run does not say invalid")
		}
		// The run's own pages under the server's Content-Security-Policy.
		for _, f := range []string{"report.html", "timeline.html", "linearizability/k0.html"} {
			page(t, b, base+f)
		}
		k0 := page(t, b, base+"linearizability/k0.html")
		if s := eval[failureState](t, k0, failureJS); s.Selected != 1 || !s.Same {
			t.Errorf("k0.html through serve: %+v", s)
		}
	})
}

// TestServeRefusesSymlinkOut: a symlink in the store that leads out of
// it is refused with 403, whether it names a directory or a file (no
// browser needed).
func TestServeRefusesSymlinkOut(t *testing.T) {
	store, outside := t.TempDir(), t.TempDir()
	const secret = "not for the web"
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(store, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(store, "t", "r"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(store, "t", "r", "leak.txt")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(harness.StoreHandler(store))
	defer srv.Close()
	for _, p := range []string{"/evil/secret.txt", "/t/r/leak.txt"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s: %s, want 403 Forbidden", p, resp.Status)
		}
		if strings.Contains(string(body), secret) {
			t.Errorf("GET %s: served the file outside the store", p)
		}
	}
}

// TestCapturesErrors: what the page tests rely on, that an exception, a
// console.error and a resource that fails to load are all reported.
func TestCapturesErrors(t *testing.T) {
	b := needBrowser(t)
	dir := t.TempDir()
	const html = `<!doctype html><title>errors</title><img src="missing.png">
<script>console.error('boom from console'); setTimeout(() => { throw new Error('boom from a timer') }, 0)</script>`
	path := filepath.Join(dir, "errors.html")
	if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := b.NewPage(ctx, 800, 600)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Navigate(ctx, fileURL(path)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	all := strings.Join(p.Errors(), "\n")
	for _, want := range []string{"boom from console", "boom from a timer", "missing.png"} {
		if !strings.Contains(all, want) {
			t.Errorf("errors reported: %q; want one with %q", all, want)
		}
	}
}

package harness

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bigSeed is beyond 2^53: a float64 on the way would print ...992.
const bigSeed int64 = 9007199254740993

const serveAddr = "127.0.0.1:8080"

// fakeRun writes a run as the harness leaves one: test.json, and when
// verdict is set results.json with the stats the index shows.
func fakeRun(t *testing.T, store, test string, start time.Time, seed int64, verdict, reason string) string {
	t.Helper()
	dir, err := CreateRunDir(store, test, start, seed)
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions()
	o.Name, o.Seed, o.Nemesis = test, seed, "partition,kill"
	if err := WriteTestInfo(dir, &TestInfo{Options: o, Seed: seed, Start: start, RunDir: dir,
		Versions: map[string]string{"go": "go1.26"}, Args: []string{"torture", "run", "--name", test}}); err != nil {
		t.Fatal(err)
	}
	if verdict != "" {
		res := fmt.Sprintf(`{"verdict":%q,"reason":%q,"checkers":{"linearizability":{"verdict":%q}},
"stats":{"ops":{"all":{"invoked":120,"ok":100,"fail":5,"info":15},"read":{"invoked":60,"ok":50}},"duration_seconds":12.5,
"fault_sets":[{"faults":"none","seconds":10},{"faults":"partition","seconds":2.5}]},
"anomalies":[{"checker":"linearizability","key":"k0","description":"stale read of k0","visualization":"linearizability/k0.html"}]}`,
			verdict, reason, verdict)
		writeFile(t, filepath.Join(dir, ResultsFile), res)
		writeFile(t, filepath.Join(dir, ReportFile), "<html><script>1</script></html>")
	}
	writeFile(t, filepath.Join(dir, HistoryFile), `{"type":"invoke"}`+"\n")
	writeFile(t, filepath.Join(dir, NodesDir, "n1", "server.log"), "node one log\n")
	return dir
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveStore is a store of four runs of two tests (newest first: c, b,
// a, u; u not checked) and a secret file outside it.
type serveStore struct {
	store, secret string
	a, b, c, u    string // run directories relative to the store
	srv           *StoreServer
}

func newServeStore(t *testing.T, pageSize int) *serveStore {
	t.Helper()
	store := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.txt")
	writeFile(t, secret, "TOP-SECRET-CONTENT\n")
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	rel := func(dir string) string { r, _ := filepath.Rel(store, dir); return filepath.ToSlash(r) }
	ss := &serveStore{store: store, secret: secret}
	ss.u = rel(fakeRun(t, store, "abd3-register", t0.Add(-time.Hour), 4, "", ""))
	ss.a = rel(fakeRun(t, store, "abd5-register", t0, 1, "valid", ""))
	ss.b = rel(fakeRun(t, store, "abd3-register", t0.Add(time.Hour), bigSeed, "invalid", "stale read of k0"))
	ss.c = rel(fakeRun(t, store, "abd5-register", t0.Add(2*time.Hour), 3, "unknown", "timed out"))
	srv, err := NewStoreServer(ServeConfig{Store: store, Addr: serveAddr, PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ss.srv = srv
	return ss
}

func (ss *serveStore) get(t *testing.T, target string) *httptest.ResponseRecorder {
	t.Helper()
	return ss.getHost(t, serveAddr, target)
}

func (ss *serveStore) getHost(t *testing.T, host, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Host = host
	rec := httptest.NewRecorder()
	ss.srv.ServeHTTP(rec, req)
	return rec
}

func (ss *serveStore) page(t *testing.T, target string) string {
	t.Helper()
	rec := ss.get(t, target)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// inOrder fails unless every want occurs in s, in that order.
func inOrder(t *testing.T, s string, want ...string) {
	t.Helper()
	at := 0
	for _, w := range want {
		i := strings.Index(s[at:], w)
		if i < 0 {
			t.Fatalf("%q missing, or out of order (want %q):\n%s", w, want, s)
		}
		at += i + len(w)
	}
}

func TestServeIndexNewestFirst(t *testing.T) {
	ss := newServeStore(t, 50)
	idx := ss.page(t, "/")
	inOrder(t, idx, ss.c+"/", ss.b+"/", ss.a+"/", ss.u+"/")
	for _, want := range []string{
		"2026-03-01 12:00:00",         // start of c
		"100/120",                     // ops ok/invoked
		"12.5s",                       // duration
		"partition,kill",              // faults asked for
		"active: partition 2.5s",      // faults that happened, on hover
		`title="stale read of k0"`,    // reason on hover
		fmt.Sprint(bigSeed),           // seed, not rounded
		"not checked",                 // u
		ss.b + "/report.html",         // report link
		`href="/?verdict=invalid"`,    // filter links
		`href="/?test=abd5-register"`, // a test's runs
		`href="/latest/"`,             // store/latest
		"4 runs in the store",
	} {
		if !strings.Contains(idx, want) {
			t.Errorf("index lacks %q", want)
		}
	}
	runs, err := ListRuns(ss.store)
	if err != nil || len(runs) != 4 || runs[0].Dir != ss.c || runs[1].Seed != bigSeed {
		t.Fatalf("ListRuns: %+v, %v", runs, err)
	}
}

func TestServeIndexFilter(t *testing.T) {
	ss := newServeStore(t, 50)
	for _, tc := range []struct {
		query string
		in    []string
		out   []string
	}{
		{"?verdict=invalid", []string{ss.b}, []string{ss.a, ss.c, ss.u}},
		{"?verdict=valid", []string{ss.a}, []string{ss.b, ss.c, ss.u}},
		{"?verdict=unchecked", []string{ss.u}, []string{ss.a, ss.b, ss.c}},
		{"?test=abd5-register", []string{ss.c, ss.a}, []string{ss.b, ss.u}},
		{"?test=abd5-register&verdict=unknown", []string{ss.c}, []string{ss.a, ss.b, ss.u}},
	} {
		body := ss.page(t, "/"+tc.query)
		for _, d := range tc.in {
			if !strings.Contains(body, d+"/") {
				t.Errorf("%s: %s missing", tc.query, d)
			}
		}
		for _, d := range tc.out {
			if strings.Contains(body, d+"/") {
				t.Errorf("%s: %s listed", tc.query, d)
			}
		}
	}
	if rec := ss.get(t, "/?verdict=bogus"); rec.Code != http.StatusBadRequest {
		t.Errorf("?verdict=bogus: %d, want 400", rec.Code)
	}
	// A test's folder is its runs' index.
	if rec := ss.get(t, "/abd5-register/"); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/?test=abd5-register" {
		t.Errorf("/abd5-register/: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestServeIndexPagination(t *testing.T) {
	ss := newServeStore(t, 2)
	p1 := ss.page(t, "/")
	inOrder(t, p1, ss.c+"/", ss.b+"/", "page 1 of 2", `href="/?page=2"`)
	if strings.Contains(p1, ss.a+"/") || strings.Contains(p1, ss.u+"/") {
		t.Error("page 1 lists runs of page 2")
	}
	p2 := ss.page(t, "/?page=2")
	inOrder(t, p2, ss.a+"/", ss.u+"/", "Runs 3–4 of 4, page 2 of 2", `href="/"`)
	if strings.Contains(p2, ss.c+"/") {
		t.Error("page 2 lists runs of page 1")
	}
	// Past the end: the last page.
	if p := ss.page(t, "/?page=99"); !strings.Contains(p, "page 2 of 2") {
		t.Error("page 99 is not the last page")
	}
	// Pages keep the filter.
	if p := ss.page(t, "/?test=abd3-register&page=1"); strings.Contains(p, "page=2") {
		t.Error("a one-page filter links a page 2")
	}
}

func TestServeRunPage(t *testing.T) {
	ss := newServeStore(t, 50)
	body := ss.page(t, "/"+ss.b+"/")
	abs, _ := filepath.Abs(filepath.Join(ss.store, ss.b))
	for _, want := range []string{
		`<h2 class="invalid">invalid</h2>`,
		"stale read of k0",
		"<code>" + fmt.Sprint(bigSeed) + "</code>",
		"<tr><th>nemesis</th><td><code>partition,kill</code></td></tr>",
		"<tr><th>seed</th><td><code>" + fmt.Sprint(bigSeed) + "</code></td></tr>", // options table, exact
		"torture rerun " + abs,
		"torture run --name abd3-register",
		`href="/` + ss.b + `/?download=zip"`,
		`href="/` + ss.b + `/history.jsonl"`,
		`href="/` + ss.b + `/results.json"`,
		`href="/` + ss.b + `/test.json"`,
		`href="/` + ss.b + `/report.html"`,
		`href="/` + ss.b + `/nodes/n1/server.log"`,
		`href="/` + ss.b + `/linearizability/k0.html"`,
		"<td>all</td><td class=\"num\">120</td><td class=\"num\">100</td>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	// Unchecked runs have a page too.
	if body := ss.page(t, "/"+ss.u+"/"); !strings.Contains(body, "not checked") {
		t.Error("unchecked run page does not say so")
	}
	// Files are served; a run folder without its slash redirects.
	if got := ss.page(t, "/"+ss.b+"/nodes/n1/server.log"); got != "node one log\n" {
		t.Errorf("server.log: %q", got)
	}
	if rec := ss.get(t, "/"+ss.b); rec.Code != http.StatusFound || rec.Header().Get("Location") != "/"+ss.b+"/" {
		t.Errorf("no-slash run: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	// latest points at the newest run created (c).
	if rec := ss.get(t, "/latest/?download=zip"); rec.Header().Get("Location") != "/"+ss.c+"/?download=zip" {
		t.Errorf("/latest/: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if !strings.Contains(ss.page(t, "/latest/test.json"), `"seed": 3`) {
		t.Error("latest/test.json not served")
	}
}

func TestServeZip(t *testing.T) {
	ss := newServeStore(t, 50)
	dir := filepath.Join(ss.store, ss.b)
	// Neither a symlink out of the run nor one within it is zipped.
	if err := os.Symlink(ss.secret, filepath.Join(dir, "secret.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(HistoryFile, filepath.Join(dir, "history-again.jsonl")); err != nil {
		t.Fatal(err)
	}
	rec := ss.get(t, "/"+ss.b+"/?download=zip")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/zip" {
		t.Fatalf("zip: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, ".zip") {
		t.Errorf("Content-Disposition %q", cd)
	}
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		got[f.Name] = string(b)
	}
	for _, name := range []string{TestFile, ResultsFile, HistoryFile, ReportFile, "nodes/n1/server.log"} {
		if _, ok := got[ss.b+"/"+name]; !ok {
			t.Errorf("zip lacks %s (has %v)", name, keys(got))
		}
	}
	if got[ss.b+"/nodes/n1/server.log"] != "node one log\n" {
		t.Errorf("server.log in zip: %q", got[ss.b+"/nodes/n1/server.log"])
	}
	if len(got) != 5 {
		t.Errorf("zip has %d files, want 5: %v", len(got), keys(got))
	}
	for name, content := range got {
		if strings.Contains(content, "TOP-SECRET") {
			t.Errorf("zip holds the secret outside the store as %s", name)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestServeConfined(t *testing.T) {
	ss := newServeStore(t, 50)
	// A symlink in a run to a file outside the store, a test folder that
	// is a symlink to a folder outside, and one to /etc/passwd.
	if err := os.Symlink(ss.secret, filepath.Join(ss.store, ss.b, "secret.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(ss.secret), filepath.Join(ss.store, "evil")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(ss.store, ss.b, "passwd")); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"/" + ss.b + "/secret.txt",
		"/" + ss.b + "/passwd",
		"/evil/secret.txt",
		"/evil/",
		"/../" + filepath.Base(filepath.Dir(ss.secret)) + "/secret.txt",
		"/" + ss.b + "/../../../etc/passwd",
		"/abd3-register/%2e%2e/%2e%2e/etc/passwd",
		"/..",
	} {
		rec := ss.get(t, target)
		if rec.Code != http.StatusForbidden && rec.Code != http.StatusNotFound && rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400, 403 or 404", target, rec.Code)
		}
		if b := rec.Body.String(); strings.Contains(b, "TOP-SECRET") || strings.Contains(b, "root:") {
			t.Errorf("GET %s served a file outside the store", target)
		}
	}
	// Nor do they show in the index or a run page.
	if idx := ss.page(t, "/"); strings.Contains(idx, "evil") {
		t.Error("index lists a test folder outside the store")
	}
	if run := ss.page(t, "/"+ss.b+"/"); strings.Contains(run, "secret.txt") || strings.Contains(run, "passwd") {
		t.Error("run page links a symlink out of the store")
	}
}

func TestServeHost(t *testing.T) {
	ss := newServeStore(t, 50)
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"localhost:8080", true},
		{"[::1]:8080", true},
		{"localhost:9000", true}, // an ssh tunnel's port
		{"LOCALHOST", true},
		{"rebind.attacker.example:8080", false},
		{"10.0.0.5:8080", false}, // bound to loopback: not reachable as that
		{"127.0.0.1.nip.io:8080", false},
		{"", false},
	} {
		rec := ss.getHost(t, tc.host, "/")
		if ok := rec.Code == http.StatusOK; ok != tc.ok {
			t.Errorf("Host %q: %d, want ok=%v", tc.host, rec.Code, tc.ok)
		}
		if !tc.ok && rec.Code != http.StatusMisdirectedRequest {
			t.Errorf("Host %q: %d, want 421", tc.host, rec.Code)
		}
	}
	// Bound to every address: IP literals at the bound port, and names
	// given, but no other name.
	p := newHostPolicy("[::]:8080", []string{"runs.example.org", "proxy.example.org:443"})
	for h, want := range map[string]bool{
		"10.0.0.5:8080":          true,
		"[fe80::1]:8080":         true,
		"10.0.0.5:8081":          false,
		"runs.example.org":       true,
		"runs.example.org:1234":  true,
		"proxy.example.org:443":  true,
		"proxy.example.org:8080": false,
		"attacker.example:8080":  false,
	} {
		if got := p.ok(h); got != want {
			t.Errorf("bound to [::]:8080: Host %q ok=%v, want %v", h, got, want)
		}
	}
	// StoreHandler knows no address: loopback names only.
	h := StoreHandler(ss.store)
	for host, want := range map[string]int{"127.0.0.1:1234": 200, "evil.example:1234": 421} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("StoreHandler, Host %q: %d, want %d", host, rec.Code, want)
		}
	}
	if !IsLoopbackAddr("127.0.0.1:80") || !IsLoopbackAddr("[::1]:80") || IsLoopbackAddr("[::]:80") || IsLoopbackAddr("0.0.0.0:80") {
		t.Error("IsLoopbackAddr")
	}
}

func TestServeHeaders(t *testing.T) {
	ss := newServeStore(t, 50)
	styleRE := regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	for _, tc := range []struct {
		target, host string
		inline       bool // CSP allows inline script (files of runs that need it)
	}{
		{"/", serveAddr, false},
		{"/" + ss.b + "/", serveAddr, false},
		{"/" + ss.b + "/report.html", serveAddr, true},
		{"/" + ss.b + "/history.jsonl", serveAddr, false},
		{"/" + ss.b + "/?download=zip", serveAddr, false},
		{"/nothing-here", serveAddr, false},
		{"/", "evil.example", false},
	} {
		rec := ss.getHost(t, tc.host, tc.target)
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s (%d): X-Content-Type-Options %q", tc.target, rec.Code, got)
		}
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: CSP %q", tc.target, csp)
		}
		if inline := strings.Contains(csp, "script-src 'unsafe-inline'"); inline != tc.inline {
			t.Errorf("%s: CSP %q, want inline scripts %v", tc.target, csp, tc.inline)
		}
		// The server's pages: their one style is allowed by its hash.
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") && !tc.inline && rec.Code == http.StatusOK {
			m := styleRE.FindStringSubmatch(rec.Body.String())
			if m == nil {
				t.Fatalf("%s: no <style>", tc.target)
			}
			sum := sha256.Sum256([]byte(m[1]))
			if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks the style's hash %s", tc.target, csp, want)
			}
			if strings.Contains(csp, "unsafe-inline") {
				t.Errorf("%s: CSP of a server page allows inline code: %q", tc.target, csp)
			}
		}
	}
	if ct := ss.get(t, "/"+ss.b+"/history.jsonl").Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("history.jsonl served as %q", ct)
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Host = serveAddr
	rec := httptest.NewRecorder()
	ss.srv.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

// TestServeFavicon: the icon every browser asks for is an empty answer,
// not a 404 in the console; a store that has one serves it.
func TestServeFavicon(t *testing.T) {
	ss := newServeStore(t, 1)
	if rec := ss.get(t, "/favicon.ico"); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Errorf("GET /favicon.ico: %d %q, want 204 and no body", rec.Code, rec.Body.String())
	}
	if err := os.WriteFile(filepath.Join(ss.store, "favicon.ico"), []byte("icon"), 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := ss.get(t, "/favicon.ico"); rec.Code != http.StatusOK || rec.Body.String() != "icon" {
		t.Errorf("GET /favicon.ico with one in the store: %d %q", rec.Code, rec.Body.String())
	}
}

package harness

import (
	"encoding/json"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ares-torture/torture/checker"
)

// RunEntry is one run of the store as the index lists it.
type RunEntry struct {
	Test    string
	Dir     string // relative to the store, slash-separated
	Verdict string // from results.json; "" when not checked (yet)
	Reason  string
	Seed    int64
	Report  bool
	// Start is when the run started (test.json; else its folder's name).
	Start time.Time
	// Duration, OK and Invoked come from results.json's stats; Checked
	// says there were any.
	Duration    time.Duration
	OK, Invoked int
	Checked     bool
	// Faults is the nemesis option (what was asked for); FaultsSeen the
	// fault sets active during the run (what happened), from results.json.
	Faults     string
	FaultsSeen string
}

// verdictFilters are the values of the index's ?verdict= filter, in the
// order the index offers them.
var verdictFilters = []string{"invalid", "unknown", "valid", "unchecked"}

// filterName is the filter value a run matches.
func (e RunEntry) filterName() string {
	if e.Verdict == "" {
		return "unchecked"
	}
	return e.Verdict
}

// ListRuns lists every run of the store (a directory with a test.json two
// levels down), newest first across all tests. Like the server, it reads
// nothing outside the store.
func ListRuns(store string) ([]RunEntry, error) {
	s, err := NewStoreServer(ServeConfig{Store: store})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return s.runs()
}

// cachedRun is a run's entry with the file versions it was read from:
// results.json can be megabytes, and the index is read far more often
// than a run changes.
type cachedRun struct {
	test, results fileStamp
	entry         RunEntry
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func (s *StoreServer) stamp(name string) fileStamp {
	fi, err := s.root.Stat(name)
	if err != nil {
		return fileStamp{size: -1}
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}
}

// runs lists the store's runs, newest first.
func (s *StoreServer) runs() ([]RunEntry, error) {
	fsys := s.root.FS()
	tests, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []RunEntry
	seen := map[string]bool{}
	for _, t := range tests {
		// Real folders only: latest is a symlink to a run, not a test,
		// and dot-names are temporary.
		if !t.IsDir() || strings.HasPrefix(t.Name(), ".") {
			continue
		}
		runs, err := fs.ReadDir(fsys, t.Name())
		if err != nil {
			continue
		}
		for _, r := range runs {
			if !r.IsDir() || strings.HasPrefix(r.Name(), ".") {
				continue
			}
			rel := t.Name() + "/" + r.Name()
			e, ok := s.entry(rel)
			if !ok {
				continue
			}
			seen[rel] = true
			out = append(out, e)
		}
	}
	s.mu.Lock()
	for k := range s.cache {
		if !seen[k] {
			delete(s.cache, k) // deleted runs
		}
	}
	s.mu.Unlock()
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.After(out[j].Start)
		}
		return out[i].Dir > out[j].Dir
	})
	return out, nil
}

// entry is the index entry of run directory rel; false when rel is no
// run (no test.json).
func (s *StoreServer) entry(rel string) (RunEntry, bool) {
	ts := s.stamp(rel + "/" + TestFile)
	if ts.size < 0 {
		return RunEntry{}, false
	}
	rs := s.stamp(rel + "/" + ResultsFile)
	s.mu.Lock()
	c, ok := s.cache[rel]
	s.mu.Unlock()
	if ok && c.test == ts && c.results == rs {
		// report.html is written with results.json; no need to recheck.
		return c.entry, true
	}
	e := s.readEntry(rel)
	s.mu.Lock()
	s.cache[rel] = cachedRun{test: ts, results: rs, entry: e}
	s.mu.Unlock()
	return e, true
}

func (s *StoreServer) readEntry(rel string) RunEntry {
	test, run := path.Split(rel)
	e := RunEntry{Test: strings.TrimSuffix(test, "/"), Dir: rel}
	if ti, err := s.readTestInfo(rel); err == nil {
		e.Seed, e.Start, e.Faults = ti.Seed, ti.Start, ti.Options.Nemesis
		if e.Seed == 0 {
			e.Seed = ti.Options.Seed
		}
	}
	// A test.json too broken to parse still has its run's folder name:
	// <start>-<seed>[.N].
	if stamp, seed, ok := strings.Cut(run, "-"); ok {
		if e.Start.IsZero() {
			if t, err := time.Parse(runStamp, stamp); err == nil {
				e.Start = t
			}
		}
		if e.Seed == 0 {
			seed, _, _ = strings.Cut(seed, ".")
			e.Seed, _ = strconv.ParseInt(seed, 10, 64)
		}
	}
	if e.Start.IsZero() {
		if fi, err := s.root.Stat(rel); err == nil {
			e.Start = fi.ModTime()
		}
	}
	if rs, err := s.readSummary(rel); err == nil {
		e.Verdict, e.Reason = rs.Verdict, rs.Reason
		if all, ok := rs.Stats.Ops["all"]; ok {
			e.OK, e.Invoked, e.Checked = all.OK, all.Invoked, true
		}
		e.Duration = time.Duration(rs.Stats.DurationSeconds * float64(time.Second))
		var seen []string
		for _, fs := range rs.Stats.FaultSets {
			if fs.Faults != "none" && fs.Faults != "" {
				seen = append(seen, fs.Faults+" "+fmtSeconds(fs.Seconds))
			}
		}
		e.FaultsSeen = strings.Join(seen, ", ")
	}
	if fi, err := s.root.Stat(rel + "/" + ReportFile); err == nil && fi.Mode().IsRegular() {
		e.Report = true
	}
	return e
}

// readTestInfo is ReadTestInfo through the store's root, so that a
// test.json symlinked out of the store is not read.
func (s *StoreServer) readTestInfo(rel string) (*TestInfo, error) {
	b, err := s.root.ReadFile(rel + "/" + TestFile)
	if err != nil {
		return nil, err
	}
	ti := TestInfo{Options: DefaultOptions()}
	if err := json.Unmarshal(b, &ti); err != nil {
		return nil, err
	}
	return &ti, nil
}

// resultSummary is the part of results.json the index shows.
type resultSummary struct {
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Stats   struct {
		Ops             map[string]checker.Counts `json:"ops"`
		DurationSeconds float64                   `json:"duration_seconds"`
		FaultSets       []checker.FaultSet        `json:"fault_sets"`
	} `json:"stats"`
}

func (s *StoreServer) readSummary(rel string) (*resultSummary, error) {
	b, err := s.root.ReadFile(rel + "/" + ResultsFile)
	if err != nil {
		return nil, err
	}
	var rs resultSummary
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, err
	}
	return &rs, nil
}

// indexPage is what the index template shows.
type indexPage struct {
	Runs        []RunEntry
	Total       int // runs in the store
	Matching    int // runs the filters let through
	Verdict     string
	Test        string
	Filters     []filterLink
	Page, Pages int
	First, Last int // 1-based numbers of the first and last run shown
	Prev, Next  string
	Latest      bool
}

type filterLink struct {
	Name   string
	Href   string
	Count  int
	Active bool
}

func (s *StoreServer) serveIndex(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	verdict, test := q.Get("verdict"), q.Get("test")
	if verdict != "" && verdict != "all" {
		known := false
		for _, v := range verdictFilters {
			known = known || v == verdict
		}
		if !known {
			http.Error(w, "unknown verdict filter "+strconv.Quote(verdict)+" (valid, invalid, unknown, unchecked)", http.StatusBadRequest)
			return
		}
	} else {
		verdict = ""
	}
	all, err := s.runs()
	if err != nil {
		http.Error(w, "read run store: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pg := indexPage{Total: len(all), Verdict: verdict, Test: test}
	counts := map[string]int{}
	var ofTest []RunEntry
	for _, e := range all {
		if test == "" || e.Test == test {
			ofTest = append(ofTest, e)
			counts[e.filterName()]++
		}
	}
	link := func(verdict string, page int) string {
		v := url.Values{}
		if verdict != "" {
			v.Set("verdict", verdict)
		}
		if test != "" {
			v.Set("test", test)
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		if len(v) == 0 {
			return "/"
		}
		return "/?" + v.Encode()
	}
	pg.Filters = append(pg.Filters, filterLink{Name: "all", Href: link("", 1), Count: len(ofTest), Active: verdict == ""})
	for _, v := range verdictFilters {
		pg.Filters = append(pg.Filters, filterLink{Name: v, Href: link(v, 1), Count: counts[v], Active: verdict == v})
	}
	var match []RunEntry
	for _, e := range ofTest {
		if verdict == "" || e.filterName() == verdict {
			match = append(match, e)
		}
	}
	pg.Matching = len(match)
	size := s.cfg.PageSize
	pg.Pages = max(1, (len(match)+size-1)/size)
	// A page past the end shows the last: a bookmark of page 7 stays
	// useful after runs were deleted.
	pg.Page, _ = strconv.Atoi(q.Get("page"))
	pg.Page = min(max(pg.Page, 1), pg.Pages)
	lo := (pg.Page - 1) * size
	pg.Runs = match[lo:min(lo+size, len(match))]
	pg.First, pg.Last = lo+1, lo+len(pg.Runs)
	if pg.Page > 1 {
		pg.Prev = link(verdict, pg.Page-1)
	}
	if pg.Page < pg.Pages {
		pg.Next = link(verdict, pg.Page+1)
	}
	if fi, err := s.root.Stat(LatestLink); err == nil && fi.IsDir() {
		pg.Latest = true
	}
	writePage(w, r, indexTmpl, pg)
}

func writePage(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache") // runs come and change
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(b.String()))
}

func fmtSeconds(sec float64) string {
	return fmtDuration(time.Duration(sec * float64(time.Second)))
}

func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return ""
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func verdictLabel(v string) string {
	if v == "" {
		return "not checked"
	}
	return v
}

func verdictClass(v string) string {
	switch v {
	case "valid", "invalid", "unknown":
		return v
	}
	return "unchecked"
}

// pageCSS is the one style of the server's pages; the CSP allows it by
// its hash (so it must appear in the templates byte for byte, as
// pageTemplate puts it there).
const pageCSS = `
body{font-family:system-ui,sans-serif;margin:2em;color:#1f2328}
a{color:#0969da}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.num{text-align:right;font-variant-numeric:tabular-nums}
.valid{color:#1a7f37}.invalid{color:#cf222e;font-weight:bold}.unknown{color:#9a6700}.unchecked{color:#57606a}
.reason{color:#444;max-width:60em;white-space:pre-wrap}
.filters a{margin-right:1em}.filters .active{font-weight:bold;text-decoration:none;color:#1f2328}
.muted{color:#57606a}
code,pre{font-family:ui-monospace,monospace;background:#f6f8fa;padding:.1em .3em}
pre{padding:.6em;overflow-x:auto}
.nav a{margin-right:1em}
`

var pageFuncs = template.FuncMap{
	"href":         hrefPath,
	"dur":          fmtDuration,
	"time":         fmtTime,
	"verdict":      verdictLabel,
	"verdictClass": verdictClass,
}

// pageTemplate parses a page, putting pageCSS in place of its /*CSS*/
// (template text, not data: html/template would escape data in a style).
func pageTemplate(name, text string) *template.Template {
	return template.Must(template.New(name).Funcs(pageFuncs).Parse(strings.Replace(text, "/*CSS*/", pageCSS, 1)))
}

var indexTmpl = pageTemplate("index", `<!doctype html>
<html><head><meta charset="utf-8"><title>ARES torture runs</title>
<style>/*CSS*/</style></head><body>
<h1>ARES torture runs</h1>
<p class="nav">{{.Total}} runs in the store.{{if .Test}} Test <b>{{.Test}}</b> (<a href="/">all tests</a>).{{end}}
{{if .Latest}}<a href="/latest/">latest run</a>{{end}}</p>
<p class="filters">{{range .Filters}}<a href="{{.Href}}"{{if .Active}} class="active"{{end}}>{{.Name}} ({{.Count}})</a>{{end}}</p>
{{if .Runs}}
<table><tr><th>start (UTC)</th><th>test</th><th>duration</th><th>ops ok/invoked</th><th>faults</th><th>verdict</th><th>seed</th><th></th></tr>
{{range .Runs}}<tr>
<td><a href="{{href .Dir}}/">{{time .Start}}</a></td>
<td><a href="/?test={{.Test}}">{{.Test}}</a></td>
<td class="num">{{dur .Duration}}</td>
<td class="num">{{if .Checked}}{{.OK}}/{{.Invoked}}{{end}}</td>
<td{{if .FaultsSeen}} title="active: {{.FaultsSeen}}"{{end}}>{{.Faults}}</td>
<td class="{{verdictClass .Verdict}}"{{if .Reason}} title="{{.Reason}}"{{end}}>{{verdict .Verdict}}</td>
<td class="num">{{.Seed}}</td>
<td>{{if .Report}}<a href="{{href .Dir}}/report.html">report</a>{{end}}</td>
</tr>
{{end}}</table>
<p class="nav">Runs {{.First}}–{{.Last}} of {{.Matching}}, page {{.Page}} of {{.Pages}}.
{{if .Prev}}<a href="{{.Prev}}">← newer</a>{{end}}{{if .Next}}<a href="{{.Next}}">older →</a>{{end}}</p>
{{else}}<p class="muted">No runs{{if or .Verdict .Test}} match{{end}}.</p>{{end}}
</body></html>
`)

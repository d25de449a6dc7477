package harness

import (
	"encoding/json"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// RunEntry is one run of the store as the index lists it.
type RunEntry struct {
	Test    string
	Dir     string // relative to the store, slash-separated
	Verdict string // from results.json; "" when not checked (yet)
	Reason  string
	Seed    int64
	Report  bool
}

// ListRuns lists every run of the store (a directory with a test.json two
// levels down), newest first within each test, tests by name.
func ListRuns(store string) ([]RunEntry, error) {
	tests, err := os.ReadDir(store)
	if err != nil {
		return nil, err
	}
	var out []RunEntry
	for _, t := range tests {
		if !t.IsDir() || strings.HasPrefix(t.Name(), ".") {
			continue // latest is a symlink, not a test
		}
		runs, err := os.ReadDir(filepath.Join(store, t.Name()))
		if err != nil {
			continue
		}
		var entries []RunEntry
		for _, r := range runs {
			dir := filepath.Join(store, t.Name(), r.Name())
			if _, err := os.Stat(filepath.Join(dir, TestFile)); err != nil {
				continue
			}
			e := RunEntry{Test: t.Name(), Dir: t.Name() + "/" + r.Name()}
			if ti, err := ReadTestInfo(dir); err == nil {
				e.Seed = ti.Seed
			}
			if b, err := os.ReadFile(filepath.Join(dir, ResultsFile)); err == nil {
				var res struct {
					Verdict string `json:"verdict"`
					Reason  string `json:"reason"`
				}
				if json.Unmarshal(b, &res) == nil {
					e.Verdict, e.Reason = res.Verdict, res.Reason
				}
			}
			if _, err := os.Stat(filepath.Join(dir, ReportFile)); err == nil {
				e.Report = true
			}
			entries = append(entries, e)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Dir > entries[j].Dir })
		out = append(out, entries...)
	}
	return out, nil
}

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>ARES torture runs</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em}
table{border-collapse:collapse}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
.valid{color:#1a7f37}.invalid{color:#cf222e;font-weight:bold}.unknown{color:#9a6700}
.reason{color:#555;font-size:.9em;max-width:50em}
</style></head><body>
<h1>ARES torture runs</h1>
<p>{{len .}} runs. <a href="latest/">latest</a></p>
<table><tr><th>test</th><th>run</th><th>seed</th><th>verdict</th><th>reason</th><th></th></tr>
{{range .}}<tr><td>{{.Test}}</td><td><a href="{{.Dir}}/">{{.Dir}}</a></td><td>{{.Seed}}</td>
<td class="{{.Verdict}}">{{if .Verdict}}{{.Verdict}}{{else}}not checked{{end}}</td>
<td class="reason">{{.Reason}}</td>
<td>{{if .Report}}<a href="{{.Dir}}/report.html">report</a>{{end}}</td></tr>
{{end}}</table></body></html>
`))

// StoreHandler serves the run store: an index of runs with their verdicts
// at /, and every file of the store below it.
func StoreHandler(store string) http.Handler {
	files := http.FileServer(http.Dir(store))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "/index.html" {
			files.ServeHTTP(w, r)
			return
		}
		runs, err := ListRuns(store)
		if err != nil {
			http.Error(w, "read run store: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := indexTmpl.Execute(w, runs); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

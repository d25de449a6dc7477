package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ares-torture/torture/checker"
)

// runPage is what the run template shows.
type runPage struct {
	Dir, Test, Run string
	Entry          RunEntry
	Results        *runResults
	ResultsErr     string // results.json missing or unreadable
	TestErr        string // test.json unreadable
	Options        []keyValue
	Versions       []keyValue
	Args           string // the command line that started the run
	Counts         []countRow
	Anomalies      []checker.Anomaly
	MoreAnomalies  int
	Main           []fileRow // the files a reader opens first
	Files          []fileRow // every regular file of the run
	Rerun          string
}

// runResults is the part of results.json a run page shows (the report
// shows the rest).
type runResults struct {
	Verdict  string                           `json:"verdict"`
	Reason   string                           `json:"reason"`
	Checkers map[string]checker.CheckerResult `json:"checkers"`
	Stats    struct {
		Ops             map[string]checker.Counts `json:"ops"`
		DurationSeconds float64                   `json:"duration_seconds"`
		FaultSets       []checker.FaultSet        `json:"fault_sets"`
	} `json:"stats"`
	Anomalies []checker.Anomaly `json:"anomalies"`
	Notes     []string          `json:"notes"`
}

type keyValue struct{ Key, Value string }

type countRow struct {
	Type string
	checker.Counts
}

type fileRow struct {
	Path, Href, Size string
}

// maxAnomalies bounds the anomalies a run page lists; the report has all.
const maxAnomalies = 20

func (s *StoreServer) serveRun(w http.ResponseWriter, r *http.Request, rel string) {
	test, run := path.Split(rel)
	pg := runPage{Dir: rel, Test: strings.TrimSuffix(test, "/"), Run: run, Entry: s.readEntry(rel)}
	pg.Rerun = "torture rerun " + shellQuote(s.abs+"/"+rel)

	if b, err := s.root.ReadFile(rel + "/" + TestFile); err != nil {
		pg.TestErr = "no " + TestFile + ": not a run, or one that failed to start"
	} else if err := s.fillTest(&pg, b); err != nil {
		pg.TestErr = TestFile + ": " + err.Error()
	}

	if b, err := s.root.ReadFile(rel + "/" + ResultsFile); err != nil {
		pg.ResultsErr = "not checked (no " + ResultsFile + ")"
	} else {
		var res runResults
		if err := json.Unmarshal(b, &res); err != nil {
			pg.ResultsErr = ResultsFile + ": " + err.Error()
		} else {
			pg.Results = &res
			for t, c := range res.Stats.Ops {
				pg.Counts = append(pg.Counts, countRow{Type: t, Counts: c})
			}
			// Operation types by name, the total last.
			sort.Slice(pg.Counts, func(i, j int) bool {
				a, b := pg.Counts[i].Type, pg.Counts[j].Type
				if (a == "all") != (b == "all") {
					return b == "all"
				}
				return a < b
			})
			pg.Anomalies = res.Anomalies
			if len(pg.Anomalies) > maxAnomalies {
				pg.MoreAnomalies = len(pg.Anomalies) - maxAnomalies
				pg.Anomalies = pg.Anomalies[:maxAnomalies]
			}
		}
	}

	main := map[string]bool{ReportFile: true, HistoryFile: true, ResultsFile: true, TestFile: true, "torture.log": true, "torture.out": true}
	if sub, err := s.root.OpenRoot(rel); err == nil {
		_ = fs.WalkDir(sub.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil // the zip and the server skip these too
			}
			row := fileRow{Path: p, Href: hrefPath(rel + "/" + p)}
			if fi, err := d.Info(); err == nil {
				row.Size = fmtSize(fi.Size())
			}
			pg.Files = append(pg.Files, row)
			if main[p] {
				pg.Main = append(pg.Main, row)
			}
			return nil
		})
		sub.Close()
	}
	// The order a reader wants them in, not the directory's.
	order := []string{ReportFile, HistoryFile, ResultsFile, TestFile, "torture.log", "torture.out"}
	sort.SliceStable(pg.Main, func(i, j int) bool {
		return indexOf(order, pg.Main[i].Path) < indexOf(order, pg.Main[j].Path)
	})
	writePage(w, r, runTmpl, pg)
}

// fillTest fills the page from test.json. Options are decoded with
// UseNumber: a seed (or any int64) beyond 2^53 printed from a float64
// would be another seed.
func (s *StoreServer) fillTest(pg *runPage, b []byte) error {
	var raw struct {
		Options  map[string]any    `json:"options"`
		Versions map[string]string `json:"versions"`
		Args     []string          `json:"args"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	for k, v := range raw.Options {
		pg.Options = append(pg.Options, keyValue{k, optionString(v)})
	}
	sort.Slice(pg.Options, func(i, j int) bool { return pg.Options[i].Key < pg.Options[j].Key })
	for k, v := range raw.Versions {
		pg.Versions = append(pg.Versions, keyValue{k, v})
	}
	sort.Slice(pg.Versions, func(i, j int) bool { return pg.Versions[i].Key < pg.Versions[j].Key })
	if len(raw.Args) > 0 {
		q := make([]string, len(raw.Args))
		for i, a := range raw.Args {
			q[i] = shellQuote(a)
		}
		pg.Args = strings.Join(q, " ")
	}
	return nil
}

func optionString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return fmt.Sprint(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// shellQuote quotes s for a POSIX shell when it needs it, so that the
// rerun command can be pasted as it is.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_-./+=:,@%", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func fmtSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return len(list)
}

func (p runPage) DurationText() string {
	if p.Results == nil {
		return ""
	}
	return fmtDuration(time.Duration(p.Results.Stats.DurationSeconds * float64(time.Second)))
}

var runTmpl = pageTemplate("run", `<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Test}} {{.Run}} – ARES torture</title>
<style>/*CSS*/</style></head><body>
<p class="nav"><a href="/">all runs</a><a href="/?test={{.Test}}">runs of {{.Test}}</a></p>
<h1>{{.Test}}</h1>
<p class="muted">{{.Run}}</p>
{{with .Results}}<h2 class="{{verdictClass .Verdict}}">{{verdict .Verdict}}</h2>
{{if .Reason}}<p class="reason">{{.Reason}}</p>{{end}}
{{else}}<h2 class="unchecked">not checked</h2><p class="muted">{{.ResultsErr}}</p>{{end}}
<table>
<tr><th>seed</th><td><code>{{.Entry.Seed}}</code></td></tr>
<tr><th>start (UTC)</th><td>{{time .Entry.Start}}</td></tr>
{{with .DurationText}}<tr><th>duration</th><td>{{.}}</td></tr>{{end}}
<tr><th>faults</th><td>{{.Entry.Faults}}{{with .Entry.FaultsSeen}} <span class="muted">(active: {{.}})</span>{{end}}</td></tr>
<tr><th>rerun</th><td><code>{{.Rerun}}</code></td></tr>
{{with .Args}}<tr><th>started by</th><td><code>{{.}}</code></td></tr>{{end}}
<tr><th>download</th><td><a href="{{href .Dir}}/?download=zip">{{.Test}}-{{.Run}}.zip</a> <span class="muted">(every file of the run)</span></td></tr>
</table>
{{if .Main}}<p class="nav">{{range .Main}}<a href="{{.Href}}">{{.Path}}</a>{{end}}</p>{{end}}
{{with .Counts}}<h3>Operations</h3>
<table><tr><th>type</th><th class="num">invoked</th><th class="num">ok</th><th class="num">fail</th><th class="num">info</th><th class="num">pending</th></tr>
{{range .}}<tr><td>{{.Type}}</td><td class="num">{{.Invoked}}</td><td class="num">{{.OK}}</td><td class="num">{{.Fail}}</td><td class="num">{{.Info}}</td><td class="num">{{.Pending}}</td></tr>
{{end}}</table>{{end}}
{{with .Results}}{{with .Checkers}}<h3>Checkers</h3>
<table><tr><th>checker</th><th>verdict</th><th>reason</th></tr>
{{range $name, $c := .}}<tr><td>{{$name}}</td><td class="{{verdictClass (print $c.Verdict)}}">{{verdict (print $c.Verdict)}}</td><td class="reason">{{$c.Reason}}</td></tr>
{{end}}</table>{{end}}
{{with .Stats.FaultSets}}<h3>Faults</h3>
<table><tr><th>active faults</th><th class="num">seconds</th><th class="num">ok</th><th class="num">fail</th><th class="num">info</th></tr>
{{range .}}<tr><td>{{.Faults}}</td><td class="num">{{printf "%.1f" .Seconds}}</td><td class="num">{{.OK}}</td><td class="num">{{.Fail}}</td><td class="num">{{.Info}}</td></tr>
{{end}}</table>{{end}}{{end}}
{{if .Anomalies}}<h3>Anomalies</h3>
<table><tr><th>checker</th><th>key</th><th>description</th><th></th></tr>
{{range .Anomalies}}<tr><td>{{.Checker}}</td><td>{{.Key}}</td><td class="reason">{{.Description}}</td><td>{{with .Visualization}}<a href="{{href (print $.Dir "/" .)}}">visualization</a>{{end}}</td></tr>
{{end}}</table>{{if .MoreAnomalies}}<p class="muted">and {{.MoreAnomalies}} more: see the report.</p>{{end}}{{end}}
{{with .Results}}{{with .Notes}}<h3>Notes</h3><ul>{{range .}}<li>{{.}}</li>{{end}}</ul>{{end}}{{end}}
<h3>Options</h3>
{{with .TestErr}}<p class="muted">{{.}}</p>{{end}}
{{with .Options}}<table>{{range .}}<tr><th>{{.Key}}</th><td><code>{{.Value}}</code></td></tr>
{{end}}</table>{{end}}
{{with .Versions}}<h3>Versions</h3><table>{{range .}}<tr><th>{{.Key}}</th><td>{{.Value}}</td></tr>
{{end}}</table>{{end}}
<h3 id="files">Files</h3>
<table><tr><th>file</th><th class="num">size</th></tr>
{{range .Files}}<tr><td><a href="{{.Href}}">{{.Path}}</a></td><td class="num">{{.Size}}</td></tr>
{{end}}</table>
</body></html>
`)

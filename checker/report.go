package checker

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/history"
)

// maxPoints caps the latency scatter; bigger histories are sampled.
const maxPoints = 4000

// maxRows caps long tables in the report (results.json has everything).
const maxRows = 300

var faultPalette = map[string]string{
	"partition": "#7aa6f0",
	"kill":      "#f08a7a",
	"pause":     "#c99af0",
	"loss":      "#f0c67a",
	"latency":   "#9ad9c9",
	"reconfig":  "#a8d08d",
}

// faultColor gives each fault kind a stable color.
func faultColor(kind string) string {
	if c, ok := faultPalette[kind]; ok {
		return c
	}
	h := 0
	for _, c := range kind {
		h = h*31 + int(c)
	}
	return fmt.Sprintf("hsl(%d,60%%,75%%)", (h%360+360)%360)
}

type reportData struct {
	R          *Result
	Title      string
	Color      string
	Counts     []countRow
	Latency    []latRow
	Timeline   template.HTML
	RatePlot   template.HTML
	Options    []kv
	Periods    []Period
	MorePeriod int
	Keys       []KeyResult
	MoreKeys   int
	Reached    []ReachedCount
	// Facts are the run's start, seed, rerun command and versions.
	Facts []kv
	// Files are the run's files, linked relative to the report.
	Files []runFile
	// Anomalies are R.Anomalies with their time and the faults active
	// then.
	Anomalies []anomRow
	// TimeBase says what the report's times count from.
	TimeBase string
	// Rows are the anomalies the table lists: at most maxAnomRows of
	// each checker; MoreAnoms says how many of each it leaves out.
	Rows      []anomRow
	MoreAnoms string
	// Conflicts are the anomalies with a minimal conflict, at most
	// maxConflicts; MoreConflicts counts the rest.
	Conflicts     []Anomaly
	MoreConflicts int
	// Nemesis is the fault table, at most maxRows; MoreNemesis counts the
	// rest.
	Nemesis     []interval
	MoreNemesis int
}

// anomRow is an anomaly as the report shows it.
type anomRow struct {
	Anomaly
	// Has says the anomaly names an operation; At is its time (the
	// completion, or the invoke of one that never completed), counted
	// from the report's origin, and Faults the faults active then.
	Has    bool
	At     int64
	Faults string
}

type countRow struct {
	F string
	C Counts
}

type latRow struct {
	F string
	Q Quantiles
}

type kv struct{ K, V string }

func (r *Result) renderReport(w io.Writer, files []runFile) error {
	d := reportData{R: r, Title: "ARES torture run", Files: files}
	if r.Meta != nil && r.Meta.Test != "" {
		d.Title = r.Meta.Test
	}
	d.Color = map[Verdict]string{Valid: "#2e8b3a", Invalid: "#c0392b", Unknown: "#c77c0e"}[r.Verdict]
	for _, f := range []string{history.FRead, history.FWrite, "all"} {
		d.Counts = append(d.Counts, countRow{f, r.Stats.Ops[f]})
		if q, ok := r.Stats.Latency[f]; ok {
			d.Latency = append(d.Latency, latRow{f, q})
		}
	}
	if r.Meta != nil {
		d.Facts = metaFacts(r.Meta)
		for _, k := range sortedKeys(r.Meta.Options) {
			b, err := json.Marshal(r.Meta.Options[k])
			v := string(b)
			if err != nil {
				v = fmt.Sprint(r.Meta.Options[k])
			}
			d.Options = append(d.Options, kv{k, v})
		}
	}
	o := r.Stats.Origin
	if o == 0 {
		d.TimeBase = "seconds since the run's start (history time 0), as in the anomaly descriptions, history.jsonl and the visualizations"
	} else {
		d.TimeBase = fmt.Sprintf("seconds since the history's first line (history time %d ns); the anomaly descriptions count from history time 0", o)
	}
	d.Periods = r.Stats.Periods
	if len(d.Periods) > maxRows {
		d.MorePeriod = len(d.Periods) - maxRows
		d.Periods = d.Periods[:maxRows]
	}
	// Keys that are not valid first, then the rest, capped.
	keys := append([]KeyResult(nil), r.Keys...)
	sort.SliceStable(keys, func(a, b int) bool { return keys[a].Verdict != Valid && keys[b].Verdict == Valid })
	if len(keys) > maxRows {
		d.MoreKeys = len(keys) - maxRows
		keys = keys[:maxRows]
	}
	d.Keys = keys
	d.Anomalies = anomalyRows(r.Anomalies, r.Stats.Nemesis, o)
	marks := markers(d.Anomalies)
	d.Rows, d.MoreAnoms = capAnomalies(d.Anomalies)
	for _, a := range r.Anomalies {
		if a.Conflict == nil {
			continue
		}
		if len(d.Conflicts) == maxConflicts {
			d.MoreConflicts++
			continue
		}
		d.Conflicts = append(d.Conflicts, a)
	}
	d.Nemesis = r.Stats.Nemesis
	if len(d.Nemesis) > maxRows {
		d.MoreNemesis = len(d.Nemesis) - maxRows
		d.Nemesis = d.Nemesis[:maxRows]
	}
	// Both plots share one time axis: from the origin to the end of the
	// last rate bin (or of the history).
	t0, t1 := o, o+int64(float64(len(r.Stats.Rate))*r.Stats.RateBinSeconds*1e9)
	if r.hist != nil {
		t1 = max(t1, r.hist.end)
		d.Timeline = timelineSVG(r.hist, r.Stats, marks, t0, t1)
	}
	d.RatePlot = rateSVG(r.Stats, marks, t0, t1)
	d.Reached = r.Reached.Counts()
	return reportTmpl.Execute(w, d)
}

// maxAnomRows caps the anomalies table's rows of each checker, and
// maxConflicts the minimal-conflict diagrams: a failure-heavy history has
// tens of thousands of anomalies (a reused tag makes one per read), and a
// report of all of them is too big to open. results.json has them all.
const (
	maxAnomRows  = 100
	maxConflicts = 5
)

// capAnomalies keeps the first maxAnomRows anomalies of each checker, in
// order, and says how many of each it left out.
func capAnomalies(rows []anomRow) ([]anomRow, string) {
	n := map[string]int{}
	var kept []anomRow
	for _, a := range rows {
		n[a.Checker]++
		if n[a.Checker] <= maxAnomRows {
			kept = append(kept, a)
		}
	}
	var more []string
	for _, c := range sortedKeys(n) {
		if n[c] > maxAnomRows {
			more = append(more, fmt.Sprintf("%d more %s anomalies", n[c]-maxAnomRows, c))
		}
	}
	if len(more) == 0 {
		return kept, ""
	}
	return kept, fmt.Sprintf("The table lists the first %d anomalies of each checker (%d in all); %s are in results.json.",
		maxAnomRows, len(rows), strings.Join(more, ", "))
}

// maxMarks caps the violation markers drawn on the plots (the anomalies
// table lists every one).
const maxMarks = 60

// markers are the violations to mark on the plots: one per instant (the
// anomalies found at one time, by several checkers or on several keys,
// share it), at most maxMarks.
func markers(rows []anomRow) []anomRow {
	var marks []anomRow
	at := map[int64]int{}
	for _, a := range rows {
		if !a.Has {
			continue
		}
		if i, ok := at[a.At]; ok {
			m := &marks[i]
			if !slices.Contains(strings.Split(m.Checker, ", "), a.Checker) {
				m.Checker += ", " + a.Checker
			}
			if !slices.Contains(strings.Split(m.Key, ", "), a.Key) {
				m.Key += ", " + a.Key
			}
			m.Description += " / " + a.Description
			continue
		}
		if len(marks) == maxMarks {
			continue
		}
		at[a.At] = len(marks)
		marks = append(marks, a)
	}
	return marks
}

// metaFacts are the run's facts for the report's head: start, seed, rerun
// command and versions.
func metaFacts(m *Meta) []kv {
	var f []kv
	if !m.Start.IsZero() {
		f = append(f, kv{"started", m.Start.Format("2006-01-02 15:04:05.000 -0700") + " (" + m.Start.UTC().Format("15:04:05 UTC") + ")"})
	}
	if m.Seed != nil {
		f = append(f, kv{"seed", strconv.FormatInt(*m.Seed, 10)})
	}
	if m.Rerun != "" {
		f = append(f, kv{"rerun", m.Rerun})
	}
	if m.RunDir != "" {
		f = append(f, kv{"run directory", m.RunDir})
	}
	for _, k := range sortedKeys(m.Versions) {
		f = append(f, kv{"version of " + k, m.Versions[k]})
	}
	return f
}

// anomalyRows gives each anomaly its time and the faults active then;
// times count from origin.
func anomalyRows(as []Anomaly, nem []interval, origin int64) []anomRow {
	rows := make([]anomRow, len(as))
	for i, a := range as {
		rows[i] = anomRow{Anomaly: a}
		if a.Op == nil {
			continue
		}
		t := a.Op.Invoke
		if a.Op.Complete != nil {
			t = *a.Op.Complete
		}
		rows[i].Has, rows[i].At, rows[i].Faults = true, t-origin, faultsAt(nem, t, origin)
	}
	return rows
}

// faultsAt names the faults active at history time t, or says that none
// was and which one stopped last.
func faultsAt(nem []interval, t, origin int64) string {
	desc := func(iv *interval) string {
		if iv.Value == "" {
			return iv.Fault
		}
		return iv.Fault + " " + short(iv.Value)
	}
	var act []string
	var last *interval
	for i := range nem {
		iv := &nem[i]
		if strings.HasPrefix(iv.Error, "not applied") {
			continue
		}
		switch {
		case iv.Start <= t && (t <= iv.End || iv.Open):
			act = append(act, desc(iv))
		case iv.End < t && (last == nil || iv.End > last.End):
			last = iv
		}
	}
	switch {
	case len(act) > 0:
		return strings.Join(act, ", ")
	case last != nil:
		return fmt.Sprintf("no fault active (the last, %s, stopped at %s)", desc(last), fmtNS(last.End-origin))
	}
	return "no fault active"
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", *p*100)
	},
	"f1":    func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3":    func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"secs":  func(ns int64) string { return fmtNS(ns) },
	"join":  strings.Join,
	"sub":   func(a, b int64) string { return fmtNS(a - b) },
	"begin": func(r *Result) int64 { return r.Stats.Origin },
	"size":  fmtSize,

	"conflictHTML": conflictHTML,
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}: {{.R.Verdict}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1400px;color:#222;padding:0 1em}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{display:inline-block;color:#fff;padding:.15em .6em;border-radius:4px;font-weight:bold}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.valid{color:#2e8b3a}.invalid{color:#c0392b;font-weight:bold}.unknown{color:#c77c0e}
.small{color:#666;font-size:.9em} svg{background:#fff;border:1px solid #ddd;width:100%;height:auto;display:block}
table.facts th{width:11em} ul.files{columns:3 20em;font-size:.9em;padding-left:1.2em} ul.files li{break-inside:avoid}
.viol{color:#d0021b;font-weight:bold}
code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>{{.Title}} <span class="verdict" style="background:{{.Color}}">{{.R.Verdict}}</span></h1>
<p>{{.R.Reason}}</p>
<p class="small">Checked in {{f3 .R.CheckSeconds}} s. Times in this report are {{.TimeBase}}.</p>
{{range .Conflicts}}{{conflictHTML .}}{{end}}{{if .MoreConflicts}}<p class="small">and minimal conflicts on {{.MoreConflicts}} more keys in results.json</p>{{end}}
{{if .Facts}}<table class="facts">{{range .Facts}}<tr><th>{{.K}}</th><td><code>{{.V}}</code></td></tr>
{{end}}</table>{{end}}
{{if .Files}}<h2>Files</h2>
<ul class="files">{{range .Files}}<li><a href="{{.Href}}">{{.Name}}</a>{{if not .Dir}} <span class="small">{{size .Size}}</span>{{end}}</li>
{{end}}</ul>{{end}}

<h2>Checkers</h2>
<table><tr><th>checker</th><th>verdict</th><th>detail</th></tr>
{{range $name, $c := .R.Checkers}}<tr><td>{{$name}}</td><td class="{{$c.Verdict}}">{{$c.Verdict}}</td><td>{{$c.Reason}}</td></tr>
{{end}}</table>

{{if .Anomalies}}<h2>Anomalies</h2>
<table><tr><th>checker</th><th>key</th><th>at</th><th>faults active then</th><th>description</th><th>visualization</th></tr>
{{range .Rows}}<tr><td>{{.Checker}}</td><td><code>{{.Key}}</code></td><td class="n">{{if .Has}}<span class="viol">{{secs .At}}</span>{{else}}–{{end}}</td><td>{{if .Has}}{{.Faults}}{{else}}–{{end}}</td><td>{{.Description}}{{if .Lost}}<br><span class="small">lost: {{range .Lost}}{{.String}}; {{end}}</span>{{end}}{{if .Note}}<br><span class="small">{{.Note}}</span>{{end}}</td>
<td>{{if .Visualization}}<a href="{{.Visualization}}">{{.Visualization}}</a>{{else}}–{{end}}</td></tr>
{{end}}</table>{{with .MoreAnoms}}<p class="small">{{.}}</p>{{end}}{{end}}

{{if .R.Notes}}<h2>Notes</h2><ul>{{range .R.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}

<h2>Operations</h2>
<table><tr><th>f</th><th>invoked</th><th>ok</th><th>fail</th><th>info</th><th>pending</th></tr>
{{range .Counts}}<tr><td>{{.F}}</td><td class="n">{{.C.Invoked}}</td><td class="n">{{.C.OK}}</td><td class="n">{{.C.Fail}}</td><td class="n">{{.C.Info}}</td><td class="n">{{.C.Pending}}</td></tr>
{{end}}</table>
<p>{{.R.Stats.Keys}} keys over {{f1 .R.Stats.DurationSeconds}} s: {{f1 .R.Stats.OpsPerSecond}} completed ops/s, {{f1 .R.Stats.OKPerSecond}} ok ops/s, availability {{pct .R.Stats.Availability}}.
Durability: {{.R.Durability.KeysChecked}} keys verified, {{.R.Durability.KeysUnverified}} unverified, {{.R.Durability.LostWrites}} lost writes.</p>
{{if .Latency}}<table><tr><th>latency (ok)</th><th>count</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>
{{range .Latency}}<tr><td>{{.F}}</td><td class="n">{{.Q.Count}}</td><td class="n">{{f1 .Q.P50}}</td><td class="n">{{f1 .Q.P90}}</td><td class="n">{{f1 .Q.P99}}</td><td class="n">{{f1 .Q.Max}}</td></tr>
{{end}}</table>{{end}}

<h2>Reached</h2>
<p class="small">States that safety depends on and that the faults aim at; a run with faults that reached none is not called valid.{{with .R.Reached.Faults}} Faults: {{join . ", "}}.{{end}}</p>
<table><tr><th>state</th><th>name</th><th>count</th></tr>
{{range .Reached}}<tr><td>{{.What}}</td><td><code>{{.Name}}</code></td><td class="n">{{if lt .Value 0}}–{{else}}{{.Value}}{{end}}</td></tr>
{{end}}</table>
<p class="small">– : not countable from this history (it carries no tags or configurations, or the EC k is unknown).</p>

{{if .R.TimeGoes}}<h2>Where the time goes</h2>
<p class="small">From the run's OpenTelemetry spans (<a href="traces/summary.txt">traces/summary.txt</a>; the spans are OTLP JSON in <code>traces/</code>): median and p99 per operation and phase, and the slowest operation of each kind.</p>
<pre>{{.R.TimeGoes}}</pre>{{end}}
<h2>Timeline</h2>
{{if .Timeline}}{{.Timeline}}{{else}}<p class="small">No history attached to this result.</p>{{end}}
<h2>Rate</h2>
{{.RatePlot}}

<h2>Availability by fault</h2>
<table><tr><th>active faults</th><th>seconds</th><th>ok</th><th>fail</th><th>info</th><th>availability</th></tr>
{{range .R.Stats.FaultSets}}<tr><td>{{.Faults}}</td><td class="n">{{f1 .Seconds}}</td><td class="n">{{.OK}}</td><td class="n">{{.Fail}}</td><td class="n">{{.Info}}</td><td class="n">{{pct .Availability}}</td></tr>
{{end}}</table>
<details><summary>Periods ({{len .R.Stats.Periods}})</summary>
<table><tr><th>from</th><th>to</th><th>active faults</th><th>ok</th><th>fail</th><th>info</th><th>availability</th></tr>
{{$b := begin .R}}{{range .Periods}}<tr><td class="n">{{sub .Start $b}}</td><td class="n">{{sub .End $b}}</td><td>{{join .Faults ", "}}</td><td class="n">{{.OK}}</td><td class="n">{{.Fail}}</td><td class="n">{{.Info}}</td><td class="n">{{pct .Availability}}</td></tr>
{{end}}</table>{{if .MorePeriod}}<p class="small">and {{.MorePeriod}} more in results.json</p>{{end}}</details>

<h2>Nemesis</h2>
{{if .R.Stats.Nemesis}}<table><tr><th>fault</th><th>targets</th><th>start</th><th>stop</th><th>error</th></tr>
{{range .Nemesis}}<tr><td>{{.Fault}}</td><td>{{.Value}}</td><td class="n">{{sub .Start $b}}</td><td class="n">{{sub .End $b}}{{if .Open}} (never stopped){{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{if .MoreNemesis}}<p class="small">and {{.MoreNemesis}} more faults in history.jsonl and results.json</p>{{end}}{{else}}<p>No faults.</p>{{end}}

<h2>Keys</h2>
<table><tr><th>key</th><th>verdict</th><th>ops checked</th><th>seconds</th><th>detail</th></tr>
{{range .Keys}}<tr><td><code>{{.Key}}</code></td><td class="{{.Verdict}}">{{.Verdict}}</td><td class="n">{{.Ops}}</td><td class="n">{{f3 .Seconds}}</td><td>{{.Reason}}{{if .Visualization}} <a href="{{.Visualization}}">visualization</a>{{end}}</td></tr>
{{end}}</table>{{if .MoreKeys}}<p class="small">and {{.MoreKeys}} more valid keys in results.json</p>{{end}}

<h2>Options</h2>
<table>{{range .Options}}<tr><td>{{.K}}</td><td><code>{{.V}}</code></td></tr>{{end}}
<tr><td>checker</td><td><code>timeout {{.R.Options.Timeout}}, verbose timeout {{.R.Options.VerboseTimeout}}, verbose max ops {{.R.Options.VerboseMaxOps}}, min ok {{.R.Options.MinOK}}, min ok share {{.R.Options.MinOKShare}}</code></td></tr></table>
</body></html>
`))

package checker

import (
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"sort"
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

func (r *Result) renderReport(w io.Writer) error {
	d := reportData{R: r, Title: "ARES torture run"}
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
		for _, k := range sortedKeys(r.Meta.Options) {
			b, err := json.Marshal(r.Meta.Options[k])
			v := string(b)
			if err != nil {
				v = fmt.Sprint(r.Meta.Options[k])
			}
			d.Options = append(d.Options, kv{k, v})
		}
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
	if r.hist != nil {
		d.Timeline = timelineSVG(r.hist)
	}
	d.RatePlot = rateSVG(r.Stats)
	d.Reached = r.Reached.Counts()
	return reportTmpl.Execute(w, d)
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", *p*100)
	},
	"f1":   func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f3":   func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"secs": func(ns int64) string { return fmtNS(ns) },
	"join": strings.Join,
	"sub":  func(a, b int64) string { return fmtNS(a - b) },
	"begin": func(r *Result) int64 {
		if r.hist != nil {
			return r.hist.begin
		}
		return 0
	},
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{.Title}}: {{.R.Verdict}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.4em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
.verdict{display:inline-block;color:#fff;padding:.15em .6em;border-radius:4px;font-weight:bold}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
.valid{color:#2e8b3a}.invalid{color:#c0392b;font-weight:bold}.unknown{color:#c77c0e}
.small{color:#666;font-size:.9em} svg{background:#fff;border:1px solid #ddd}
code{background:#f4f4f4;padding:0 .2em}
</style></head><body>
<h1>{{.Title}} <span class="verdict" style="background:{{.Color}}">{{.R.Verdict}}</span></h1>
<p>{{.R.Reason}}</p>
<p class="small">{{with .R.Meta}}{{if .RunDir}}Run directory <code>{{.RunDir}}</code>. {{end}}{{end}}Checked in {{f3 .R.CheckSeconds}} s.</p>

<h2>Checkers</h2>
<table><tr><th>checker</th><th>verdict</th><th>detail</th></tr>
{{range $name, $c := .R.Checkers}}<tr><td>{{$name}}</td><td class="{{$c.Verdict}}">{{$c.Verdict}}</td><td>{{$c.Reason}}</td></tr>
{{end}}</table>

{{if .R.Anomalies}}<h2>Anomalies</h2>
<table><tr><th>checker</th><th>key</th><th>description</th><th>visualization</th></tr>
{{range .R.Anomalies}}<tr><td>{{.Checker}}</td><td><code>{{.Key}}</code></td><td>{{.Description}}{{if .Lost}}<br><span class="small">lost: {{range .Lost}}{{.String}}; {{end}}</span>{{end}}{{if .Note}}<br><span class="small">{{.Note}}</span>{{end}}</td>
<td>{{if .Visualization}}<a href="{{.Visualization}}">{{.Visualization}}</a>{{else}}–{{end}}</td></tr>
{{end}}</table>{{end}}

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
{{range .R.Stats.Nemesis}}<tr><td>{{.Fault}}</td><td>{{.Value}}</td><td class="n">{{sub .Start $b}}</td><td class="n">{{sub .End $b}}{{if .Open}} (never stopped){{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{else}}<p>No faults.</p>{{end}}

<h2>Keys</h2>
<table><tr><th>key</th><th>verdict</th><th>ops checked</th><th>seconds</th><th>detail</th></tr>
{{range .Keys}}<tr><td><code>{{.Key}}</code></td><td class="{{.Verdict}}">{{.Verdict}}</td><td class="n">{{.Ops}}</td><td class="n">{{f3 .Seconds}}</td><td>{{.Reason}}{{if .Visualization}} <a href="{{.Visualization}}">visualization</a>{{end}}</td></tr>
{{end}}</table>{{if .MoreKeys}}<p class="small">and {{.MoreKeys}} more valid keys in results.json</p>{{end}}

<h2>Options</h2>
<table>{{range .Options}}<tr><td>{{.K}}</td><td><code>{{.V}}</code></td></tr>{{end}}
<tr><td>checker</td><td><code>timeout {{.R.Options.Timeout}}, verbose timeout {{.R.Options.VerboseTimeout}}, verbose max ops {{.R.Options.VerboseMaxOps}}, min ok {{.R.Options.MinOK}}, min ok share {{.R.Options.MinOKShare}}</code></td></tr></table>
</body></html>
`))

// svg geometry shared by both plots.
const (
	svgW   = 1060
	padL   = 60
	padR   = 20
	plotW  = svgW - padL - padR
	laneH  = 14
	scatH  = 260
	rateH  = 180
	padTop = 10
	padBot = 30
)

// timelineSVG draws fault lanes and shaded bands over a latency scatter
// (log scale) of every sampled operation, by completion time.
func timelineSVG(h *prepared) template.HTML {
	span := float64(h.end - h.begin)
	if span <= 0 {
		span = 1
	}
	x := func(t int64) float64 { return padL + float64(t-h.begin)/span*plotW }
	kinds := map[string]int{}
	var kindList []string
	for _, iv := range h.nemesis {
		if _, ok := kinds[iv.Fault]; !ok {
			kinds[iv.Fault] = len(kindList)
			kindList = append(kindList, iv.Fault)
		}
	}
	lanesH := len(kindList) * laneH
	top := padTop + lanesH + 6
	height := top + scatH + padBot
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-size="11">`, svgW, height, svgW, height)
	// Fault lanes and bands.
	for i, k := range kindList {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, padL-4, padTop+i*laneH+10, html.EscapeString(short(k)))
	}
	for _, iv := range h.nemesis {
		x0, x1 := x(iv.Start), x(iv.End)
		w := math.Max(x1-x0, 1.5)
		c := faultColor(iv.Fault)
		title := html.EscapeString(fmt.Sprintf("%s %s: %s – %s", iv.Fault, iv.Value, fmtNS(iv.Start-h.begin), fmtNS(iv.End-h.begin)))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
			x0, padTop+kinds[iv.Fault]*laneH, w, laneH-2, c, title)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.25"><title>%s</title></rect>`,
			x0, top, w, scatH, c, title)
	}
	// Latency scale: log10 from the smallest to the largest latency.
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range h.ops {
		o := &h.ops[i]
		if o.ret < 0 {
			continue
		}
		l := math.Max(float64(o.ret-o.call)/1e6, 0.01)
		lo, hi = math.Min(lo, l), math.Max(hi, l)
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0.1, 1000
	}
	llo, lhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if lhi <= llo {
		lhi = llo + 1
	}
	y := func(ms float64) float64 {
		v := (math.Log10(math.Max(ms, 0.01)) - llo) / (lhi - llo)
		return float64(top+scatH) - v*scatH
	}
	for e := llo; e <= lhi; e++ {
		yy := y(math.Pow(10, e))
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`,
			padL, padL+plotW, yy, yy, padL-4, yy+4, msLabel(math.Pow(10, e)))
	}
	fmt.Fprintf(&b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">latency</text>`, top+scatH/2, top+scatH/2)
	axisX(&b, h.begin, h.end, x, top+scatH)
	// Points: failures and indeterminate ones are rarer and matter more,
	// so they get half the budget before ok operations are sampled.
	var okIdx, otherIdx []int
	for i := range h.ops {
		switch h.ops[i].typ {
		case history.Ok:
			okIdx = append(okIdx, i)
		case history.Fail, history.Info:
			otherIdx = append(otherIdx, i)
		}
	}
	otherIdx = sample(otherIdx, maxPoints/2)
	okIdx = sample(okIdx, maxPoints-len(otherIdx))
	colors := map[history.Type]string{history.Ok: "#2e8b3a", history.Fail: "#c0392b", history.Info: "#e67e22"}
	for _, set := range [][]int{okIdx, otherIdx} {
		for _, i := range set {
			o := &h.ops[i]
			ms := float64(o.ret-o.call) / 1e6
			shape := "circle"
			if o.f == history.FWrite {
				shape = "rect"
			}
			title := html.EscapeString(fmt.Sprintf("%s %s %s (process %d, line %d): %.1f ms", o.typ, o.f, o.key, o.process, o.line, ms))
			if shape == "circle" {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="2" fill="%s" fill-opacity="0.6"><title>%s</title></circle>`,
					x(o.ret), y(ms), colors[o.typ], title)
			} else {
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="3.5" height="3.5" fill="%s" fill-opacity="0.6"><title>%s</title></rect>`,
					x(o.ret)-1.75, y(ms)-1.75, colors[o.typ], title)
			}
		}
	}
	b.WriteString(`</svg>`)
	n := 0
	for i := range h.ops {
		if h.ops[i].ret >= 0 {
			n++
		}
	}
	note := fmt.Sprintf(`<p class="small">Each completed operation at its completion time and latency: circles are reads, squares writes; <span style="color:#2e8b3a">ok</span>, <span style="color:#e67e22">info</span>, <span style="color:#c0392b">fail</span>. Shaded bands are faults. %d of %d operations drawn.</p>`,
		len(okIdx)+len(otherIdx), n)
	return template.HTML(b.String() + note) // #nosec: built from escaped parts
}

// rateSVG plots completions per second by outcome.
func rateSVG(st Stats) template.HTML {
	if len(st.Rate) == 0 {
		return template.HTML(`<p class="small">No completed operations.</p>`)
	}
	height := padTop + rateH + padBot
	top := padTop
	maxV := 1.0
	for _, bin := range st.Rate {
		maxV = math.Max(maxV, float64(bin.OK+bin.Fail+bin.Info)/st.RateBinSeconds)
	}
	n := len(st.Rate)
	x := func(i int) float64 { return padL + float64(i)/float64(n)*plotW }
	y := func(v float64) float64 { return float64(top+rateH) - v/maxV*rateH }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-size="11">`, svgW, height, svgW, height)
	for _, frac := range []float64{0, 0.5, 1} {
		yy := y(maxV * frac)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%.0f/s</text>`,
			padL, padL+plotW, yy, yy, padL-4, yy+4, maxV*frac)
	}
	series := []struct {
		color string
		get   func(RateBin) int
	}{
		{"#2e8b3a", func(r RateBin) int { return r.OK }},
		{"#e67e22", func(r RateBin) int { return r.Info }},
		{"#c0392b", func(r RateBin) int { return r.Fail }},
	}
	for _, s := range series {
		// Steps: each bin is a level across its width.
		var pts []string
		for i, bin := range st.Rate {
			yy := y(float64(s.get(bin)) / st.RateBinSeconds)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(i), yy, x(i+1), yy))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, s.color, strings.Join(pts, " "))
	}
	span := int64(float64(n) * st.RateBinSeconds * 1e9)
	axisX(&b, 0, span, func(t int64) float64 { return padL + float64(t)/float64(span)*plotW }, top+rateH)
	b.WriteString(`</svg>`)
	note := fmt.Sprintf(`<p class="small">Completions per second (bins of %gs): <span style="color:#2e8b3a">ok</span>, <span style="color:#e67e22">info</span>, <span style="color:#c0392b">fail</span>.</p>`, st.RateBinSeconds)
	return template.HTML(b.String() + note) // #nosec: numbers only
}

// axisX draws a time axis in seconds since t0 at height y.
func axisX(b *strings.Builder, t0, t1 int64, x func(int64) float64, y int) {
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#999"/>`, padL, padL+plotW, y, y)
	span := float64(t1-t0) / 1e9
	step := niceStep(span / 10)
	for s := 0.0; s <= span+1e-9; s += step {
		xx := x(t0 + int64(s*1e9))
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/><text x="%.1f" y="%d" text-anchor="middle">%gs</text>`,
			xx, xx, y, y+4, xx, y+16, math.Round(s*1000)/1000)
	}
}

func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func msLabel(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%gs", ms/1000)
	default:
		return fmt.Sprintf("%gms", ms)
	}
}

// sample keeps at most n indices, evenly spread.
func sample(idx []int, n int) []int {
	if n <= 0 {
		return nil
	}
	if len(idx) <= n {
		return idx
	}
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, idx[i*len(idx)/n])
	}
	return out
}

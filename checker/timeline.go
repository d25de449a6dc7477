package checker

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/ares-torture/torture/history"
)

// TimelineFile is the whole-run timeline in a run directory.
const TimelineFile = "timeline.html"

// MaxTimelineOps caps the operations drawn in the timeline: a bigger run
// shows a window of this many around its first violation, or its first
// ones, and says so.
const MaxTimelineOps = 10000

// WriteTimeline writes timeline.html into runDir: the whole run on one time
// axis (milliseconds from the run's start), one lane per client process
// with its operations as bars (reads, writes, covers, cas and file
// operations in their own colors; ok filled, fail outlined, info and
// pending faded to the end of the history), the configuration epochs (the
// reconfig nemesis and the configurations operations finished in), one
// lane per server with the faults that named it (kill, pause, partition,
// ...), and the violations the checks found. The page is self-contained
// (no network) and zooms with the mouse wheel or its buttons. Call it after
// Check, on the Result Check returned (Write sets the run's title from its
// Meta; call it after Write for that); a Result read back by ReadResult has
// no history, and WriteTimeline then writes nothing and returns nil.
func (r *Result) WriteTimeline(runDir string) error {
	if r == nil || r.hist == nil {
		return nil
	}
	var b strings.Builder
	if err := renderTimeline(&b, r.hist, r); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return fmt.Errorf("write timeline: %w", err)
	}
	return writeFileAtomic(filepath.Join(runDir, TimelineFile), []byte(b.String()))
}

// tlOp is one client operation of the timeline.
type tlOp struct {
	Lane int    `json:"l"`
	S    int64  `json:"s"` // invoke, ns
	E    int64  `json:"e"` // completion, ns; the history's end if pending
	F    string `json:"f"` // read, write, cover, cas, read-file, write-file
	T    string `json:"t"` // ok, fail, info, pending
	D    string `json:"d"` // tooltip
	Text string `json:"x"` // text inside the bar
	Bad  bool   `json:"b,omitempty"`
}

// tlSpan is a fault, configuration epoch or reconfiguration.
type tlSpan struct {
	S     int64  `json:"s"`
	E     int64  `json:"e"`
	Kind  string `json:"k"`
	Color string `json:"c"`
	Text  string `json:"x"`
	D     string `json:"d"`
}

// tlLane is a lane of spans.
type tlLane struct {
	Name  string   `json:"name"`
	Spans []tlSpan `json:"spans"`
}

// tlMark is a violation: a red line at time T.
type tlMark struct {
	T int64  `json:"t"`
	D string `json:"d"`
}

type tlData struct {
	Title  string `json:"title"`
	Notice string `json:"notice"`
	Begin  int64  `json:"begin"`
	End    int64  `json:"end"`
	// Procs[i] names process lane i.
	Procs   []string `json:"procs"`
	Ops     []tlOp   `json:"ops"`
	Epochs  []tlLane `json:"epochs"`
	Servers []tlLane `json:"servers"`
	Marks   []tlMark `json:"marks"`
}

// serverName finds the servers a fault's description names (s0, c1-s3).
var serverName = regexp.MustCompile(`\bs\d+\b`)

// renderTimeline writes the timeline page of h (r gives the title and
// the violations; it may be nil).
func renderTimeline(w io.Writer, h *prepared, r *Result) error {
	d := timelineData(h, r)
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	page := strings.NewReplacer(
		"{{TITLE}}", html.EscapeString(d.Title),
		"{{NOTICE}}", html.EscapeString(d.Notice),
		"{{DATA}}", string(b), // json.Marshal escapes <, > and &
	).Replace(timelineHTML)
	_, err = io.WriteString(w, page)
	return err
}

func timelineData(h *prepared, r *Result) tlData {
	d := tlData{Title: "timeline", Begin: h.begin, End: h.end, Procs: []string{}, Ops: []tlOp{},
		Epochs: []tlLane{}, Servers: []tlLane{}, Marks: []tlMark{}}
	if r != nil && r.Meta != nil {
		var parts []string
		for _, s := range []string{r.Meta.Test, r.Meta.RunDir} {
			if s != "" {
				parts = append(parts, s)
			}
		}
		if len(parts) > 0 {
			d.Title = strings.Join(parts, " ") + " — timeline"
		}
	}

	// Violations: the operations the checks name.
	bad := map[int]string{} // line -> why
	first := int64(-1)
	firstLine := 0
	var firstWhat string
	if r != nil {
		for _, a := range r.Anomalies {
			if a.Op == nil {
				continue
			}
			t := a.Op.Invoke
			if a.Op.Complete != nil {
				t = *a.Op.Complete
			}
			what := a.Checker
			if a.Key != "" {
				what += " of key " + strconv.Quote(a.Key)
			}
			bad[a.Op.Line] = what + ": " + a.Description
			d.Marks = append(d.Marks, tlMark{T: t, D: what + ": " + a.Description})
			if first < 0 || t < first {
				first, firstLine, firstWhat = t, a.Op.Line, what
			}
		}
	}
	sort.SliceStable(d.Marks, func(i, j int) bool { return d.Marks[i].T < d.Marks[j].T })

	// The operations, capped around the first violation.
	ops := h.ops
	lo, hi := 0, len(ops)
	around := false
	if len(ops) > MaxTimelineOps {
		at := -1
		for i := range ops {
			if firstLine > 0 && ops[i].line == firstLine {
				at = i
				break
			}
		}
		if at >= 0 {
			lo = max(0, min(at-MaxTimelineOps/2, len(ops)-MaxTimelineOps))
			around = true
		}
		hi = lo + MaxTimelineOps
	}
	wbeg, wend := h.begin, h.end
	if lo > 0 || hi < len(ops) {
		wbeg = ops[lo].call
		wend = wbeg
		for i := lo; i < hi; i++ {
			wend = max(wend, ops[i].call, ops[i].ret)
		}
		which := fmt.Sprintf("the first %d", MaxTimelineOps)
		if around {
			which = fmt.Sprintf("the %d around the first violation (%s, line %d)", MaxTimelineOps, firstWhat, firstLine)
		}
		d.Notice = fmt.Sprintf("This run has %d operations, over the timeline's limit of %d: it shows %s, operations %d to %d in invoke order, from %s to %s; faults and configurations are shown over that stretch.",
			len(ops), MaxTimelineOps, which, lo+1, hi, fmtMS(wbeg), fmtMS(wend))
		d.Begin, d.End = wbeg, wend
	}
	var more int
	d.Marks, more = windowMarks(d.Marks, wbeg, wend)
	if more > 0 {
		d.Notice = strings.TrimSpace(d.Notice + fmt.Sprintf(" It marks the first %d instants with violations; %d more violations in its stretch are listed in results.json.", maxTimelineMarks, more))
	}
	procs := map[int]bool{}
	for i := lo; i < hi; i++ {
		procs[ops[i].process] = true
	}
	pids := make([]int, 0, len(procs))
	for p := range procs {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	lane := make(map[int]int, len(pids))
	for i, p := range pids {
		lane[p] = i
		d.Procs = append(d.Procs, "p"+strconv.Itoa(p))
	}
	for i := lo; i < hi; i++ {
		o := &ops[i]
		d.Ops = append(d.Ops, timelineOp(o, lane[o.process], h.end, bad[o.line]))
	}

	// Configuration epochs: the reconfigurations, and the span of the
	// completions in each configuration.
	rec := tlLane{Name: "reconfig", Spans: []tlSpan{}}
	for _, iv := range h.nemesis {
		if iv.Fault != "reconfig" || iv.End < wbeg || iv.Start > wend {
			continue
		}
		rec.Spans = append(rec.Spans, faultSpan(iv, h.end))
	}
	type span struct {
		s, e int64
		n    int
	}
	cfg := map[int64]*span{}
	for i := lo; i < hi; i++ {
		o := &ops[i]
		if o.typ != history.Ok || o.config < 0 {
			continue
		}
		if c := cfg[o.config]; c == nil {
			cfg[o.config] = &span{o.ret, o.ret, 1}
		} else {
			c.s, c.e, c.n = min(c.s, o.ret), max(c.e, o.ret), c.n+1
		}
	}
	if len(cfg) > 0 {
		ep := tlLane{Name: "config", Spans: []tlSpan{}}
		idx := make([]int64, 0, len(cfg))
		for c := range cfg {
			idx = append(idx, c)
		}
		sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
		for _, c := range idx {
			s := cfg[c]
			ep.Spans = append(ep.Spans, tlSpan{S: s.s, E: s.e, Kind: "config", Color: epochColor(c),
				Text: "c" + strconv.FormatInt(c, 10),
				D: fmt.Sprintf("configuration %d: %d operations finished in it, from %s to %s",
					c, s.n, fmtMS(s.s), fmtMS(s.e))})
		}
		d.Epochs = append(d.Epochs, ep)
	}
	if len(rec.Spans) > 0 {
		d.Epochs = append(d.Epochs, rec)
	}

	// Faults, one lane per server they name; the others on one lane.
	servers := map[string]*tlLane{}
	other := &tlLane{Name: "other faults", Spans: []tlSpan{}}
	for _, iv := range h.nemesis {
		if iv.Fault == "reconfig" || iv.End < wbeg || iv.Start > wend {
			continue
		}
		sp := faultSpan(iv, h.end)
		names := serverName.FindAllString(iv.Value, -1)
		if len(names) == 0 {
			other.Spans = append(other.Spans, sp)
			continue
		}
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				continue
			}
			seen[n] = true
			l := servers[n]
			if l == nil {
				l = &tlLane{Name: n, Spans: []tlSpan{}}
				servers[n] = l
			}
			l.Spans = append(l.Spans, sp)
		}
	}
	names := make([]string, 0, len(servers))
	for n := range servers {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, _ := strconv.Atoi(names[i][1:])
		b, _ := strconv.Atoi(names[j][1:])
		return a < b
	})
	for _, n := range names {
		d.Servers = append(d.Servers, *servers[n])
	}
	if len(other.Spans) > 0 {
		d.Servers = append(d.Servers, *other)
	}
	return d
}

// maxTimelineMarks caps the violation marks of the timeline: a reused tag
// makes an anomaly of nearly every read, and tens of thousands of marks
// made the page megabytes bigger without showing more.
const maxTimelineMarks = 500

// windowMarks keeps the marks (sorted by time) inside [beg, end], one per
// instant (the descriptions of one instant joined), at most
// maxTimelineMarks, and counts the marks of the window it left out.
func windowMarks(marks []tlMark, beg, end int64) (kept []tlMark, more int) {
	kept = []tlMark{}
	for _, m := range marks {
		if m.T < beg || m.T > end {
			continue
		}
		if n := len(kept); n > 0 && kept[n-1].T == m.T {
			if !strings.Contains(kept[n-1].D, m.D) {
				kept[n-1].D += "\n" + m.D
			}
			continue
		}
		if len(kept) == maxTimelineMarks {
			more++
			continue
		}
		kept = append(kept, m)
	}
	return kept, more
}

func timelineOp(o *clientOp, lane int, end int64, bad string) tlOp {
	f := o.f
	if o.orig != "" {
		f = o.orig
	}
	e := o.ret
	t := string(o.typ)
	if e < 0 {
		e, t = end, "pending"
	}
	text := f
	switch {
	case f == history.FRead || f == history.FReadFile:
		if o.typ == history.Ok {
			text += " → " + strconv.Quote(short(o.value))
		}
	case f == history.FCAS:
		text += fmt.Sprintf(" %q→%q", short(o.baseValue), short(o.value))
	default:
		text += " " + strconv.Quote(short(o.value))
		if o.covered {
			text += " (covered → " + strconv.Quote(short(o.got)) + ")"
		}
	}
	desc := fmt.Sprintf("%s, key %s\n%s\ninvoke %s", text, strconv.Quote(o.key), describeMetadata(o), fmtMS(o.call))
	if o.ret >= 0 {
		desc += fmt.Sprintf(", %s %s (%s)", o.typ, fmtMS(o.ret), fmtMS(o.ret-o.call))
	} else {
		desc += ", no completion"
	}
	if bad != "" {
		desc += "\nVIOLATION — " + bad
	}
	return tlOp{Lane: lane, S: o.call, E: e, F: f, T: t, D: desc, Text: text, Bad: bad != ""}
}

func faultSpan(iv interval, end int64) tlSpan {
	e := iv.End
	if e < 0 {
		e = end
	}
	desc := iv.Fault
	if iv.Value != "" {
		desc += " " + iv.Value
	}
	d := fmt.Sprintf("%s\nfrom %s to %s", desc, fmtMS(iv.Start), fmtMS(e))
	if iv.Open {
		d += " (never stopped)"
	}
	if iv.Error != "" {
		d += "\n" + iv.Error
	}
	color := faultColor(iv.Fault)
	if strings.HasPrefix(iv.Error, "not applied") {
		color = "#dddddd"
	}
	return tlSpan{S: iv.Start, E: e, Kind: iv.Fault, Color: color, Text: short(desc), D: d}
}

func epochColor(c int64) string {
	return fmt.Sprintf("hsl(%d,55%%,80%%)", (c*67)%360)
}

const timelineHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 0; }
#top { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: 6px 10px; z-index: 2; }
h1 { font-size: 1.05rem; margin: 0 0 4px; }
#notice { background: #fff3cd; border: 1px solid #e0c56e; padding: 4px 8px; margin: 4px 0; font-size: 0.85rem; }
#notice:empty { display: none; }
#bar { font-size: 0.85rem; display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
#legend span.sw { display: inline-block; width: 14px; height: 10px; margin: 0 3px 0 8px; vertical-align: middle; border: 1px solid #666; }
#plot { display: block; cursor: grab; }
#tip { position: fixed; display: none; max-width: 520px; white-space: pre-wrap; background: #fff; border: 1px solid #999;
  border-radius: 4px; padding: 5px; font-size: 0.8rem; pointer-events: none; z-index: 3; }
</style>
</head>
<body>
<div id="top">
<h1>{{TITLE}}</h1>
<div id="notice">{{NOTICE}}</div>
<div id="bar">
<button id="zin" type="button">zoom in</button>
<button id="zout" type="button">zoom out</button>
<button id="zreset" type="button">whole run</button>
<button id="zbad" type="button">first violation</button>
<span id="range"></span>
<span id="legend"></span>
</div>
<div style="font-size:0.75rem;color:#666">mouse wheel zooms at the pointer, drag pans; times are milliseconds from the run's start</div>
</div>
<canvas id="plot"></canvas>
<div id="tip"></div>
<script>
'use strict'
const data = {{DATA}}
;(function () {
  const COLORS = {read: '#4a90d9', write: '#e8903d', cover: '#9b59b6', cas: '#16a085', 'read-file': '#85b8ea', 'write-file': '#f2c078'}
  const LABEL = 110, AXIS = 22, ROW = 16, GAP = 8
  const canvas = document.getElementById('plot')
  const ctx = canvas.getContext('2d')
  const tip = document.getElementById('tip')
  const legend = document.getElementById('legend')
  for (const f of Object.keys(COLORS)) {
    if (data.ops.some((o) => o.f === f)) {
      legend.insertAdjacentHTML('beforeend', '<span class="sw" style="background:' + COLORS[f] + '"></span>' + f)
    }
  }
  legend.insertAdjacentHTML('beforeend', '<span class="sw" style="background:#888"></span>ok' +
    '<span class="sw" style="background:#fff"></span>fail' +
    '<span class="sw" style="background:rgba(136,136,136,0.3);border-style:dashed"></span>info / pending' +
    '<span class="sw" style="background:#fff;border:2px solid #d00"></span>violation')

  // Rows: sections of lanes.
  const rows = []
  function section(name) { rows.push({section: name}) }
  if (data.epochs.length > 0) {
    section('configurations')
    for (const l of data.epochs) rows.push({name: l.name, spans: l.spans})
  }
  if (data.servers.length > 0) {
    section('servers')
    for (const l of data.servers) rows.push({name: l.name, spans: l.spans})
  }
  section('processes')
  const procRow = []
  for (const [i, p] of data.procs.entries()) {
    procRow[i] = rows.length
    rows.push({name: p, ops: []})
  }
  for (const o of data.ops) rows[procRow[o.l]].ops.push(o)
  let y = AXIS
  for (const r of rows) {
    r.y = y
    y += ROW + 2
  }
  const height = y + GAP

  let begin = data.begin, end = Math.max(data.end, data.begin + 1)
  let v0 = begin, v1 = end
  let width = 800
  function resize() {
    width = Math.max(400, document.documentElement.clientWidth)
    const dpr = window.devicePixelRatio || 1
    canvas.width = width * dpr
    canvas.height = height * dpr
    canvas.style.width = width + 'px'
    canvas.style.height = height + 'px'
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    draw()
  }
  const X = (t) => LABEL + (t - v0) / (v1 - v0) * (width - LABEL - 10)
  const T = (x) => v0 + (x - LABEL) / (width - LABEL - 10) * (v1 - v0)
  const ms = (t) => (t / 1e6).toFixed(3) + ' ms'

  function niceStep(span) {
    const raw = span / 8
    const p = Math.pow(10, Math.floor(Math.log10(raw)))
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p
    return 10 * p
  }

  function bar(x0, x1, yy, fill, stroke, dashed, text) {
    const w = Math.max(1, x1 - x0)
    if (w < 4) {
      // Too narrow for an outline: a fill in the outline's color if
      // there is no other.
      ctx.fillStyle = fill && fill !== '#fff' ? fill : stroke
      ctx.fillRect(x0, yy, w, ROW - 2)
      return
    }
    if (fill) { ctx.fillStyle = fill; ctx.fillRect(x0, yy, w, ROW - 2) }
    if (stroke) {
      ctx.strokeStyle = stroke
      ctx.setLineDash(dashed ? [3, 2] : [])
      ctx.strokeRect(x0 + 0.5, yy + 0.5, w - 1, ROW - 3)
      ctx.setLineDash([])
    }
    if (text && w > 30) {
      ctx.save()
      ctx.beginPath(); ctx.rect(Math.max(x0, LABEL), yy, w, ROW - 2); ctx.clip()
      ctx.fillStyle = '#000'
      ctx.fillText(text, Math.max(x0, LABEL) + 2, yy + ROW / 2)
      ctx.restore()
    }
  }

  function alpha(hex, a) {
    const n = parseInt(hex.slice(1), 16)
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')'
  }

  function draw() {
    ctx.clearRect(0, 0, width, height)
    ctx.font = '11px sans-serif'
    ctx.textBaseline = 'middle'
    // Axis and grid.
    const step = niceStep(v1 - v0)
    ctx.strokeStyle = '#eee'
    ctx.fillStyle = '#555'
    for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      const x = X(t)
      ctx.beginPath(); ctx.moveTo(x, AXIS - 4); ctx.lineTo(x, height); ctx.stroke()
      ctx.fillText((t / 1e6).toFixed(step < 1e6 ? 3 : 0) + ' ms', x + 2, AXIS / 2)
    }
    ctx.save()
    ctx.beginPath(); ctx.rect(LABEL, 0, width - LABEL, height); ctx.clip()
    for (const r of rows) {
      if (r.section) {
        ctx.fillStyle = '#f4f4f4'
        ctx.fillRect(LABEL, r.y, width, ROW)
        continue
      }
      if (r.spans) {
        for (const s of r.spans) {
          if (s.e < v0 || s.s > v1) continue
          bar(X(s.s), X(s.e), r.y, s.c, '#777', false, s.x)
        }
        continue
      }
      for (const o of r.ops) {
        if (o.e < v0 || o.s > v1) continue
        const c = COLORS[o.f] || '#999'
        const x0 = X(o.s), x1 = X(o.e)
        if (o.t === 'ok') bar(x0, x1, r.y, c, '#555', false, o.x)
        else if (o.t === 'fail') bar(x0, x1, r.y, '#fff', c, false, o.x)
        else bar(x0, x1, r.y, alpha(c, 0.3), c, true, o.x)
        if (o.b) {
          ctx.strokeStyle = '#d00'; ctx.lineWidth = 2
          ctx.strokeRect(x0 - 1, r.y - 1, Math.max(2, x1 - x0) + 2, ROW)
          ctx.lineWidth = 1
        }
      }
    }
    // Violations.
    ctx.strokeStyle = 'rgba(220,0,0,0.8)'
    for (const m of data.marks) {
      if (m.t < v0 || m.t > v1) continue
      const x = X(m.t)
      ctx.beginPath(); ctx.moveTo(x, AXIS); ctx.lineTo(x, height); ctx.stroke()
    }
    ctx.restore()
    // Labels, pinned at the left.
    ctx.fillStyle = '#fff'
    ctx.fillRect(0, 0, LABEL, height)
    for (const r of rows) {
      if (r.section) {
        ctx.fillStyle = '#333'
        ctx.font = 'bold 11px sans-serif'
        ctx.fillText(r.section, 4, r.y + ROW / 2)
        ctx.font = '11px sans-serif'
      } else {
        ctx.fillStyle = '#000'
        ctx.fillText(r.name, 14, r.y + ROW / 2)
      }
    }
    ctx.strokeStyle = '#ccc'
    ctx.beginPath(); ctx.moveTo(LABEL - 0.5, 0); ctx.lineTo(LABEL - 0.5, height); ctx.stroke()
    document.getElementById('range').textContent = ms(v0) + ' – ' + ms(v1)
  }

  function zoom(factor, at) {
    const t = at === undefined ? (v0 + v1) / 2 : at
    let n0 = t - (t - v0) * factor
    let n1 = t + (v1 - t) * factor
    if (n1 - n0 < 1000) return // 1 µs
    if (n1 - n0 > end - begin) { n0 = begin; n1 = end }
    if (n0 < begin) { n1 += begin - n0; n0 = begin }
    if (n1 > end) { n0 -= n1 - end; n1 = end }
    v0 = Math.max(begin, n0); v1 = Math.min(end, n1)
    draw()
  }
  canvas.addEventListener('wheel', (e) => {
    const x = e.offsetX
    if (x < LABEL) return
    e.preventDefault()
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      pan((e.deltaX || e.deltaY) / (width - LABEL) * (v1 - v0))
      return
    }
    zoom(Math.pow(1.0015, e.deltaY), T(x))
  }, {passive: false})
  function pan(dt) {
    dt = Math.max(begin - v0, Math.min(end - v1, dt))
    v0 += dt; v1 += dt
    draw()
  }
  let drag = null
  canvas.addEventListener('mousedown', (e) => { drag = e.clientX; canvas.style.cursor = 'grabbing' })
  window.addEventListener('mouseup', () => { drag = null; canvas.style.cursor = 'grab' })
  window.addEventListener('mousemove', (e) => {
    if (drag === null) return
    const dx = e.clientX - drag
    drag = e.clientX
    pan(-dx / (width - LABEL - 10) * (v1 - v0))
  })
  document.getElementById('zin').onclick = () => zoom(0.5)
  document.getElementById('zout').onclick = () => zoom(2)
  document.getElementById('zreset').onclick = () => { v0 = begin; v1 = end; draw() }
  const zbad = document.getElementById('zbad')
  if (data.marks.length === 0) zbad.disabled = true
  zbad.onclick = () => {
    const m = data.marks.find((k) => k.t >= begin && k.t <= end) || data.marks[0]
    const span = Math.min(end - begin, Math.max(1e6, (end - begin) / 50))
    v0 = Math.max(begin, m.t - span / 2); v1 = Math.min(end, v0 + span)
    draw()
  }

  // Tooltips.
  canvas.addEventListener('mousemove', (e) => {
    const x = e.offsetX, yy = e.offsetY
    let text = null
    const r = rows.find((k) => yy >= k.y && yy < k.y + ROW)
    if (r && x >= LABEL) {
      const t = T(x), slack = 3 / (width - LABEL) * (v1 - v0)
      const items = r.spans || r.ops || []
      for (const it of items) {
        if (t >= it.s - slack && t <= it.e + slack) { text = (r.name ? r.name + ': ' : '') + it.d; break }
      }
    }
    if (!text && x >= LABEL) {
      const t = T(x), slack = 3 / (width - LABEL) * (v1 - v0)
      const m = data.marks.find((k) => Math.abs(k.t - t) <= slack)
      if (m) text = 'violation at ' + ms(m.t) + '\n' + m.d
    }
    if (!text) { tip.style.display = 'none'; return }
    tip.textContent = text
    tip.style.display = 'block'
    const w = tip.getBoundingClientRect().width
    tip.style.left = Math.min(e.clientX + 14, document.documentElement.clientWidth - w - 6) + 'px'
    tip.style.top = (e.clientY + 14) + 'px'
  })
  canvas.addEventListener('mouseleave', () => { tip.style.display = 'none' })
  window.addEventListener('resize', resize)
  resize()
})()
</script>
</body>
</html>
`

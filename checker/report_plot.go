package checker

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"sort"
	"strings"

	"github.com/ares-torture/torture/history"
)

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

// svgOpen starts a plot that scales with the window: its viewBox is the
// drawing's size, its width the page's (see the style sheet).
func svgOpen(b *strings.Builder, height int, label string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" font-size="11" role="img" aria-label="%s">`,
		svgW, height, html.EscapeString(label))
}

// Colours: reads and writes apart; red only for violations.
const (
	readColor  = "#1f6fb5"
	writeColor = "#8e44ad"
	otherColor = "#6b7b8c"
	infoColor  = "#e67e22"
	failColor  = "#7f7f7f"
	violColor  = "#d0021b"
	quantColor = "#2c3e50"
)

func fColor(f string) string {
	switch f {
	case history.FRead:
		return readColor
	case history.FWrite:
		return writeColor
	}
	return otherColor
}

// notApplied says a fault reached nothing (nemesis.NotApplied).
func notApplied(iv *interval) bool { return strings.HasPrefix(iv.Error, "not applied") }

// faultTitle describes a fault for a tooltip; times count from origin.
func faultTitle(iv *interval, origin int64) string {
	return html.EscapeString(fmt.Sprintf("%s %s: %s – %s%s", iv.Fault, iv.Value, fmtNS(iv.Start-origin), fmtNS(iv.End-origin),
		map[bool]string{true: " (never stopped)"}[iv.Open]))
}

// drawMarks draws a violation marker at each anomaly's time: a red line
// from y0 to y1, a triangle on top, and beside it the key, the time and
// the faults active then.
func drawMarks(b *strings.Builder, marks []anomRow, x func(int64) float64, origin int64, y0, y1 int) {
	for i, m := range marks {
		xx := x(m.At + origin)
		title := html.EscapeString(fmt.Sprintf("%s violation on %s at %s; faults active then: %s. %s", m.Checker, m.Key, fmtNS(m.At), m.Faults, m.Description))
		fmt.Fprintf(b, `<g class="violation"><title>%s</title><line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-width="1.5" stroke-dasharray="5 3"/>`,
			title, xx, xx, y0, y1, violColor)
		fmt.Fprintf(b, `<path d="M%.1f %d l-5 -8 h10 z" fill="%s"/>`, xx, y0+8, violColor)
		anchor, tx := "start", xx+5
		if xx > padL+plotW*0.6 {
			anchor, tx = "end", xx-5
		}
		label := fmt.Sprintf("✖ %s at %s: %s", short(m.Key), fmtNS(m.At), m.Faults)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="%s" fill="%s" font-weight="bold" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text></g>`,
			tx, y0+20+(i%4)*13, anchor, violColor, html.EscapeString(label))
	}
}

// timelineSVG draws fault lanes and shaded bands over a latency scatter
// (log scale) of every sampled operation, by completion time, with the
// p50 and p99 of each rate bin and a marker at each violation. The time
// axis runs from t0 to t1 (history times), labelled from t0.
func timelineSVG(h *prepared, st Stats, marks []anomRow, t0, t1 int64) template.HTML {
	span := float64(t1 - t0)
	if span <= 0 {
		span = 1
	}
	x := func(t int64) float64 { return padL + float64(t-t0)/span*plotW }
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
	svgOpen(&b, height, "timeline: latency of each operation, faults and violations")
	// Fault lanes and bands.
	for i, k := range kindList {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, padL-4, padTop+i*laneH+10, html.EscapeString(short(k)))
	}
	for _, bd := range faultBands(h.nemesis, x, t0, nil) {
		c := faultColor(bd.kind)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`,
			bd.x0, padTop+kinds[bd.kind]*laneH, bd.x1-bd.x0, laneH-2, c, bd.title)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.25"/>`,
			bd.x0, top, bd.x1-bd.x0, scatH, c)
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
	axisX(&b, t0, t1, x, top+scatH)
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
	for _, set := range [][]int{okIdx, otherIdx} {
		for _, i := range set {
			o := &h.ops[i]
			ms := float64(o.ret-o.call) / 1e6
			f := o.f
			if o.orig != "" {
				f = o.orig
			}
			title := html.EscapeString(fmt.Sprintf("%s %s %s (process %d, line %d): %s–%s, %.1f ms", o.typ, f, o.key, o.process, o.line, fmtNS(o.call-t0), fmtNS(o.ret-t0), ms))
			c, px, py := fColor(o.f), x(o.ret), y(ms)
			switch {
			case o.typ == history.Fail:
				fmt.Fprintf(&b, `<path d="M%.1f %.1fl4 4m0-4l-4 4" stroke="%s" stroke-width="1.2"><title>%s</title></path>`, px-2, py-2, c, title)
			case o.f == history.FWrite:
				fill := fmt.Sprintf(`fill="%s" fill-opacity="0.6"`, c)
				if o.typ == history.Info {
					fill = fmt.Sprintf(`fill="none" stroke="%s"`, c)
				}
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="3.5" height="3.5" %s><title>%s</title></rect>`, px-1.75, py-1.75, fill, title)
			default:
				fill := fmt.Sprintf(`r="2" fill="%s" fill-opacity="0.6"`, c)
				if o.typ == history.Info {
					fill = fmt.Sprintf(`r="2.5" fill="none" stroke="%s"`, c)
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" %s><title>%s</title></circle>`, px, py, fill, title)
			}
		}
	}
	// Latency quantiles of each rate bin, as steps.
	width := int64(math.Round(st.RateBinSeconds * 1e9))
	for _, q := range []struct {
		name, dash string
		get        func(RateBin) float64
	}{{"p50", "", func(r RateBin) float64 { return r.P50 }}, {"p99", ` stroke-dasharray="4 2"`, func(r RateBin) float64 { return r.P99 }}} {
		var d strings.Builder
		prev, lastX, lastY := false, 0.0, 0.0
		for i, bin := range st.Rate {
			v := q.get(bin)
			if v <= 0 || width <= 0 {
				prev = false
				continue
			}
			x0, x1, yy := x(st.Origin+int64(i)*width), x(st.Origin+int64(i+1)*width), y(v)
			if prev {
				fmt.Fprintf(&d, "L%.1f %.1f", x0, yy)
			} else {
				fmt.Fprintf(&d, "M%.1f %.1f", x0, yy)
			}
			fmt.Fprintf(&d, "H%.1f", x1)
			prev, lastX, lastY = true, x1, yy
		}
		if d.Len() > 0 {
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.3"%s><title>%s latency of the ok operations completed in each %gs</title></path>`,
				d.String(), quantColor, q.dash, q.name, st.RateBinSeconds)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="%s" stroke="#fff" stroke-width="3" paint-order="stroke">%s</text>`, lastX-2, lastY-3, quantColor, q.name)
		}
	}
	drawMarks(&b, marks, x, t0, padTop, top+scatH)
	b.WriteString(`</svg>`)
	n := 0
	for i := range h.ops {
		if h.ops[i].ret >= 0 {
			n++
		}
	}
	note := fmt.Sprintf(`<p class="small">Each completed operation at its completion time and latency: <span style="color:%s">● reads</span>, <span style="color:%s">■ writes</span>; filled ok, hollow info (indeterminate), × fail. Lines: p50 and (dashed) p99 latency of the ok operations of each %gs. Shaded bands are faults; <span class="viol">✖ red markers are violations</span>, with the faults active then. %d of %d operations drawn.</p>`,
		readColor, writeColor, st.RateBinSeconds, len(okIdx)+len(otherIdx), n)
	return template.HTML(b.String() + note) // #nosec: built from escaped parts
}

// rateSVG plots completions per second (ok reads, ok writes, info, fail)
// over fault bands, with a marker at each violation. The time axis runs
// from t0 to t1 as in timelineSVG.
func rateSVG(st Stats, marks []anomRow, t0, t1 int64) template.HTML {
	if len(st.Rate) == 0 {
		return template.HTML(`<p class="small">No completed operations.</p>`)
	}
	height := padTop + rateH + padBot
	top := padTop
	maxV := 1.0
	split, other := false, false
	for _, bin := range st.Rate {
		maxV = math.Max(maxV, float64(max(bin.ReadOK, bin.WriteOK, bin.OK-bin.ReadOK-bin.WriteOK, bin.Info, bin.Fail))/st.RateBinSeconds)
		split = split || bin.ReadOK+bin.WriteOK > 0
		other = other || bin.OK > bin.ReadOK+bin.WriteOK
	}
	span := float64(t1 - t0)
	if span <= 0 {
		span = 1
	}
	x := func(t int64) float64 { return padL + float64(t-t0)/span*plotW }
	width := int64(math.Round(st.RateBinSeconds * 1e9))
	y := func(v float64) float64 { return float64(top+rateH) - v/maxV*rateH }
	var b strings.Builder
	svgOpen(&b, height, "completions per second, faults and violations")
	kinds := map[string]bool{}
	var kindList []string
	for _, bd := range faultBands(st.Nemesis, x, t0, notApplied) {
		if !kinds[bd.kind] {
			kinds[bd.kind] = true
			kindList = append(kindList, bd.kind)
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.25"><title>%s</title></rect>`,
			bd.x0, top, bd.x1-bd.x0, rateH, faultColor(bd.kind), bd.title)
	}
	for _, frac := range []float64{0, 0.5, 1} {
		yy := y(maxV * frac)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%.0f/s</text>`,
			padL, padL+plotW, yy, yy, padL-4, yy+4, maxV*frac)
	}
	type series struct {
		name, color, dash string
		get               func(RateBin) int
	}
	var ss []series
	if split {
		ss = append(ss, series{"ok reads", readColor, "", func(r RateBin) int { return r.ReadOK }},
			series{"ok writes", writeColor, "", func(r RateBin) int { return r.WriteOK }})
	}
	if other {
		name := "ok"
		if split {
			name = "other ok"
		}
		ss = append(ss, series{name, otherColor, "", func(r RateBin) int { return r.OK - r.ReadOK - r.WriteOK }})
	}
	ss = append(ss, series{"info", infoColor, ` stroke-dasharray="4 2"`, func(r RateBin) int { return r.Info }},
		series{"fail", failColor, ` stroke-dasharray="2 2"`, func(r RateBin) int { return r.Fail }})
	var legend []string
	for _, s := range ss {
		// Steps: each bin is a level across its width.
		var pts []string
		for i, bin := range st.Rate {
			yy := y(float64(s.get(bin)) / st.RateBinSeconds)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f %.1f,%.1f", x(st.Origin+int64(i)*width), yy, x(st.Origin+int64(i+1)*width), yy))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"><title>%s per second</title></polyline>`, s.color, s.dash, strings.Join(pts, " "), s.name)
		legend = append(legend, fmt.Sprintf(`<span style="color:%s">%s</span>`, s.color, s.name))
	}
	axisX(&b, t0, t1, x, top+rateH)
	drawMarks(&b, marks, x, t0, top, top+rateH)
	b.WriteString(`</svg>`)
	var faults []string
	for _, k := range kindList {
		faults = append(faults, fmt.Sprintf(`<span style="background:%s;padding:0 .3em">%s</span>`, faultColor(k), html.EscapeString(k)))
	}
	fl := ""
	if len(faults) > 0 {
		fl = " Fault bands: " + strings.Join(faults, " ") + "."
	}
	note := fmt.Sprintf(`<p class="small">Completions per second (bins of %gs): %s.%s <span class="viol">✖ red markers are violations.</span></p>`, st.RateBinSeconds, strings.Join(legend, ", "), fl)
	return template.HTML(b.String() + note) // #nosec: escaped parts and numbers
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

// fmtSize is a file size for people.
func fmtSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// band is one shaded stretch of one fault kind on a plot. Faults of a kind
// whose drawn extents touch are merged into one band, so a run with
// thousands of faults draws at most about one band per pixel column and
// kind, not one rectangle (and tooltip) per fault.
type band struct {
	kind   string
	x0, x1 float64
	title  string
}

// faultBands merges the faults of each kind that touch on the plot (x maps
// history time to the plot's x), skipping those skip says to; times in the
// tooltips count from origin. Bands are at least 1.5 units wide, so a
// short fault stays visible.
func faultBands(nem []interval, x func(int64) float64, origin int64, skip func(*interval) bool) []band {
	byKind := map[string][]*interval{}
	var kinds []string
	for i := range nem {
		iv := &nem[i]
		if skip != nil && skip(iv) {
			continue
		}
		if _, ok := byKind[iv.Fault]; !ok {
			kinds = append(kinds, iv.Fault)
		}
		byKind[iv.Fault] = append(byKind[iv.Fault], iv)
	}
	var out []band
	for _, k := range kinds {
		ivs := byKind[k]
		sort.SliceStable(ivs, func(a, b int) bool { return ivs[a].Start < ivs[b].Start })
		var cur band
		var first, last *interval
		n := 0
		flush := func() {
			if n == 0 {
				return
			}
			if n == 1 {
				cur.title = faultTitle(first, origin)
			} else {
				cur.title = html.EscapeString(fmt.Sprintf("%d %s faults from %s to %s", n, k, fmtNS(first.Start-origin), fmtNS(last.End-origin)))
			}
			out = append(out, cur)
		}
		for _, iv := range ivs {
			x0, x1 := x(iv.Start), math.Max(x(iv.End), x(iv.Start)+1.5)
			if n > 0 && x0 <= cur.x1+0.5 {
				cur.x1 = math.Max(cur.x1, x1)
				if iv.End > last.End {
					last = iv
				}
				n++
				continue
			}
			flush()
			cur, first, last, n = band{kind: k, x0: x0, x1: x1}, iv, iv, 1
		}
		flush()
	}
	return out
}

package checker

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"

	"github.com/ares-torture/torture/history"
)

// Geometry of a conflict's diagram.
const (
	cfW      = 900 // width
	cfLabelW = 330 // the labels' column
	cfRowH   = 22
	cfBarH   = 12
	cfTop    = 8
	cfAxisH  = 28
)

// Colours of a conflict's bars.
const (
	cfReadColor  = "#e08a1e"
	cfWriteColor = "#3b6fc4"
)

// conflictHTML is the report's section for one anomaly's minimal conflict:
// a real-time diagram of its operations (one bar per operation from invoke
// to completion, times in ms from the run's start) and the sentence that
// explains it. It is empty for anomalies without one.
func conflictHTML(a Anomaly) template.HTML {
	c := a.Conflict
	if c == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="conflict"><h2>Minimal conflict on key <code>%s</code></h2>`, html.EscapeString(a.Key))
	if len(c.Ops) == 0 {
		fmt.Fprintf(&b, `<p class="small">%s</p></div>`, html.EscapeString(c.Note))
		return template.HTML(b.String()) // #nosec: escaped parts
	}
	fmt.Fprintf(&b, `<p><b>%s.</b></p>`, html.EscapeString(capitalize(c.Explanation)))
	b.WriteString(conflictSVG(c))
	what := fmt.Sprintf("These %d operations cannot be linearized on their own", len(c.Ops))
	if c.Minimal {
		what += ", and without any one of them the rest can"
	}
	fmt.Fprintf(&b, `<p class="small">%s (found among %d operations with %d checks). `+
		`<span style="color:%s">■</span> reads, <span style="color:%s">■</span> writes; a hatched bar is indeterminate (it may take effect at any time after its invoke, or never).`,
		what, c.From, c.Checks, cfReadColor, cfWriteColor)
	if c.Note != "" {
		fmt.Fprintf(&b, " %s.", html.EscapeString(c.Note))
	}
	b.WriteString(`</p></div>`)
	return template.HTML(b.String()) // #nosec: escaped parts
}

// conflictSVG draws one row per operation: a bar from its invoke to its
// completion, labelled with process, function, value, tag and
// configuration.
func conflictSVG(c *Conflict) string {
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, o := range c.Ops {
		lo = min(lo, o.Invoke)
		hi = max(hi, o.Invoke)
		if o.Complete != nil {
			hi = max(hi, *o.Complete)
		}
	}
	span := hi - lo
	if span <= 0 {
		span = 1
	}
	// A margin of 5% either side; open bars run to the right edge.
	x0 := float64(cfLabelW + 10)
	pw := float64(cfW-cfLabelW-30) / 1.1
	x := func(t int64) float64 { return x0 + pw*0.05 + float64(t-lo)/float64(span)*pw }
	right := x0 + pw*1.1
	height := cfTop + len(c.Ops)*cfRowH + cfAxisH
	ms := func(t int64) string { return fmt.Sprintf("%.1f ms", float64(t-c.RunStart)/1e6) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet" font-size="11" role="img" aria-label="minimal conflict: one bar per operation">`, cfW, height)
	b.WriteString(`<defs><pattern id="cfhatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><line x1="0" y1="0" x2="0" y2="6" stroke="` + cfWriteColor + `" stroke-width="3"/></pattern></defs>`)
	for i, o := range c.Ops {
		y := cfTop + i*cfRowH
		color := cfWriteColor
		if o.As == history.FRead {
			color = cfReadColor
		}
		fill := color
		end := right
		if o.Complete != nil {
			end = x(*o.Complete)
		}
		open := o.As == history.FWrite && o.Type != history.Ok
		if open {
			fill = "url(#cfhatch)"
			end = right
		}
		label := conflictLabel(o)
		title := fmt.Sprintf("%s (line %d, %s): invoked %s", label, o.Line, o.Type, ms(o.Invoke))
		if o.Complete != nil {
			title += ", completed " + ms(*o.Complete)
		}
		fmt.Fprintf(&b, `<text x="4" y="%d" fill="%s">%s</text>`, y+cfBarH-1, color, html.EscapeString(label))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="%s"><title>%s</title></rect>`,
			x(o.Invoke), y, math.Max(end-x(o.Invoke), 2), cfBarH, fill, color, html.EscapeString(title))
	}
	// The axis: the first invoke and the last completion, in ms from the
	// run's start, and a few ticks between.
	ay := cfTop + len(c.Ops)*cfRowH + 2
	fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/>`, x0, right, ay, ay)
	step := niceStep(float64(span) / 1e6 / 4)
	first := math.Ceil(float64(lo-c.RunStart)/1e6/step) * step
	for t := first; t <= float64(hi-c.RunStart)/1e6+1e-9; t += step {
		xx := x(c.RunStart + int64(t*1e6))
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`,
			xx, xx, ay, ay+4, xx, ay+16, fmtMillis(t))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="end">ms from the run's start</text>`, x0-6, ay+16)
	b.WriteString(`</svg>`)
	return b.String()
}

// conflictLabel is "p4 write c4-31 ⟨12,w3⟩ cfg 2".
func conflictLabel(o ConflictOp) string {
	s := fmt.Sprintf("p%d %s", o.Process, o.F)
	switch {
	case o.Derived:
		s += " (base read) → " + valLabel(o.Value)
	case o.As == history.FRead:
		s += " → " + valLabel(o.Value)
	default:
		s += " " + valLabel(o.Value)
	}
	if o.Type != history.Ok {
		s += " [" + string(o.Type) + "]"
	}
	if o.Tag != "" {
		s += " " + o.Tag
	}
	if o.Config != nil {
		s += fmt.Sprintf(" cfg %d", *o.Config)
	}
	return s
}

func valLabel(v string) string {
	if v == "" {
		return `""`
	}
	if len(v) > 24 {
		return v[:24] + "…"
	}
	return v
}

func fmtMillis(ms float64) string {
	return fmt.Sprintf("%g", math.Round(ms*1000)/1000)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

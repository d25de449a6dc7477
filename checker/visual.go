package checker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The visualization of an invalid key (linearizability/<key>.html) is
// Porcupine's page (github.com/anishathalye/porcupine v1.3.1: a template
// with its CSS, its JavaScript and the data as JSON), customized here:
//
//   - the title names the test, the run directory and the key, and a header
//     says why the key fails and what the page shows;
//   - rows are labelled by process ("p12"), not by Porcupine's row number;
//   - call and return times are milliseconds from the run's start, and the
//     tooltips carry the tag and configuration (describeMetadata);
//   - the page opens scrolled to the failing operation, selected, and shows
//     only the operations around it, with "show more" and "show all";
//   - the row labels stay in view while scrolling horizontally.
//
// Everything is done to the page Porcupine writes: its data is rewritten in
// Go, and a script wraps its render function. Nothing is fetched: the page
// works offline. If Porcupine's page is not what this code expects (another
// version), the page is written as Porcupine made it.

// visualContext is how many operations before the failing one the page
// shows when it opens.
const visualContext = 30

// visualizeKey writes the visualization of d's key to path. meta (may be
// nil) names the run in the title. Porcupine panics on internal
// inconsistencies; a report must not take the run down with it.
func visualizeKey(d *diagnosis, meta *Meta, path string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("porcupine visualization failed: %v", p)
		}
	}()
	var buf bytes.Buffer
	if err := porcupine.Visualize(d.model, *d.info, &buf); err != nil {
		return err
	}
	page, cerr := customizePage(buf.Bytes(), d.view(meta))
	if cerr != nil {
		page = buf.Bytes()
	}
	return writeFileAtomic(path, page)
}

// pageView is what the script added to the page needs, embedded in it as
// the JSON object tortureView.
type pageView struct {
	Title string `json:"title"`
	// Lanes[i] labels Porcupine's row i.
	Lanes []string `json:"lanes"`
	// Failing is the index of the failing operation in Porcupine's
	// (single) partition, -1 when it is not drawn.
	Failing int `json:"failing"`
	// Context is how many operations before the failing one are shown
	// at first.
	Context int `json:"context"`
	// infty is the return time of indeterminate operations, shown as such.
	infty int64
	desc  string
	notes []string
}

func (d *diagnosis) view(meta *Meta) pageView {
	v := pageView{
		Title:   visualTitle(meta, d.kh.key),
		Lanes:   []string{},
		Failing: d.failIdx,
		Context: visualContext,
		infty:   d.kh.infty,
		desc:    d.desc,
		notes:   d.note,
	}
	for _, p := range d.lanes {
		v.Lanes = append(v.Lanes, "p"+strconv.Itoa(p))
	}
	if o := d.failing; o != nil {
		r := o.ref()
		s := r.F + " " + r.Key
		switch {
		case r.F == "write":
			s += " " + strconv.Quote(short(r.Value))
		case r.Type == "ok":
			s += " → " + strconv.Quote(short(r.Value))
		}
		s += fmt.Sprintf(" (p%d, line %d, %s, %s", o.process, o.line, o.typ, fmtMS(o.call))
		if o.ret >= 0 {
			s += " to " + fmtMS(o.ret)
		}
		v.desc += "; failing operation: " + s + protoFacts(o) + ")"
	}
	return v
}

// visualTitle is "<test> <run dir> — key <key>", without what meta lacks.
func visualTitle(meta *Meta, key string) string {
	var parts []string
	if meta != nil {
		if meta.Test != "" {
			parts = append(parts, meta.Test)
		}
		if meta.RunDir != "" {
			parts = append(parts, meta.RunDir)
		}
	}
	t := "key " + key
	if len(parts) > 0 {
		t = strings.Join(parts, " ") + " — " + t
	}
	return t
}

// Porcupine's data, as its visualization.go encodes it (field names are
// the JSON names).
type visHistory struct {
	ClientId      int
	Start         int
	OriginalStart string
	End           int
	OriginalEnd   string
	Description   string
	Metadata      string
}

type visStep struct {
	Index            int
	StateDescription string
}

type visPartition struct {
	History               []visHistory
	PartialLinearizations [][]visStep
	Largest               map[int]int
}

type visAnnotation struct {
	ClientId        int
	Tag             string
	Start           int
	End             int
	Description     string
	Details         string
	Annotation      bool
	TextColor       string
	BackgroundColor string
}

type visData struct {
	Partitions  []visPartition
	Annotations []visAnnotation
}

// Markers in Porcupine's page (v1.3.1) that customizePage rewrites.
const (
	visDataStart  = "const data = "
	visRender     = "render(data)"
	visTitle      = "<title>Porcupine</title>"
	visStyleEnd   = "</style>"
	visBody       = "<body>"
	visTagWidth   = "const tag = i < realClients ? i.toString() : sortedTags[i - realClients]"
	visTagText    = "text.textContent = i < realClients ? i : sortedTags[i - realClients]"
	visLaneWidth  = "const tag = i < realClients ? tortureLane(i) : sortedTags[i - realClients]"
	visLaneText   = "text.textContent = i < realClients ? tortureLane(i) : sortedTags[i - realClients]"
	visRenderHook = "tortureRender(data)"
)

// errPage says Porcupine's page is not the one customizePage knows.
var errPage = errors.New("unexpected Porcupine page")

// customizePage rewrites Porcupine's page (see the comment at the top of
// this file).
func customizePage(page []byte, v pageView) ([]byte, error) {
	s := string(page)
	i := strings.Index(s, visDataStart)
	if i < 0 {
		return nil, errPage
	}
	i += len(visDataStart)
	n := strings.IndexByte(s[i:], '\n')
	if n < 0 {
		return nil, errPage
	}
	var data visData
	if err := json.Unmarshal([]byte(s[i:i+n]), &data); err != nil {
		return nil, fmt.Errorf("%w: %v", errPage, err)
	}
	for p := range data.Partitions {
		for j := range data.Partitions[p].History {
			h := &data.Partitions[p].History[j]
			h.OriginalStart = visTime(h.OriginalStart, v.infty)
			h.OriginalEnd = visTime(h.OriginalEnd, v.infty)
			// Porcupine puts the metadata into the tooltip as HTML.
			h.Metadata = html.EscapeString(h.Metadata)
		}
	}
	if v.Failing >= 0 && (len(data.Partitions) != 1 || v.Failing >= len(data.Partitions[0].History)) {
		v.Failing = -1
	}
	nd, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	vj, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	rest := s[i+n:]
	if strings.Count(rest, visRender) != 1 {
		return nil, errPage
	}
	rest = strings.Replace(rest, visRender, "const tortureView = "+string(vj)+"\n"+visualJS+"\n"+visRenderHook, 1)
	s = s[:i] + string(nd) + rest

	for _, r := range [][2]string{
		{visTitle, "<title>" + html.EscapeString(v.Title) + "</title>"},
		{visStyleEnd, visualCSS + visStyleEnd},
		{visBody, visBody + "\n" + v.header()},
		{visTagWidth, visLaneWidth},
		{visTagText, visLaneText},
	} {
		if strings.Count(s, r[0]) != 1 {
			return nil, fmt.Errorf("%w: %q", errPage, r[0])
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	return []byte(s), nil
}

// visTime turns one of Porcupine's times (ns, as a decimal string) into
// milliseconds from the run's start.
func visTime(ns string, infty int64) string {
	t, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return ns
	}
	if t >= infty {
		return "none (indeterminate: may take effect at any time after its call)"
	}
	return fmtMS(t)
}

// fmtMS formats nanoseconds from the run's start as milliseconds.
func fmtMS(ns int64) string {
	return strconv.FormatFloat(float64(ns)/1e6, 'f', 3, 64) + " ms"
}

// header is the page's heading: title, explanation, notes and the controls
// of the cropped view.
func (v pageView) header() string {
	var b strings.Builder
	b.WriteString(`<div id="torture-top"><h1 id="torture-title">`)
	b.WriteString(html.EscapeString(v.Title))
	b.WriteString("</h1>\n")
	if v.desc != "" {
		b.WriteString(`<p class="torture-desc">` + html.EscapeString(v.desc) + "</p>\n")
	}
	for _, n := range v.notes {
		b.WriteString(`<p class="torture-note">` + html.EscapeString(n) + "</p>\n")
	}
	b.WriteString(`<p id="torture-crop"><span id="torture-shown"></span> ` +
		`<button id="torture-more" type="button">show more</button> ` +
		`<button id="torture-all" type="button">show all</button> ` +
		`<button id="torture-fail" type="button">go to the failure</button> ` +
		`<span class="torture-hint">times are milliseconds from the run's start; rows are processes</span></p>` +
		"\n</div>\n")
	return b.String()
}

const visualCSS = `
#torture-top {
  position: fixed; top: 0; left: 0; right: 0; z-index: 5;
  background: rgba(255, 255, 255, 0.95); border-bottom: 1px solid #ddd;
  padding: 4px 10px;
}
#torture-top h1 { font-size: 1.05rem; margin: 2px 0 4px; }
#torture-top p { margin: 2px 0; font-size: 0.85rem; max-width: 100em; }
.torture-note { color: #555; }
.torture-hint { color: #777; margin-left: 1em; }
#legend { position: static; padding: 2px 0 0; background: none; backdrop-filter: none; }
#torture-lanes { position: absolute; z-index: 2; pointer-events: none; }
#torture-lanes .lane-bg { fill: rgba(255, 255, 255, 0.92); }
.tooltip { z-index: 6; }
`

// visualJS wraps Porcupine's render: crop the data around the failing
// operation, render, relabel and pin the rows, select the failing
// operation. render is Porcupine's; tortureView is the pageView.
const visualJS = `
function tortureLane(i) {
  return i < tortureView.lanes.length ? tortureView.lanes[i] : String(i)
}

// tortureCrop keeps the operations that end at or after the start of the
// n-th operation (by call) before the failing one (or the last one), and
// what refers to them. It returns the cropped copy, the kept index of the
// failing operation, and counts.
function tortureCrop(orig, n) {
  const d = JSON.parse(JSON.stringify(orig))
  let total = 0
  const all = []
  for (const [p, part] of d.Partitions.entries()) {
    total += part.History.length
    for (const [i, e] of part.History.entries()) {
      all.push({p, i, start: e.Start, end: e.End})
    }
  }
  if (all.length === 0) {
    return {d, failing: -1, shown: 0, total}
  }
  all.sort((a, b) => a.start - b.start || a.end - b.end)
  let anchor = all.findIndex((x) => x.p === 0 && x.i === tortureView.failing)
  if (anchor < 0) {
    anchor = all.length - 1
  }
  const lo = n >= anchor ? -Infinity : all[anchor - n].start
  let shown = 0
  let failing = -1
  for (const part of d.Partitions) {
    const keep = new Map()
    const hist = []
    for (const [i, e] of part.History.entries()) {
      if (e.End >= lo) {
        keep.set(i, hist.length)
        hist.push(e)
      }
    }
    if (part === d.Partitions[0] && keep.has(tortureView.failing)) {
      failing = keep.get(tortureView.failing)
    }
    shown += hist.length
    const lins = part.PartialLinearizations
      .map((lin) => lin.filter((s) => keep.has(s.Index)).map((s) => ({Index: keep.get(s.Index), StateDescription: s.StateDescription})))
      .filter((lin) => lin.length > 0)
      .sort((a, b) => b.length - a.length)
    const largest = {}
    for (const [j, lin] of lins.entries()) {
      for (const s of lin) {
        if (!Object.hasOwn(largest, s.Index)) {
          largest[s.Index] = j
        }
      }
    }
    part.History = hist
    part.PartialLinearizations = lins
    part.Largest = largest
  }
  if (lo !== -Infinity) {
    d.Annotations = d.Annotations.filter((a) => a.End >= lo)
    for (const a of d.Annotations) {
      a.Start = Math.max(a.Start, lo)
    }
  }
  return {d, failing, shown, total}
}

let tortureShown = tortureView.context
let tortureData = null
let tortureCurrent = null

function tortureRender(data) {
  tortureData = data
  const legend = document.querySelector('#legend')
  if (legend) {
    document.querySelector('#torture-top').append(legend)
  }
  tortureDraw(true)
  document.querySelector('#torture-more').addEventListener('click', () => {
    tortureShown = tortureShown * 2 + 10
    tortureDraw(true)
  })
  document.querySelector('#torture-all').addEventListener('click', () => {
    tortureShown = Infinity
    tortureDraw(true)
  })
  document.querySelector('#torture-fail').addEventListener('click', () => tortureFocus(false))
  window.addEventListener('scroll', tortureLanes)
  window.addEventListener('resize', tortureLayout)
}

function tortureDraw(select) {
  const canvas = document.querySelector('#canvas')
  canvas.innerHTML = ''
  // Porcupine adds a listener to the jump link on every render; start afresh.
  const jump = document.querySelector('#jump-link')
  if (jump) {
    jump.replaceWith(jump.cloneNode(true))
  }
  const old = document.querySelector('#torture-lanes')
  if (old) {
    old.remove()
  }
  const c = tortureCrop(tortureData, tortureShown)
  tortureCurrent = c
  render(c.d)
  const more = c.shown < c.total
  document.querySelector('#torture-shown').textContent = more
    ? 'showing ' + c.shown + ' of ' + c.total + ' operations (those around the failure)'
    : 'showing all ' + c.total + ' operations'
  document.querySelector('#torture-more').disabled = !more
  document.querySelector('#torture-all').disabled = !more
  tortureLayout()
  tortureFocus(select)
}

function tortureLayout() {
  const top = document.querySelector('#torture-top')
  document.querySelector('#canvas').style.marginTop = top.offsetHeight + 10 + 'px'
  tortureLanes()
}

// tortureLanes pins a copy of the row labels to the left edge of the view.
function tortureLanes() {
  const svg = document.querySelector('#canvas > svg')
  if (!svg) {
    return
  }
  let pin = document.querySelector('#torture-lanes')
  if (!pin) {
    const bg = svg.querySelector('g')
    const divider = bg.querySelector('line.divider')
    const width = divider ? Number(divider.getAttribute('x1')) : 60
    const ns = 'http://www.w3.org/2000/svg'
    pin = document.createElement('div')
    pin.id = 'torture-lanes'
    const s = document.createElementNS(ns, 'svg')
    s.setAttribute('width', width)
    s.setAttribute('height', svg.getAttribute('height'))
    const r = document.createElementNS(ns, 'rect')
    r.setAttribute('class', 'lane-bg')
    r.setAttribute('width', width)
    r.setAttribute('height', svg.getAttribute('height'))
    s.append(r)
    for (const t of bg.querySelectorAll('text')) {
      s.append(t.cloneNode(true))
    }
    pin.append(s)
    document.body.append(pin)
  }
  const box = svg.getBoundingClientRect()
  pin.style.top = box.top + window.scrollY + 'px'
  pin.style.left = Math.max(window.scrollX, box.left + window.scrollX) + 'px'
  pin.style.display = window.scrollX > 0 ? 'block' : 'none'
}

// tortureFocus scrolls to the failing operation and, if select, selects
// it as a click would (Porcupine then shows its tooltip and partial
// linearization). Without a failing operation it scrolls to the checker's
// annotation.
function tortureFocus(select) {
  const c = tortureCurrent
  let target = null
  if (c && c.failing >= 0) {
    target = document.querySelector('.target-rect[data-partition="0"][data-index="' + c.failing + '"]')
  }
  if (!target && c) {
    const k = c.d.Annotations.findIndex((a) => a.Tag === 'checker')
    if (k >= 0) {
      target = document.querySelector('.target-rect[data-partition="' + c.d.Partitions.length + '"][data-index="' + k + '"]')
    }
    select = false
  }
  if (!target) {
    return
  }
  target.scrollIntoView({block: 'center', inline: 'center'})
  tortureLanes()
  if (select) {
    // As the mouse would: hovering fills the tooltip, clicking selects.
    const r = target.getBoundingClientRect()
    const at = {bubbles: true, clientX: r.left + r.width / 2, clientY: r.top + r.height / 2}
    for (const kind of ['mouseover', 'mousemove', 'click']) {
      target.dispatchEvent(new MouseEvent(kind, at))
    }
    // A synthetic event's pageX ignores the scroll: place the tooltip
    // under the operation.
    const tip = document.querySelector('#canvas .tooltip')
    if (tip) {
      const w = tip.getBoundingClientRect().width
      const x = Math.min(r.left + 20, document.documentElement.clientWidth - w - 10)
      tip.style.left = Math.max(0, x) + window.scrollX + 'px'
      tip.style.top = r.bottom + 10 + window.scrollY + 'px'
    }
  }
}
`

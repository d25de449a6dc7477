package checker

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ares-torture/torture/history"
)

// diagnosis explains why a key is not linearizable.
type diagnosis struct {
	kh *keyHistory
	// prefix is the shortest prefix of the key's history (cut at a
	// completion, see prefixAt) that is not linearizable; failing is the
	// operation whose completion ends it. prefix is -1 when the search for
	// it did not finish; best is then the shortest failing prefix found.
	prefix  int
	best    []porcupine.Operation
	failing *clientOp
	// window is what the visualization shows: the end of best, from a
	// quiescent point at which the register may hold any of inits.
	window []porcupine.Operation
	inits  []int
	info   *porcupine.LinearizationInfo
	// clusters says window holds only the conflicting clusters of the
	// read-mapping check.
	clusters bool
	model    porcupine.Model
	annots   []porcupine.Annotation
	note     []string
	desc     string
	// lanes are the visualization's rows: lanes[i] is the process drawn
	// on row i (the window's processes in ascending order), and failIdx
	// the index of the failing operation in the window (-1: not in it).
	lanes   []int
	failIdx int
}

// completion is a return event of the key's history, in Porcupine's event
// order (by time; ties keep their order).
type completion struct {
	t  int64
	op int // index into kh.ops
}

func completions(kh *keyHistory) []completion {
	var cs []completion
	for i, op := range kh.ops {
		if kh.src[i].typ == history.Ok {
			cs = append(cs, completion{op.Return, i})
		}
	}
	sort.SliceStable(cs, func(a, b int) bool { return cs[a].t < cs[b].t })
	return cs
}

// prefixAt is the history as it stood just after completion j: operations
// invoked by then, those completed later becoming pending (a pending read
// constrains nothing and is dropped; a pending write may take effect or
// not: its return is past the cut, or tightened to the reads of it in the
// prefix as in buildKey). Linearizability is prefix-closed, so the first j
// whose prefix is not linearizable pins the completion at which the
// history went wrong.
func prefixAt(kh *keyHistory, cs []completion, j int) []porcupine.Operation {
	cut := cs[j].t
	done := make(map[int]bool, j+1)
	readBy := map[int]int64{}
	writers := map[int]int{}
	for i := 0; i <= j; i++ {
		k := cs[i].op
		done[k] = true
		op := kh.ops[k]
		if in, _ := op.Input.(regInput); !in.write {
			v, _ := op.Output.(int)
			if t, ok := readBy[v]; !ok || op.Return < t {
				readBy[v] = op.Return
			}
		}
	}
	for _, op := range kh.ops {
		if in, _ := op.Input.(regInput); in.write && op.Call <= cut {
			writers[in.v]++
		}
	}
	// Calls at the cut time come before the completion (Porcupine orders
	// calls first at equal times), so they are in the prefix.
	var ops []porcupine.Operation
	for i, op := range kh.ops {
		if op.Call > cut {
			continue
		}
		if done[i] {
			ops = append(ops, op)
			continue
		}
		in, _ := op.Input.(regInput)
		if !in.write {
			continue
		}
		op.Return = cut + 1
		if t, ok := readBy[in.v]; ok && writers[in.v] == 1 {
			op.Return = max(t, op.Call)
		}
		ops = append(ops, op)
	}
	return ops
}

// zoneWindowSearch bounds the segmented search that draws the usual window
// of a key the read-mapping check decided: busy keys (no quiescent point)
// may need an exponential search, so they show the conflicting clusters
// instead.
const zoneWindowSearch = 500 * time.Millisecond

// contextOps is how many operations before the failing segment the
// visualization tries to show.
const contextOps = 50

// diagnose finds the shortest failing prefix (binary search over the
// completions, within half of the time left in dctx), then runs
// Porcupine's verbose check for the visualization (the rest) on the
// segments that end at the failure, if they are few enough.
func diagnose(dctx context.Context, kh *keyHistory, probe *probed, kf keyFast, h *prepared, opts Options) *diagnosis {
	d := &diagnosis{kh: kh, prefix: -1, best: kh.ops, window: kh.ops, inits: []int{0}, failIdx: -1}
	cs := completions(kh)
	if len(cs) > 0 {
		sctx := dctx
		if dl, ok := dctx.Deadline(); ok {
			var cancel context.CancelFunc
			sctx, cancel = context.WithTimeout(dctx, time.Until(dl)/2)
			defer cancel()
		}
		// Invariant: prefixAt(hi) is not linearizable (the whole history
		// is not, or the prefix the probe found), prefixAt(lo-1) is.
		lo, hi := 0, len(cs)-1
		switch {
		case kf.zone:
			lo, hi = kh.zoneBisect(sctx, cs)
		case probe != nil:
			lo, hi = probe.pass+1, probe.fail
		}
		for lo < hi {
			mid := (lo + hi) / 2
			res := kh.check(sctx, prefixAt(kh, cs, mid), searchShare(opts)).res
			if res == porcupine.Unknown {
				break
			}
			if res == porcupine.Illegal {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		d.best = prefixAt(kh, cs, hi)
		d.failing = kh.src[cs[hi].op]
		if lo == hi {
			d.prefix = hi
		} else {
			d.note = append(d.note, "the search for the first failing operation ran out of time or memory; the operation named is an upper bound")
		}
	} else {
		d.note = append(d.note, "no operation of this key completed")
	}
	d.desc = d.explain()
	if w := kf.witness; w != nil && !w.ok {
		d.desc += "; the protocol's tag order fails: " + w.why
	}

	// The window: the failing segment and the segments before it, up to
	// contextOps operations, starting from the states the register may
	// hold there. A key the read-mapping check decided may have no
	// quiescent point to cut at: it shows the two conflicting clusters,
	// not linearizable by themselves.
	d.window = d.best
	var win []porcupine.Operation
	if kf.zone {
		var zr zoneResult
		win, zr = zoneWindow(d.best)
		d.note = append(d.note, kh.describeZone(d.best, zr))
	}
	wctx := dctx
	if win != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(dctx, zoneWindowSearch)
		defer cancel()
	}
	if sc := kh.check(wctx, d.best, searchShare(opts)); sc.res == porcupine.Illegal {
		first, n := sc.fail, len(sc.segs[sc.fail])
		if first >= len(sc.states) {
			// The start states of the failing segment were not computed;
			// start from the one before.
			first--
			n += len(sc.segs[first])
		}
		for first > 0 && n+len(sc.segs[first-1]) <= contextOps {
			first--
			n += len(sc.segs[first])
		}
		d.window = nil
		for _, seg := range sc.segs[first : sc.fail+1] {
			d.window = append(d.window, seg...)
		}
		d.inits = sc.states[first]
	} else if win != nil {
		d.window, d.clusters = win, true
	}

	switch {
	case opts.VerboseMaxOps < 0:
		d.note = append(d.note, "verbose check disabled")
	case len(d.window) > opts.VerboseMaxOps:
		d.note = append(d.note, fmt.Sprintf(
			"no visualization: the stretch of history around the failure has %d operations, over the verbose limit of %d",
			len(d.window), opts.VerboseMaxOps))
	default:
		d.verbose(dctx, h, searchShare(opts))
	}
	return d
}

func (d *diagnosis) verbose(ctx context.Context, h *prepared, share int64) {
	var timeout time.Duration
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			d.note = append(d.note, "no visualization: out of time")
			return
		}
	}
	g, stop := newGuard(ctx, share)
	defer stop()
	g.reset(len(d.window), true)
	win := d.laneWindow()
	res, info := porcupine.CheckOperationsVerbose(d.kh.setModel(g, d.inits), win, timeout)
	switch {
	case g.overMem.Load():
		d.note = append(d.note, "the verbose check reached the memory limit; the visualization shows the partial search")
	case res == porcupine.Unknown || g.abort.Load():
		d.note = append(d.note, "the verbose check ran out of time; the visualization shows the partial search")
	case res == porcupine.Ok:
		d.note = append(d.note, "the verbose check found the visualized stretch linearizable; the failure lies beyond it")
	}
	d.model = d.kh.setModel(nil, d.inits)
	lo, hi := int64(-1), int64(0)
	for _, op := range d.window {
		if lo < 0 || op.Call < lo {
			lo = op.Call
		}
		hi = max(hi, op.Return)
	}
	switch {
	case d.clusters:
		d.note = append(d.note, fmt.Sprintf(
			"the visualization shows the %d operations of the two conflicting clusters (each write with the reads of its value), not linearizable by themselves",
			len(d.window)))
	case len(d.window) < len(d.kh.ops):
		vals := make([]string, len(d.inits))
		for i, s := range d.inits {
			vals[i] = strconv.Quote(short(d.kh.value(s)))
		}
		d.note = append(d.note, fmt.Sprintf(
			"the visualization shows the %d operations from %s to the failure; the register could then hold %s",
			len(d.window), fmtMS(lo), strings.Join(vals, " or ")))
	}
	d.annots = nemesisAnnotations(h.nemesis, lo, hi)
	if d.failing != nil {
		d.annots = append(d.annots, porcupine.Annotation{
			Tag:             "checker",
			Start:           d.failing.ret,
			Description:     "not linearizable",
			Details:         d.desc,
			BackgroundColor: "#f4a6a6",
		})
	}
	info.AddAnnotations(d.annots)
	d.info = &info
}

// laneWindow is d.window drawn one row per process: the processes of the
// window in ascending order, on compact rows (d.lanes names them). It also
// finds the failing operation in the window (d.failIdx). Porcupine uses
// ClientId only for drawing, so the verdict is unchanged.
func (d *diagnosis) laneWindow() []porcupine.Operation {
	seen := map[int]bool{}
	d.lanes = d.lanes[:0]
	d.failIdx = -1
	for i, op := range d.window {
		o, _ := op.Metadata.(*clientOp)
		if o == nil {
			continue
		}
		if !seen[o.process] {
			seen[o.process] = true
			d.lanes = append(d.lanes, o.process)
		}
		if o == d.failing && d.failIdx < 0 {
			d.failIdx = i
		}
	}
	sort.Ints(d.lanes)
	row := make(map[int]int, len(d.lanes))
	for i, p := range d.lanes {
		row[p] = i
	}
	win := make([]porcupine.Operation, len(d.window))
	for i, op := range d.window {
		if o, _ := op.Metadata.(*clientOp); o != nil {
			op.ClientId = row[o.process]
		}
		win[i] = op
	}
	return win
}

// nemesisAnnotations draws the faults overlapping [lo, hi], one row per
// fault kind, clamped to the window so that they do not stretch it.
func nemesisAnnotations(ivs []interval, lo, hi int64) []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, iv := range ivs {
		if iv.End < lo || iv.Start > hi {
			continue
		}
		s, e := max(iv.Start, lo), min(iv.End, hi)
		desc := iv.Fault
		if iv.Value != "" {
			desc += " " + iv.Value
		}
		out = append(out, porcupine.Annotation{
			Tag:             "nemesis " + iv.Fault,
			Start:           s,
			End:             e,
			Description:     short(desc),
			Details:         fmt.Sprintf("%s from %s to %s", desc, fmtMS(iv.Start), fmtMS(iv.End)),
			BackgroundColor: faultColor(iv.Fault),
		})
	}
	return out
}

// explain describes the failing operation.
func (d *diagnosis) explain() string {
	o := d.failing
	if o == nil {
		return "not linearizable"
	}
	if o.f == history.FWrite {
		return fmt.Sprintf("write %q could not be linearized after the operations completed before it", short(o.value))
	}
	// The history fails at a read: say what it saw and why that is
	// impossible.
	var src *clientOp
	for _, w := range d.kh.src {
		if w.f == history.FWrite && w.value == o.value {
			src = w
			break
		}
	}
	// newer finds an ok write that completed before the read began and
	// was invoked after the observed write completed (after time t).
	newer := func(t int64) *clientOp {
		for _, w := range d.kh.src {
			if w.f == history.FWrite && w.typ == history.Ok && w.ret < o.call && w.call > t {
				return w
			}
		}
		return nil
	}
	switch {
	case src == nil && o.value == "":
		if w := newer(-1); w != nil {
			return fmt.Sprintf("stale read: returned the initial value, but write %q (line %d) completed before the read began",
				short(w.value), w.line)
		}
	case src == nil && d.kh.failed[o.value] != nil:
		return fmt.Sprintf("read returned %q, written by a write that failed (line %d)",
			short(o.value), d.kh.failed[o.value].line)
	case src == nil:
		return fmt.Sprintf("read returned %q, a value never written to this key", short(o.value))
	case src.call > o.ret:
		return fmt.Sprintf("read returned %q before its write (line %d) was invoked", short(o.value), src.line)
	case src.typ == history.Ok:
		if w := newer(src.ret); w != nil {
			return fmt.Sprintf("stale read: returned %q (written on line %d), but write %q (line %d) began after that write completed and completed before the read began",
				short(o.value), src.line, short(w.value), w.line)
		}
	}
	return fmt.Sprintf("read returned %q, which no order of the concurrent operations allows", short(o.value))
}

func (d *diagnosis) anomaly() Anomaly {
	a := Anomaly{Checker: CheckLinearizability, Key: d.kh.key, Description: d.desc, KeyOps: len(d.kh.ops)}
	if d.failing != nil {
		a.Op = d.failing.ref()
		a.Description += "; failing operation: " + a.Op.String()
		if f := protoFacts(d.failing); f != "" {
			a.Description += " (" + f[2:] + ")"
		}
		if d.prefix >= 0 {
			a.LinearizablePrefix = d.prefix
			a.Description += fmt.Sprintf("; the history up to its first %d of %d completions is linearizable",
				d.prefix, d.kh.completed)
		} else {
			a.OpUpperBound = true
		}
	}
	a.Note = strings.Join(d.note, "; ")
	return a
}

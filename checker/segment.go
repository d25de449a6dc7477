package checker

import (
	"context"
	"math"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

// Porcupine's cache keeps an n-bit set per search step, so one check of n
// operations costs O(n²) time and memory: a long single-key history can
// take minutes and gigabytes. A register's history can be cut, exactly, at
// every quiescent point (no operation spans it): real-time order puts all
// operations before the cut ahead of all those after it in any
// linearization, so the history is linearizable iff the segments are, in
// order, each starting from a state the previous one can end in. For each
// segment we compute the set of states it can end in (from each possible
// start state) by asking Porcupine whether the segment followed by a probe
// read of each candidate final value is linearizable. Most segments are
// small, and the common shapes need no search at all.

// segCheck is the result of a segmented check.
type segCheck struct {
	res porcupine.CheckResult
	// segs are the segments; fail is the index of the one at which the
	// search found no way on (Illegal).
	segs    [][]porcupine.Operation
	fail    int
	overMem bool // Unknown because a search reached its memory share
	// states[i] are the states segment i may start in, for the segments
	// checked (at least up to fail-1).
	states [][]int
}

// segments cuts ops (in any order) at its quiescent points.
func segments(ops []porcupine.Operation) [][]porcupine.Operation {
	sorted := append([]porcupine.Operation(nil), ops...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].Call < sorted[b].Call })
	var segs [][]porcupine.Operation
	start := 0
	var maxRet int64
	for i, op := range sorted {
		// Intervals are closed: an operation invoked at the instant
		// another returns is concurrent with it.
		if i > start && op.Call > maxRet {
			segs = append(segs, sorted[start:i])
			start = i
		}
		if i == start || op.Return > maxRet {
			maxRet = op.Return
		}
	}
	if start < len(sorted) {
		segs = append(segs, sorted[start:])
	}
	return segs
}

func maxSegment(segs [][]porcupine.Operation) int {
	m := 0
	for _, s := range segs {
		m = max(m, len(s))
	}
	return m
}

// check decides whether ops (a key's history or a prefix of it) are
// linearizable, bounded by ctx.
// Each Porcupine search may use share bytes.
func (kh *keyHistory) check(ctx context.Context, ops []porcupine.Operation, share int64) (sc segCheck) {
	sc = segCheck{segs: segments(ops), fail: -1}
	g, stop := newGuard(ctx, share)
	defer stop()
	defer func() { sc.overMem = g.overMem.Load() }()
	if kh.cas {
		// The cuts' end states assume only writes change the state.
		sc.segs, sc.states = [][]porcupine.Operation{ops}, [][]int{{0}}
		if sc.res = kh.porcupine(ctx, g, 0, ops); sc.res == porcupine.Illegal {
			sc.fail = 0
		}
		return sc
	}
	states := []int{0}
	for i, seg := range sc.segs {
		sc.states = append(sc.states, states)
		if ctx.Err() != nil {
			sc.res = porcupine.Unknown
			return sc
		}
		last := i == len(sc.segs)-1
		var pin *int
		if !last {
			pin = pinnedStart(sc.segs[i+1])
		}
		next, res := kh.stepSegment(ctx, g, states, seg, last, pin)
		if res == porcupine.Unknown {
			sc.res = porcupine.Unknown
			return sc
		}
		if len(next) == 0 {
			sc.res, sc.fail = porcupine.Illegal, i
			if pin != nil {
				// Possibly only because no end state suits the next
				// segment: the failure may show only there.
				sc.fail = i + 1
			}
			return sc
		}
		states = next
	}
	sc.res = porcupine.Ok
	return sc
}

// pinnedStart is the one state seg can start in, if a read of it must be
// linearized before all its writes (it returned before any was invoked);
// nil if seg does not pin it. It lets the previous segment skip probing
// final states that seg would reject anyway.
func pinnedStart(seg []porcupine.Operation) *int {
	minWrite := int64(math.MaxInt64)
	for _, op := range seg {
		if in, _ := op.Input.(regInput); in.write {
			minWrite = min(minWrite, op.Call)
		}
	}
	for _, op := range seg {
		if in, _ := op.Input.(regInput); !in.write && op.Return < minWrite {
			v, _ := op.Output.(int)
			return &v
		}
	}
	return nil
}

// stepSegment returns the states seg can end in, starting from any of
// states, or Unknown if ctx ended first. For the last segment (last) only
// whether the result is empty matters; pin, if not nil, is the only end
// state the next segment accepts.
func (kh *keyHistory) stepSegment(ctx context.Context, g *guard, states []int, seg []porcupine.Operation, last bool, pin *int) ([]int, porcupine.CheckResult) {
	var writes, reads []porcupine.Operation
	for _, op := range seg {
		if in, _ := op.Input.(regInput); in.write {
			writes = append(writes, op)
		} else {
			reads = append(reads, op)
		}
	}
	// Only reads: the state does not change, and every read returns it.
	if len(writes) == 0 {
		var next []int
		for _, s := range states {
			all := true
			for _, r := range reads {
				if out, _ := r.Output.(int); out != s {
					all = false
					break
				}
			}
			if all {
				next = append(next, s)
			}
		}
		return next, porcupine.Ok
	}
	// The final state is the value of the write linearized last: one that
	// no other write of the segment must follow.
	var cands []int
	for _, w := range writes {
		last := true
		for _, o := range writes {
			if o.Call > w.Return {
				last = false
				break
			}
		}
		if last {
			in, _ := w.Input.(regInput)
			cands = append(cands, in.v)
		}
	}
	cands = uniq(cands)
	// With one possible end state, a segment that linearizes at all ends
	// there and needs no probe; this must be decided before the pin
	// narrows the candidates.
	single := len(cands) == 1
	if pin != nil {
		kept := cands[:0]
		for _, v := range cands {
			if v == *pin {
				kept = append(kept, v)
			}
		}
		cands = kept
	}
	// Only writes: any of them that can come last does.
	if len(reads) == 0 || len(cands) == 0 {
		return cands, porcupine.Ok
	}
	if last {
		for _, s := range states {
			switch kh.porcupine(ctx, g, s, seg) {
			case porcupine.Unknown:
				return nil, porcupine.Unknown
			case porcupine.Ok:
				return cands, porcupine.Ok
			}
		}
		return nil, porcupine.Ok
	}
	var end int64
	for _, op := range seg {
		end = max(end, op.Return)
	}
	var next []int
	for _, v := range cands {
		// A probe read of v after the segment asks whether it can end in
		// v.
		probed := seg
		if !single {
			probe := porcupine.Operation{Input: regInput{}, Output: v, Call: end + 1, Return: end + 2}
			probed = append(append([]porcupine.Operation(nil), seg...), probe)
		}
		for _, s := range states {
			res := kh.porcupine(ctx, g, s, probed)
			if res == porcupine.Unknown {
				return nil, porcupine.Unknown
			}
			if res == porcupine.Ok {
				next = append(next, v)
				break
			}
		}
	}
	return next, porcupine.Ok
}

// porcupine runs one cheap check from initial state s. A result obtained
// after ctx ended is only trusted if it is Ok.
func (kh *keyHistory) porcupine(ctx context.Context, g *guard, s int, ops []porcupine.Operation) porcupine.CheckResult {
	var timeout time.Duration
	if d, ok := ctx.Deadline(); ok {
		if timeout = time.Until(d); timeout <= 0 {
			return porcupine.Unknown
		}
	}
	g.reset(len(ops), false)
	res := porcupine.CheckOperationsTimeout(kh.model(g, s), ops, timeout)
	if res == porcupine.Illegal && (g.abort.Load() || ctx.Err() != nil) {
		return porcupine.Unknown
	}
	return res
}

func uniq(xs []int) []int {
	sort.Ints(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}

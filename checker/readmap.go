package checker

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/anishathalye/porcupine"

	"github.com/ares-torture/torture/history"
)

// The read-mapping (zone) check of Gibbons and Korach, as Golab, Li and
// Shah state it (see ../shared/reference/CHECKING.md, section 2): with
// unique written values every read names its write, and a register
// history is linearizable iff no read comes from the future, no two
// forward zones overlap, and no backward zone lies inside a forward one.
// It is exact and O(n log n), so it decides keys that Porcupine cannot
// search (many clients on one key leave no quiescent point).
//
// It runs on the operations Porcupine would check (keyHistory.ops): the
// simplifications of buildKey keep the verdict, and deciding the very same
// history keeps the two methods comparable operation by operation.
// Times compare as Porcupine's do: an operation precedes another only if
// it returned strictly before the other was invoked.

// zoneVerdict is the outcome of the zone check.
type zoneVerdict int

const (
	zoneUndecided zoneVerdict = iota // a precondition fails: ask Porcupine
	zoneValid
	zoneInvalid
)

// zoneResult says why a history is not linearizable: the operations of the
// two conflicting clusters (indices into the ops checked), and the one to
// name.
type zoneResult struct {
	verdict zoneVerdict
	why     string // undecided: the failed precondition; invalid: the conflict
	// late is the operation that cannot be placed: a read from the future
	// or of a value never written, or the read of the forward zone that
	// began after the other cluster was over. -1 if none.
	late int
	// involved are the operations of the conflicting clusters.
	involved []int
}

// zone is one cluster's zone: f the earliest return, s the latest call of
// the write and the reads of its value.
type zone struct {
	f, s   int64
	fOp    int // operation returning at f (-1: the initial value)
	sOp    int // operation invoked at s
	value  int
	member []int
}

// zoneCheck decides ops (reads returning interned values, writes of
// interned values; the initial value is 0).
func zoneCheck(ops []porcupine.Operation) zoneResult {
	const negInf = math.MinInt64
	writer := map[int]int{} // value -> index of its write
	for i, op := range ops {
		in, _ := op.Input.(regInput)
		if !in.write {
			continue
		}
		if in.v == 0 {
			return zoneResult{verdict: zoneUndecided, late: -1, why: "a write of the initial value"}
		}
		if _, dup := writer[in.v]; dup {
			return zoneResult{verdict: zoneUndecided, late: -1, why: "a value written twice"}
		}
		writer[in.v] = i
	}
	zones := map[int]*zone{}
	get := func(v int) *zone {
		z := zones[v]
		if z != nil {
			return z
		}
		z = &zone{f: math.MaxInt64, s: negInf, fOp: -1, sOp: -1, value: v}
		if v == 0 {
			z.f = negInf
		} else {
			w := writer[v]
			z.f, z.fOp, z.s, z.sOp = ops[w].Return, w, ops[w].Call, w
			z.member = append(z.member, w)
		}
		zones[v] = z
		return z
	}
	for i, op := range ops {
		in, _ := op.Input.(regInput)
		if in.write {
			continue
		}
		v, _ := op.Output.(int)
		if v != 0 {
			w, ok := writer[v]
			if !ok {
				return zoneResult{verdict: zoneInvalid, late: i, involved: []int{i}, why: "a read of a value never written"}
			}
			if ops[w].Call > op.Return {
				return zoneResult{verdict: zoneInvalid, late: i, involved: []int{w, i}, why: "a read returned before its write was invoked"}
			}
		}
		z := get(v)
		z.member = append(z.member, i)
		if op.Return < z.f {
			z.f, z.fOp = op.Return, i
		}
		if op.Call > z.s {
			z.s, z.sOp = op.Call, i
		}
	}
	// Writes nobody read form clusters of their own (backward zones: an
	// operation's call precedes its return).
	for v := range writer {
		get(v)
	}
	var fwd, bwd []*zone
	for _, z := range zones {
		if z.f < z.s {
			fwd = append(fwd, z)
		} else {
			bwd = append(bwd, z)
		}
	}
	// Map order is random: sort fully so that the conflict named is
	// deterministic.
	sort.Slice(fwd, func(a, b int) bool {
		if fwd[a].f != fwd[b].f {
			return fwd[a].f < fwd[b].f
		}
		return fwd[a].value < fwd[b].value
	})
	conflict := func(a, b *zone, late int, why string) zoneResult {
		inv := append(append([]int(nil), a.member...), b.member...)
		sort.Ints(inv)
		return zoneResult{verdict: zoneInvalid, late: late, involved: inv, why: why}
	}
	// Forward zones [f, s] overlap iff each starts before the other ends;
	// sorted by f, the one reaching furthest so far is the only one to
	// compare with.
	var reach *zone
	for _, z := range fwd {
		if reach != nil && z.f < reach.s {
			// Both clusters had an operation complete before the other's
			// last read began: name the read that began later.
			late := reach.sOp
			if z.s > reach.s {
				late = z.sOp
			}
			return conflict(reach, z, late, "two forward zones overlap")
		}
		if reach == nil || z.s > reach.s {
			reach = z
		}
	}
	sort.Slice(bwd, func(a, b int) bool {
		if bwd[a].s != bwd[b].s {
			return bwd[a].s < bwd[b].s
		}
		return bwd[a].value < bwd[b].value
	})
	for _, z := range bwd {
		// The forward zone starting last before z: forward zones are
		// disjoint now, so only it can contain z.
		j := sort.Search(len(fwd), func(j int) bool { return fwd[j].f >= z.s }) - 1
		if j >= 0 && z.f < fwd[j].s {
			return conflict(fwd[j], z, fwd[j].sOp, "a backward zone lies inside a forward zone")
		}
	}
	return zoneResult{verdict: zoneValid, late: -1}
}

// zoneBisect finds, for a key the zone check found invalid, the first
// completion whose prefix is not linearizable (linearizability is
// prefix-closed): the same failing operation as Porcupine's bisection,
// found in O(n log² n) rather than by exponential searches. It returns
// lo == hi when done, or the bounds reached when ctx ended.
func (kh *keyHistory) zoneBisect(ctx context.Context, cs []completion) (lo, hi int) {
	lo, hi = 0, len(cs)-1
	for lo < hi && ctx.Err() == nil {
		mid := (lo + hi) / 2
		switch zoneCheck(prefixAt(kh, cs, mid)).verdict {
		case zoneInvalid:
			hi = mid
		case zoneValid:
			lo = mid + 1
		default:
			// A prefix keeps the values unique, so this cannot happen;
			// leave the rest to Porcupine.
			return lo, hi
		}
	}
	return lo, hi
}

// zoneWindow is what a key decided invalid by the zone check shows: the
// operations of the two conflicting clusters of its shortest failing
// prefix, which are not linearizable by themselves (their zones are those
// of the whole). Porcupine's verbose check on them is cheap however busy
// the key was.
func zoneWindow(ops []porcupine.Operation) ([]porcupine.Operation, zoneResult) {
	zr := zoneCheck(ops)
	if zr.verdict != zoneInvalid {
		return nil, zr
	}
	w := make([]porcupine.Operation, 0, len(zr.involved))
	for _, i := range zr.involved {
		w = append(w, ops[i])
	}
	return w, zr
}

// describeZone names the conflict of zr (from zoneWindow on ops) in
// terms of the history: which read could not be placed, and why.
func (kh *keyHistory) describeZone(ops []porcupine.Operation, zr zoneResult) string {
	if zr.late < 0 {
		return zr.why
	}
	o, _ := ops[zr.late].Metadata.(*clientOp)
	if o == nil {
		return zr.why
	}
	var others []string
	for _, i := range zr.involved {
		p, _ := ops[i].Metadata.(*clientOp)
		if p != nil && p != o && p.f == history.FWrite {
			others = append(others, fmt.Sprintf("write %s (line %d%s)", strconv.Quote(short(p.value)), p.line, protoFacts(p)))
		}
	}
	s := fmt.Sprintf("read-mapping check: %s; the read -> %s (line %d%s) cannot be placed",
		zr.why, strconv.Quote(short(o.value)), o.line, protoFacts(o))
	if o.f == history.FWrite {
		s = fmt.Sprintf("read-mapping check: %s, at write %s (line %d%s)", zr.why, strconv.Quote(short(o.value)), o.line, protoFacts(o))
	}
	if len(others) > 0 {
		s += "; writes involved: " + listShort(others)
	}
	return s
}

// protoFacts is ", tag ⟨ts,wid⟩, config c" for an operation that carries
// them, "" otherwise.
func protoFacts(o *clientOp) string {
	s := ""
	if o.tag != nil {
		s += ", tag " + o.tag.String()
	}
	if o.config >= 0 {
		s += fmt.Sprintf(", config %d", o.config)
	}
	return s
}

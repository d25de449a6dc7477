package shrink

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// The reductions: each changes one ingredient of the current smallest run
// and keeps the change while the run stays invalid.

// faults runs ddmin over the fault kinds: no faults at all first, then
// halves, quarters... of the list and their complements.
func (s *shrinker) faults() {
	cur, err := nemesis.Parse(s.best.Nemesis)
	if err != nil || len(cur) == 0 || s.err != nil {
		return
	}
	from := joinFaults(cur)
	set := func(f []string) bool {
		return s.try(s.with(func(o *harness.Options) { o.Nemesis = joinFaults(f) }), fmt.Sprintf("faults %s → %s", from, joinFaults(f)))
	}
	if set(nil) {
		return
	}
	n := 2
	for len(cur) >= 2 && s.err == nil {
		chunks := split(cur, n)
		reduced := false
		for _, c := range chunks {
			if len(c) < len(cur) && set(c) {
				cur, n, reduced = c, 2, true
				break
			}
		}
		if !reduced && n > 2 {
			for i := range chunks {
				c := complement(chunks, i)
				if set(c) {
					cur, n, reduced = c, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(cur) {
				break
			}
			n = min(2*n, len(cur))
		}
		from = joinFaults(cur)
	}
}

// split cuts l into n nearly equal chunks.
func split(l []string, n int) [][]string {
	var out [][]string
	for i := 0; i < n; i++ {
		lo, hi := i*len(l)/n, (i+1)*len(l)/n
		if lo < hi {
			out = append(out, l[lo:hi])
		}
	}
	return out
}

// complement is every chunk but chunk i, in order.
func complement(chunks [][]string, i int) []string {
	var out []string
	for j, c := range chunks {
		if j != i {
			out = append(out, c...)
		}
	}
	return out
}

func joinFaults(f []string) string {
	if len(f) == 0 {
		return "none"
	}
	return strings.Join(f, ",")
}

// ints lowers an integer option: lo first, then a bisection between lo
// and the current value. The bisection assumes that a smaller value fails
// less often, which holds only roughly; the seed search makes up for it.
func (s *shrinker) ints(name string, lo int, field func(o *harness.Options) *int) {
	cur := *field(&s.best)
	if cur <= lo || s.err != nil {
		return
	}
	set := func(v int) bool {
		return s.try(s.with(func(o *harness.Options) { *field(o) = v }), fmt.Sprintf("%s %d → %d", name, *field(&s.best), v))
	}
	if set(lo) {
		return
	}
	s.bisect(name, lo+1, field)
}

// bisect lowers an integer option by bisection between lo and its current
// value (which fails), first trying about half of it.
func (s *shrinker) bisect(name string, lo int, field func(o *harness.Options) *int) {
	hi := *field(&s.best)
	set := func(v int) bool {
		return s.try(s.with(func(o *harness.Options) { *field(o) = v }), fmt.Sprintf("%s %d → %d", name, *field(&s.best), v))
	}
	for lo < hi && s.err == nil {
		mid := (lo + hi) / 2
		if set(mid) {
			hi = *field(&s.best) // mid, or less after a trim
		} else {
			lo = mid + 1
		}
	}
}

// ops bounds the operations, first from the history when the run had no
// bound, then lower.
func (s *shrinker) ops() {
	if s.err != nil {
		return
	}
	if s.best.Ops == 0 {
		w, err := workloadOps(s.bestDir)
		if err != nil || w == 0 {
			return
		}
		if !s.try(s.with(func(o *harness.Options) { o.Ops = w }), fmt.Sprintf("operations bounded at %d (the run had no bound)", w)) {
			return
		}
	}
	// Halving, then one step of a quarter when halving fails: a bound a
	// little lower than one that fails with every seed seldom fails, and
	// each try costs up to 64 runs. The next pass tries again, and trim
	// cuts each kept run anyway.
	for s.err == nil && s.best.Ops > 1 {
		cur := s.best.Ops
		if s.try(s.with(func(o *harness.Options) { o.Ops = cur / 2 }), fmt.Sprintf("operations %d → %d", cur, cur/2)) {
			continue
		}
		n := cur - max(1, cur/4)
		if s.err != nil || !s.try(s.with(func(o *harness.Options) { o.Ops = n }), fmt.Sprintf("operations %d → %d", cur, n)) {
			return
		}
	}
}

// durations shortens the run's time, the fault interval, the operation
// timeout and the settle time. A shorter fault interval packs more faults
// into the few operations left, so it comes first.
func (s *shrinker) durations() {
	s.duration("fault interval", time.Millisecond, func(o *harness.Options) *harness.Duration { return &o.NemesisInterval })
	if s.exact {
		// On a real network an operation's latency is not the seed's: a
		// shorter timeout turns operations indeterminate by chance, and the
		// result would seldom fail again.
		s.duration("op timeout", time.Millisecond, func(o *harness.Options) *harness.Duration { return &o.OpTimeout })
	}
	s.duration("time", time.Millisecond, func(o *harness.Options) *harness.Duration { return &o.Time })
	s.duration("settle", 0, func(o *harness.Options) *harness.Duration { return &o.Settle })
}

// duration lowers a duration option: floor first, then a bisection on a
// log scale (from 30s to 1ms is 15 halvings, a linear bisection would
// spend its steps near 30s), each value rounded to two digits so that the
// result reads well.
func (s *shrinker) duration(name string, floor time.Duration, field func(o *harness.Options) *harness.Duration) {
	cur := field(&s.best).D()
	if cur <= floor || s.err != nil || (name == "fault interval" && s.best.Nemesis == "none") {
		return
	}
	set := func(d time.Duration) bool {
		return s.try(s.with(func(o *harness.Options) { *field(o) = harness.Duration(d) }),
			fmt.Sprintf("%s %v → %v", name, field(&s.best).D(), d))
	}
	if set(floor) {
		return
	}
	lo, hi := max(floor, time.Millisecond), cur // lo does not fail or is the floor; hi fails
	for s.err == nil {
		mid := round2(time.Duration(math.Sqrt(float64(lo) * float64(hi))))
		if mid <= lo || mid >= hi || float64(hi) < 1.5*float64(lo) {
			return
		}
		if set(mid) {
			hi = mid
		} else {
			lo = mid
		}
	}
}

// round2 rounds d down to two significant digits.
func round2(d time.Duration) time.Duration {
	unit := time.Duration(1)
	for d/unit >= 100 {
		unit *= 10
	}
	return d / unit * unit
}

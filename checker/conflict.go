package checker

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ares-torture/torture/history"
)

// The minimal conflict of an invalid key is a smallest set of its
// operations that by itself cannot be linearized: usually two to six
// operations, which say why the key is invalid better than the hundreds
// around the failure that the visualization shows.
//
// It is found by delta debugging (Zeller's ddmin) with the register model
// as the oracle, starting from the diagnosis's window (widened towards the
// start of the failing prefix until it fails on its own). A subset is only
// kept if it is self-contained: every value one of its reads returned is
// written by operations of the subset (all of that value's writers), unless
// the history has no write of it at all. Without that rule a lone read of
// any value would do, as the register starts empty. With it the conflict
// is a proof: values are unique, so the restriction of any linearization
// of the whole history to a self-contained subset linearizes the subset;
// a self-contained subset that cannot be linearized shows the history
// cannot either. Indeterminate writes are checked as buildKey does, but
// against the subset's own reads: one no read of the subset saw changes
// nothing, one that a read saw must take effect before that read returns.
//
// The search is bounded by conflictChecks oracle calls per key and, for
// all keys together, a conflictShare of Options.VerboseTimeout; a search
// cut short returns the smallest failing subset found (Conflict.Minimal is
// then false). Keys with compare-and-set operations (values may repeat)
// get no conflict.

// Conflict is the minimal conflict of a key that is not linearizable.
type Conflict struct {
	// Ops are the conflict's operations by invoke time.
	Ops []ConflictOp `json:"ops,omitempty"`
	// Explanation says in one sentence why Ops cannot be linearized.
	Explanation string `json:"explanation,omitempty"`
	// Minimal says no single operation can be removed from Ops with the
	// rest still failing on its own (ddmin finished); otherwise the search
	// ran out of time or oracle calls and Ops is only the smallest found.
	Minimal bool `json:"minimal"`
	// From is how many operations the search started from, Checks how
	// many times it asked the oracle.
	From   int `json:"from,omitempty"`
	Checks int `json:"checks,omitempty"`
	// RunStart is the history time (ns) the diagram counts from: the
	// report's origin (Stats.Origin), so that its times match the
	// report's, the anomaly texts and the visualizations.
	RunStart int64 `json:"run_start_ns"`
	// Note says why there is no conflict, or what limited it.
	Note string `json:"note,omitempty"`
}

// ConflictOp is one operation of a conflict: the operation as recorded
// (F is the recorded function, e.g. cover) and what it was checked as.
type ConflictOp struct {
	OpRef
	// As is the function the register model checked: read or write. A
	// successful cover is a write plus a derived read of its base.
	As string `json:"as"`
	// Derived marks a cover's read of its base (Value is the base value).
	Derived bool `json:"derived,omitempty"`
	// Tag and Config are the protocol facts of the completion, when the
	// history records them.
	Tag    string `json:"tag,omitempty"`
	Config *int64 `json:"config,omitempty"`
}

// Bounds of the conflict search.
const (
	// conflictChecks bounds the oracle calls of one key's search.
	conflictChecks = 4000
	// conflictShare is the share of Options.VerboseTimeout that all
	// keys' searches together may take.
	conflictShare = 0.25
	// conflictNoLimit bounds the searches when VerboseTimeout is
	// unlimited.
	conflictNoLimit = 2 * time.Minute
)

// addConflicts computes the minimal conflict of each linearizability
// anomaly that has a diagnosis, in parallel, within conflictShare of
// VerboseTimeout.
func (r *Result) addConflicts(ctx context.Context, opts Options) {
	var idx []int
	for i, a := range r.Anomalies {
		if a.Checker == CheckLinearizability && r.diags[a.Key] != nil {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return
	}
	limit := conflictNoLimit
	if opts.VerboseTimeout > 0 {
		limit = time.Duration(float64(opts.VerboseTimeout) * conflictShare)
	}
	cctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	begin := r.Stats.Origin
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers(), len(idx)) {
		wg.Go(func() {
			for i := range jobs {
				opts.progress("key " + quoteKey(r.Anomalies[i].Key) + ": minimal conflict")
				c := minimalConflict(cctx, r.diags[r.Anomalies[i].Key], searchShare(opts), conflictChecks)
				c.RunStart = begin
				r.Anomalies[i].Conflict = c
			}
		})
	}
	for _, i := range idx {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// conflictSearch is one key's search state.
type conflictSearch struct {
	ctx     context.Context
	kh      *keyHistory
	share   int64
	ids     map[string]int // value -> interned id
	writers map[string][]int
	budget  int
	checks  int
	// stopped says an oracle call was refused (budget) or undecided
	// (time, memory): the result is then not known to be minimal.
	stopped bool
}

// minimalConflict shrinks d's failing window to a minimal conflict (see
// above), asking the oracle at most budget times.
func minimalConflict(ctx context.Context, d *diagnosis, share int64, budget int) *Conflict {
	kh := d.kh
	if kh.cas {
		return &Conflict{Note: "no minimal conflict: the key has compare-and-set operations or covered writes, whose values may repeat"}
	}
	s := &conflictSearch{ctx: ctx, kh: kh, share: share, ids: map[string]int{}, writers: map[string][]int{}, budget: budget}
	for i, v := range kh.values {
		s.ids[v] = i
	}
	pos := make(map[*clientOp]int, len(kh.src))
	for i, o := range kh.src {
		pos[o] = i
		if o.f == history.FWrite {
			s.writers[o.value] = append(s.writers[o.value], i)
		}
	}
	indices := func(ops []porcupine.Operation) []int {
		var out []int
		seen := map[int]bool{}
		for _, op := range ops {
			o, _ := op.Metadata.(*clientOp)
			if i, ok := pos[o]; ok && !seen[i] {
				seen[i] = true
				out = append(out, i)
			}
		}
		return s.sorted(out)
	}
	best, win := indices(d.best), indices(d.window)

	// The seed: the window, self-contained, widened towards the start of
	// the failing prefix until it fails on its own.
	k := len(best)
	if len(win) > 0 {
		for j, i := range best {
			if i == win[0] {
				k = j
				break
			}
		}
	}
	var seed []int
	for m := 0; ; m = max(64, 4*m) {
		from := max(k-m, 0)
		cand := s.closeUp(append(append([]int(nil), best[from:]...), win...))
		if s.test(cand) {
			seed = cand
			break
		}
		if from == 0 || s.stopped {
			return &Conflict{From: len(cand), Checks: s.checks,
				Note: "no minimal conflict: the failing stretch of history did not fail on its own within the search's limits"}
		}
	}
	c := s.ddmin(seed)
	out := &Conflict{From: len(seed), Checks: s.checks, Minimal: !s.stopped}
	for _, i := range c {
		out.Ops = append(out.Ops, conflictOp(kh.src[i]))
	}
	if s.stopped {
		out.Note = "the search ran out of time or oracle calls: the conflict may not be minimal"
	}
	out.Explanation = explainConflict(kh, kh.sortedOps(c))
	return out
}

func (kh *keyHistory) sortedOps(idx []int) []*clientOp {
	out := make([]*clientOp, len(idx))
	for j, i := range idx {
		out[j] = kh.src[i]
	}
	return out
}

// sorted sorts indices into kh.src by invoke time, removing duplicates.
func (s *conflictSearch) sorted(idx []int) []int {
	sort.Slice(idx, func(a, b int) bool {
		oa, ob := s.kh.src[idx[a]], s.kh.src[idx[b]]
		if oa.call != ob.call {
			return oa.call < ob.call
		}
		return idx[a] < idx[b]
	})
	out := idx[:0]
	for j, i := range idx {
		if j == 0 || i != idx[j-1] {
			out = append(out, i)
		}
	}
	return out
}

// closeUp adds the writers of every value the reads of set returned.
func (s *conflictSearch) closeUp(set []int) []int {
	out := append([]int(nil), set...)
	for _, i := range set {
		if o := s.kh.src[i]; o.f == history.FRead {
			out = append(out, s.writers[o.value]...)
		}
	}
	return s.sorted(out)
}

// closed says every read of set has all the writers of its value in set.
func (s *conflictSearch) closed(set []int) bool {
	in := make(map[int]bool, len(set))
	for _, i := range set {
		in[i] = true
	}
	for _, i := range set {
		if o := s.kh.src[i]; o.f == history.FRead {
			for _, w := range s.writers[o.value] {
				if !in[w] {
					return false
				}
			}
		}
	}
	return true
}

// test is the oracle: set is self-contained and cannot be linearized from
// the initial value.
func (s *conflictSearch) test(set []int) bool {
	if len(set) == 0 || !s.closed(set) {
		return false
	}
	if s.checks >= s.budget || s.ctx.Err() != nil {
		s.stopped = true
		return false
	}
	s.checks++
	switch s.kh.check(s.ctx, s.ops(set), s.share).res {
	case porcupine.Illegal:
		return true
	case porcupine.Unknown:
		s.stopped = true
	}
	return false
}

// ops is set as Porcupine operations: ok operations as recorded,
// indeterminate writes as buildKey makes them, but judged by set's reads.
func (s *conflictSearch) ops(set []int) []porcupine.Operation {
	readBy := map[string]int64{}
	writers := map[string]int{}
	for _, i := range set {
		o := s.kh.src[i]
		if o.f == history.FRead {
			if t, ok := readBy[o.value]; !ok || o.ret < t {
				readBy[o.value] = o.ret
			}
		} else {
			writers[o.value]++
		}
	}
	out := make([]porcupine.Operation, 0, len(set))
	for _, i := range set {
		o := s.kh.src[i]
		op := porcupine.Operation{ClientId: s.kh.ops[i].ClientId, Metadata: o, Call: o.call, Return: o.ret}
		if o.f == history.FRead {
			op.Input, op.Output = regInput{}, s.ids[o.value]
		} else {
			op.Input = regInput{write: true, v: s.ids[o.value]}
			if o.typ != history.Ok {
				t, read := readBy[o.value]
				if !read {
					continue
				}
				op.Return = s.kh.infty
				if writers[o.value] == 1 {
					op.Return = max(t, o.call)
				}
			}
		}
		out = append(out, op)
	}
	return out
}

// ddmin is Zeller's minimizing delta debugging: c fails the test; it
// returns a failing subset from which no single element can be removed
// (unless the search was stopped).
func (s *conflictSearch) ddmin(c []int) []int {
	n := 2
	for len(c) >= 2 && !s.stopped {
		chunks := split(c, n)
		reduced := false
		for _, ch := range chunks {
			if s.test(ch) {
				c, n, reduced = ch, 2, true
				break
			}
		}
		if !reduced && n > 2 {
			for j := range chunks {
				comp := complement(chunks, j)
				if s.test(comp) {
					c, n, reduced = comp, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(c) {
				break
			}
			n = min(2*n, len(c))
		}
	}
	return c
}

// split cuts c into n chunks of nearly equal size.
func split(c []int, n int) [][]int {
	out := make([][]int, 0, n)
	for j := range n {
		lo, hi := j*len(c)/n, (j+1)*len(c)/n
		if hi > lo {
			out = append(out, c[lo:hi])
		}
	}
	return out
}

func complement(chunks [][]int, skip int) []int {
	var out []int
	for j, ch := range chunks {
		if j != skip {
			out = append(out, ch...)
		}
	}
	return out
}

func conflictOp(o *clientOp) ConflictOp {
	c := ConflictOp{OpRef: *o.ref(), As: o.f, Derived: o.derived}
	if o.derived {
		c.Value = o.value
	}
	if o.tag != nil {
		c.Tag = o.tag.String()
	}
	if o.config >= 0 {
		cfg := o.config
		c.Config = &cfg
	}
	return c
}

// The explanation. Operations are named by process and function ("p4's
// write of c4-31"); ops are by invoke time. Real-time order is strict:
// a completed before b began.

// cfOp is one operation of a conflict for the explanation.
type cfOp struct {
	o    *clientOp
	name string
	ret  int64 // math.MaxInt64 for indeterminate writes
}

func (c *cfOp) read() bool { return c.o.f == history.FRead }

// before says a completed before b was invoked.
func before(a, b *cfOp) bool { return a.ret < b.o.call }

func val(v string) string {
	if v == "" {
		return "the initial value"
	}
	return short(v)
}

// saw is what a read returned, as a verb phrase.
func (c *cfOp) saw() string {
	if c.o.derived {
		return "was based on " + val(c.o.value)
	}
	return "returned " + val(c.o.value)
}

// explainConflict says in one sentence why ops (by invoke time) cannot be
// linearized, from their real-time order and the values read. It states
// only facts of the history; the common shapes get their own sentence,
// anything else the list of facts.
func explainConflict(kh *keyHistory, ops []*clientOp) string {
	cs := make([]*cfOp, len(ops))
	// A cover's derived read is named after the cover's written value.
	covers := map[int]string{}
	for _, o := range kh.all {
		if o.orig == history.FCover && o.f == history.FWrite {
			covers[o.line] = o.value
		}
	}
	names := map[string]map[int]bool{} // name -> lines
	for i, o := range ops {
		c := &cfOp{o: o, ret: o.ret}
		if o.f == history.FWrite && o.typ != history.Ok {
			c.ret = math.MaxInt64
		}
		switch {
		case o.derived:
			c.name = fmt.Sprintf("p%d's cover of %s", o.process, val(covers[o.line]))
		case o.orig == history.FCover && o.f == history.FRead:
			c.name = fmt.Sprintf("p%d's covered cover", o.process)
		case o.orig == history.FCover:
			c.name = fmt.Sprintf("p%d's cover of %s", o.process, val(o.value))
		case o.f == history.FWrite:
			c.name = fmt.Sprintf("p%d's write of %s", o.process, val(o.value))
		default:
			c.name = fmt.Sprintf("p%d's read", o.process)
		}
		if o.f == history.FWrite && o.typ != history.Ok {
			c.name += " (indeterminate)"
		}
		if names[c.name] == nil {
			names[c.name] = map[int]bool{}
		}
		names[c.name][o.line] = true
		cs[i] = c
	}
	begin := int64(0)
	if len(ops) > 0 {
		begin = ops[0].call
	}
	for _, c := range cs {
		if len(names[c.name]) > 1 {
			c.name += fmt.Sprintf(" invoked at +%.1f ms", float64(c.o.call-begin)/1e6)
		}
	}
	writer := func(v string) *cfOp {
		for _, c := range cs {
			if !c.read() && c.o.value == v {
				return c
			}
		}
		return nil
	}
	// A read of a value nothing in the conflict wrote.
	for _, r := range cs {
		if !r.read() || r.o.value == "" || writer(r.o.value) != nil {
			continue
		}
		if f := kh.failed[r.o.value]; f != nil {
			return fmt.Sprintf("%s %s, which only p%d's write that failed (line %d) wrote", r.name, r.saw(), f.process, f.line)
		}
		return fmt.Sprintf("%s %s, which no operation wrote to this key", r.name, r.saw())
	}
	// A read that completed before the write of its value began.
	for _, r := range cs {
		if w := writer(r.o.value); r.read() && w != nil && before(r, w) {
			return fmt.Sprintf("%s %s, but completed before %s began", r.name, r.saw(), w.name)
		}
	}
	// A stale read: a newer write completed before the read began.
	for _, r := range cs {
		if !r.read() {
			continue
		}
		src := writer(r.o.value)
		for _, w := range cs {
			if w.read() || w == src || !before(w, r) {
				continue
			}
			if src == nil {
				return fmt.Sprintf("%s %s after %s had completed", r.name, r.saw(), w.name)
			}
			if before(src, w) {
				return fmt.Sprintf("%s %s after %s had completed, which began after %s had completed", r.name, r.saw(), w.name, src.name)
			}
		}
	}
	// Two reads in real-time order that saw values in the opposite order.
	for _, r1 := range cs {
		for _, r2 := range cs {
			if !r1.read() || !r2.read() || r1.o.value == r2.o.value || !before(r1, r2) {
				continue
			}
			w1, w2 := writer(r1.o.value), writer(r2.o.value)
			if w1 == nil {
				continue
			}
			switch {
			case w2 == nil:
				return fmt.Sprintf("%s %s after %s, which had completed before it began, %s", r2.name, r2.saw(), r1.name, r1.saw())
			case before(w2, w1):
				return fmt.Sprintf("%s %s after %s, which had completed before it began, %s; but %s had completed before %s began",
					r2.name, r2.saw(), r1.name, r1.saw(), w2.name, w1.name)
			case before(w2, r1):
				return fmt.Sprintf("%s %s after %s, which had completed before it began, %s; but %s had completed before %s began",
					r2.name, r2.saw(), r1.name, r1.saw(), w2.name, r1.name)
			}
		}
	}
	// Anything else: the facts.
	var facts []string
	for _, r := range cs {
		if r.read() {
			facts = append(facts, r.name+" "+r.saw())
		}
	}
	for _, a := range cs {
		for _, b := range cs {
			if a == b || !before(a, b) {
				continue
			}
			direct := true
			for _, m := range cs {
				if before(a, m) && before(m, b) {
					direct = false
					break
				}
			}
			if direct {
				facts = append(facts, a.name+" completed before "+b.name+" began")
			}
		}
	}
	return fmt.Sprintf("no order of these %d operations agrees with their real-time order and the values read: %s",
		len(cs), strings.Join(facts, "; "))
}

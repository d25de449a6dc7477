package checker

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ares-torture/torture/history"
)

// regInput is a register operation's input. Values are interned per key so
// that the model's state is an int: cheap to compare and hash.
type regInput struct {
	write bool
	v     int // written value (writes)
}

// keyHistory is one key's history in the form Porcupine checks.
type keyHistory struct {
	key       string
	values    []string // interned values; 0 is the initial value ""
	ops       []porcupine.Operation
	src       []*clientOp // src[i] is the operation behind ops[i]
	infty     int64       // the return time of indeterminate writes
	completed int         // ok operations: the completions of the history
	// failed are the fail writes by value, to explain reads of them.
	failed map[string]*clientOp
	// all are the key's operations as recorded (for the tag witness).
	all []*clientOp
	// built says the fields above all are computed (see build).
	built bool
}

// buildKey turns one key's operations into Porcupine operations with
// Jepsen's semantics: ok operations as they are; an info (or pending)
// write may take effect at any time after its invoke or never, so its
// return is the end of the history; info and fail reads constrain nothing
// and fail writes never took effect, so they are dropped.
//
// Two exact simplifications follow from written values being unique. An
// indeterminate write that no read observed is dropped: it can always be
// linearized last, where it changes nothing. One that a read observed must
// take effect before every read of its value returns, so its return is the
// earliest such return instead of infinity. Neither changes the verdict;
// both keep the search (and the segments, see segment.go) small.
func buildKey(key string, ops []*clientOp, end int64) *keyHistory {
	kh := newKey(key, ops, end)
	kh.build()
	return kh
}

// newKey is a key's history before build: enough for the tag witness,
// which spares a key it decides the cost of building Porcupine's input.
func newKey(key string, ops []*clientOp, end int64) *keyHistory {
	return &keyHistory{key: key, infty: end + 1, all: ops}
}

// build computes Porcupine's operations from kh.all (see buildKey), once.
func (kh *keyHistory) build() {
	if kh.built {
		return
	}
	kh.built = true
	ops := kh.all
	kh.values, kh.failed = []string{""}, map[string]*clientOp{}
	ids := make(map[string]int, len(ops)/2)
	ids[""] = 0
	intern := func(v string) int {
		if id, ok := ids[v]; ok {
			return id
		}
		ids[v] = len(kh.values)
		kh.values = append(kh.values, v)
		return ids[v]
	}
	readBy := map[string]int64{} // value -> earliest return of an ok read of it
	writers := map[string]int{}  // value -> ok and indeterminate writes of it
	for _, o := range ops {
		switch {
		case o.f == history.FRead && o.typ == history.Ok:
			if t, ok := readBy[o.value]; !ok || o.ret < t {
				readBy[o.value] = o.ret
			}
		case o.f == history.FWrite && o.typ != history.Fail:
			writers[o.value]++
		}
	}
	clients := map[int]int{} // process -> compact row for the visualization
	for _, o := range ops {
		var op porcupine.Operation
		switch {
		case o.f == history.FRead && o.typ == history.Ok:
			op = porcupine.Operation{Input: regInput{}, Output: intern(o.value), Call: o.call, Return: o.ret}
		case o.f == history.FWrite && o.typ == history.Ok:
			op = porcupine.Operation{Input: regInput{write: true, v: intern(o.value)}, Call: o.call, Return: o.ret}
		case o.f == history.FWrite && (o.typ == history.Info || o.typ == pendingType):
			t, read := readBy[o.value]
			if !read {
				continue
			}
			ret := kh.infty
			if writers[o.value] == 1 {
				// A read before the invoke makes the history illegal
				// anyway; keep the interval well-formed.
				ret = max(t, o.call)
			}
			op = porcupine.Operation{Input: regInput{write: true, v: intern(o.value)}, Call: o.call, Return: ret}
		default:
			if o.f == history.FWrite && o.typ == history.Fail {
				kh.failed[o.value] = o
			}
			continue
		}
		if o.typ == history.Ok {
			kh.completed++
		}
		c, ok := clients[o.process]
		if !ok {
			c = len(clients)
			clients[o.process] = c
		}
		op.ClientId = c
		op.Metadata = o
		kh.ops = append(kh.ops, op)
		kh.src = append(kh.src, o)
	}
}

// step is the register's sequential specification on interned values.
func step(state, input, output any) (bool, any) {
	in, _ := input.(regInput)
	if in.write {
		return true, in.v
	}
	out, ok := output.(int)
	return ok && out == state, state
}

// model is the register model for one key, starting in state init,
// watched by g (nil: unwatched, for drawing).
func (kh *keyHistory) model(g *guard, init int) porcupine.Model {
	m := porcupine.Model{
		Init: func() any { return init },
		Step: func(state, input, output any) (bool, any) {
			if !g.allow() {
				return false, state
			}
			ok, next := step(state, input, output)
			if ok {
				g.stepped()
			}
			return ok, next
		},
		Hash: func(state any) uint64 {
			s, _ := state.(int)
			return uint64(s) * 0x9e3779b97f4a7c15
		},
		DescribeOperation: func(input, output any) string {
			in, _ := input.(regInput)
			if in.write {
				return "write " + strconv.Quote(short(kh.value(in.v)))
			}
			out, _ := output.(int)
			return "read -> " + strconv.Quote(short(kh.value(out)))
		},
		DescribeState: func(state any) string {
			s, _ := state.(int)
			return strconv.Quote(short(kh.value(s)))
		},
		DescribeOperationMetadata: func(md any) string {
			o, ok := md.(*clientOp)
			if !ok || o == nil {
				return ""
			}
			s := fmt.Sprintf("process %d, line %d, %s", o.process, o.line, o.typ)
			if o.typ == history.Info || o.typ == pendingType {
				s += " (may take effect at any time after its invoke, or never)"
			}
			if o.err != "" {
				s += ": " + o.err
			}
			return s
		},
	}
	return m
}

// setModel is the model starting in any of the states inits (Porcupine's
// power-set construction), for checking and drawing one segment of a key's
// history on its own.
func (kh *keyHistory) setModel(g *guard, inits []int) porcupine.Model {
	m := kh.model(nil, 0)
	nm := porcupine.NondeterministicModel{
		Init: func() []any {
			out := make([]any, len(inits))
			for i, s := range inits {
				out[i] = s
			}
			return out
		},
		Step: func(state, input, output any) []any {
			if !g.allow() {
				return nil
			}
			if ok, next := step(state, input, output); ok {
				g.stepped()
				return []any{next}
			}
			return nil
		},
		Hash:                      m.Hash,
		DescribeOperation:         m.DescribeOperation,
		DescribeState:             m.DescribeState,
		DescribeOperationMetadata: m.DescribeOperationMetadata,
	}
	return nm.ToModel()
}

func (kh *keyHistory) value(id int) string {
	if id >= 0 && id < len(kh.values) {
		return kh.values[id]
	}
	return "?"
}

// guard stops a Porcupine search when its context ends or when it is
// about to outgrow its memory share. Porcupine's cache keeps an n-bit set
// of linearized operations for (at most) every successful model step, and
// how many steps a search takes depends on the concurrency in the history
// (about one per operation at low concurrency, a hundred at ten
// concurrent operations), so the bound is enforced by counting steps as
// they happen rather than estimated up front. A stopped search makes every
// later step fail, so Porcupine returns promptly; its answer is then only
// trusted if it is Ok (every step taken was real).
type guard struct {
	abort    atomic.Bool
	overMem  atomic.Bool
	steps    atomic.Int64
	maxSteps int64
	share    int64 // bytes
}

func newGuard(ctx context.Context, share int64) (*guard, func() bool) {
	g := &guard{share: share}
	stop := context.AfterFunc(ctx, func() { g.abort.Store(true) })
	return g, stop
}

// reset prepares g for a search of n operations; verbose searches also
// keep a partial linearization per step.
func (g *guard) reset(n int, verbose bool) {
	per := int64(n/64+1)*8 + 96 // the bitset, its cache entry and map slot
	if verbose {
		per += 64
	}
	g.steps.Store(0)
	g.maxSteps = max(g.share/per, 1)
}

func (g *guard) allow() bool { return g == nil || !g.abort.Load() }

func (g *guard) stepped() {
	if g != nil && g.steps.Add(1) > g.maxSteps {
		g.overMem.Store(true)
		g.abort.Store(true)
	}
}

// searchShare is the memory each of the parallel searches may use.
func searchShare(opts Options) int64 {
	return opts.MemoryLimit / int64(workers())
}

// checkLinearizability runs the cheap check on every key in parallel
// (GOMAXPROCS at a time, each within its memory share), then diagnoses the
// invalid keys.
func (r *Result) checkLinearizability(ctx context.Context, h *prepared, opts Options) {
	byKey := h.byKey()
	khs := make([]*keyHistory, 0, len(byKey))
	for _, k := range h.keys {
		khs = append(khs, newKey(k, byKey[k], h.end))
	}
	// Biggest first, so that the long pole starts early.
	order := make([]int, len(khs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return len(khs[order[a]].all) > len(khs[order[b]].all) })

	cctx := ctx
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	results := make([]KeyResult, len(khs))
	fast := make([]keyFast, len(khs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers(); w++ {
		wg.Go(func() {
			for i := range jobs {
				results[i], fast[i] = checkKey(cctx, khs[i], searchShare(opts))
			}
		})
	}
	for _, i := range order {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	// Diagnose invalid keys: find the failing operation and compute the
	// visualization, all keys together within VerboseTimeout.
	var invalid []int
	for i := range results {
		if results[i].Verdict == Invalid {
			invalid = append(invalid, i)
		}
	}
	diags := make([]*diagnosis, len(khs))
	dctx := ctx
	if opts.VerboseTimeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, opts.VerboseTimeout)
		defer cancel()
	}
	jobs = make(chan int)
	for w := 0; w < workers(); w++ {
		wg.Go(func() {
			for i := range jobs {
				diags[i] = diagnose(dctx, khs[i], results[i].probe, fast[i], h, opts)
			}
		})
	}
	for _, i := range invalid {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	var bad, undecided []string
	for i, kr := range results {
		r.Keys = append(r.Keys, kr)
		switch kr.Verdict {
		case Invalid:
			bad = append(bad, quoteKey(kr.Key))
			d := diags[i]
			r.diags[kr.Key] = d
			r.Anomalies = append(r.Anomalies, d.anomaly())
		case Unknown:
			undecided = append(undecided, quoteKey(kr.Key)+" ("+kr.Reason+")")
		}
		if w := fast[i].witness; w != nil && !w.ok && kr.Verdict != Invalid {
			r.Notes = append(r.Notes, fmt.Sprintf("key %s is %s, but the protocol's tag order is not a linearization: %s",
				quoteKey(kr.Key), kr.Verdict, w.why))
		}
	}
	switch {
	case len(bad) > 0:
		reason := fmt.Sprintf("%d of %d keys not linearizable: %s", len(bad), len(khs), listShort(bad))
		if len(undecided) > 0 {
			reason += fmt.Sprintf("; %d undecided: %s", len(undecided), listShort(undecided))
		}
		r.Checkers[CheckLinearizability] = CheckerResult{Invalid, reason}
	case len(undecided) > 0:
		r.Checkers[CheckLinearizability] = CheckerResult{Unknown, fmt.Sprintf(
			"%d of %d keys undecided: %s", len(undecided), len(khs), listShort(undecided))}
	default:
		r.Checkers[CheckLinearizability] = CheckerResult{Valid, fmt.Sprintf(
			"all %d keys linearizable", len(khs))}
	}
}

// Methods that decide a key (KeyResult.Method).
const (
	MethodTagOrder    = "tag-order"
	MethodReadMapping = "read-mapping"
	MethodPorcupine   = "porcupine"
)

// keyFast is what the fast checks learned about a key, for its diagnosis.
type keyFast struct {
	// witness is the tag witness's result; nil if the key has no tags.
	witness *witnessResult
	// zone says the read-mapping check found the key invalid: the
	// diagnosis then bisects with it rather than with Porcupine.
	zone bool
}

// checkKey decides one key: the tag witness first (a linearization the
// protocol recorded), then the exact read-mapping check, then Porcupine
// for what neither decides (duplicate written values).
func checkKey(ctx context.Context, kh *keyHistory, share int64) (kr KeyResult, kf keyFast) {
	kr = KeyResult{Key: kh.key}
	if ctx.Err() != nil {
		kh.build()
		kr.Ops = len(kh.ops)
		kr.Verdict, kr.Reason = Unknown, "time limit reached before the check started"
		return kr, kf
	}
	start := time.Now()
	defer func() { kr.Seconds = time.Since(start).Seconds() }()
	if porcupineOnly {
		kh.build()
		kr.Method, kr.Ops = MethodPorcupine, len(kh.ops)
		return checkPorcupine(ctx, kh, share, kr), kf
	}
	if w := tagWitness(kh.all); w.applicable {
		kf.witness = &w
		if w.ok {
			kr.Verdict, kr.Method, kr.Ops = Valid, MethodTagOrder, w.n
			return kr, kf
		}
	}
	kh.build()
	kr.Ops = len(kh.ops)
	switch zr := zoneCheck(kh.ops); zr.verdict {
	case zoneValid:
		kr.Verdict, kr.Method = Valid, MethodReadMapping
		return kr, kf
	case zoneInvalid:
		kr.Verdict, kr.Method, kf.zone = Invalid, MethodReadMapping, true
		return kr, kf
	}
	kr.Method = MethodPorcupine
	return checkPorcupine(ctx, kh, share, kr), kf
}

// porcupineOnly skips the fast checks, for tests of the Porcupine path
// (time and memory limits, the prefix probe).
var porcupineOnly bool

// checkPorcupine decides kh with Porcupine's segmented search.
func checkPorcupine(ctx context.Context, kh *keyHistory, share int64, kr KeyResult) KeyResult {
	sc := kh.check(ctx, kh.ops, share)
	switch sc.res {
	case porcupine.Ok:
		kr.Verdict = Valid
	case porcupine.Illegal:
		kr.Verdict = Invalid
	default:
		if sc.overMem {
			if p, n := probePrefixes(ctx, kh, share); p != nil {
				kr.Verdict, kr.probe = Invalid, p
				kr.Reason = fmt.Sprintf("the history up to its completion %d of %d is not linearizable (the search of the whole outgrew its memory share)",
					p.fail+1, n)
				return kr
			}
		}
		kr.Verdict = Unknown
		switch {
		case sc.overMem:
			kr.Reason = fmt.Sprintf("memory limit: the search of a stretch of %d operations without a quiescent point outgrew its share of %s",
				maxSegment(sc.segs), fmtBytes(share))
		case ctx.Err() == context.Canceled:
			kr.Reason = "check cancelled"
		default:
			kr.Reason = "time limit reached"
		}
	}
	return kr
}

// probePrefixes looks for a failing prefix of a key whose whole history
// was too big to search: a history that is not linearizable makes the
// search exhaust every order of a long stretch without a quiescent point
// (ten clients on one key leave none), while the prefix ending shortly
// after the violation is small. Linearizability is prefix-closed, so a
// failing prefix decides the key. Prefixes grow by half from 16 completions;
// the probe stops at the first one that is itself undecided. It returns
// what it learned (nil if no prefix failed) and the key's completions.
func probePrefixes(ctx context.Context, kh *keyHistory, share int64) (*probed, int) {
	cs := completions(kh)
	pass := -1
	for n := 16; n < len(cs); n += n / 2 {
		switch kh.check(ctx, prefixAt(kh, cs, n-1), share).res {
		case porcupine.Illegal:
			return &probed{pass: pass, fail: n - 1}, len(cs)
		case porcupine.Unknown:
			return nil, len(cs)
		}
		pass = n - 1
	}
	return nil, len(cs)
}

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
	d := &diagnosis{kh: kh, prefix: -1, best: kh.ops, window: kh.ops, inits: []int{0}}
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
	res, info := porcupine.CheckOperationsVerbose(d.kh.setModel(g, d.inits), d.window, timeout)
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
			len(d.window), fmtNS(lo), strings.Join(vals, " or ")))
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
			Details:         fmt.Sprintf("%s from %s to %s", desc, fmtNS(iv.Start), fmtNS(iv.End)),
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

func quoteKey(k string) string { return strconv.Quote(k) }

// listShort joins at most 10 items.
func listShort(items []string) string {
	if len(items) <= 10 {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:10], ", ") + fmt.Sprintf(", and %d more", len(items)-10)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n/1024)
	}
}

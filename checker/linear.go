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
	v     int // written value (writes, cas)
	// cas: set v if the state is old; its output is true (it did),
	// casUnknown (indeterminate: it did, or the state was not old).
	cas bool
	old int
	// notBase, for a covered write's read, is its base + 1: the state
	// read must not be the base (cover.go).
	notBase int
}

// casUnknown is the output of a cas whose outcome is unknown.
const casUnknown = "unknown"

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
	// cas says the key needs the model's step for every operation (cover.go):
	// no fast check decides it and its history is searched whole.
	cas bool
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
	kh.cas = needsModel(ops)
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
	// clients numbers processes by first appearance; the visualization
	// redraws its window one row per process (diagnosis.laneWindow).
	clients := map[int]int{}
	for _, o := range ops {
		var op porcupine.Operation
		switch {
		case o.f == history.FRead && o.typ == history.Ok:
			in := regInput{}
			if o.selfCovered {
				in.notBase = intern(o.baseValue) + 1
			}
			op = porcupine.Operation{Input: in, Output: intern(o.value), Call: o.call, Return: o.ret}
		case o.f == history.FCAS && o.typ == history.Ok:
			op = porcupine.Operation{Input: regInput{cas: true, old: intern(o.baseValue), v: intern(o.value)}, Output: true, Call: o.call, Return: o.ret}
		case o.f == history.FCAS && (o.typ == history.Info || o.typ == pendingType):
			op = porcupine.Operation{Input: regInput{cas: true, old: intern(o.baseValue), v: intern(o.value)}, Output: casUnknown, Call: o.call, Return: kh.infty}
		case o.f == history.FWrite && (o.typ == history.Info || o.typ == pendingType) && kh.cas:
			// Values need not be unique: no simplification.
			op = porcupine.Operation{Input: regInput{write: true, v: intern(o.value)}, Call: o.call, Return: kh.infty}
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
	switch {
	case in.write:
		return true, in.v
	case in.cas:
		if state == in.old {
			return true, in.v
		}
		return output == casUnknown, state
	}
	out, ok := output.(int)
	return ok && out == state && (in.notBase == 0 || out != in.notBase-1), state
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
			if in.cas {
				s := fmt.Sprintf("cas %q -> %q", short(kh.value(in.old)), short(kh.value(in.v)))
				if output == casUnknown {
					s += " (outcome unknown)"
				}
				return s
			}
			if in.notBase > 0 {
				return fmt.Sprintf("covered write (base %q) -> %q", short(kh.value(in.notBase-1)), short(kh.value(output.(int))))
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
			return describeMetadata(o)
		},
	}
	return m
}

// describeMetadata is an operation's tooltip in the visualization: who
// ran it, where it is in the history, how it ended and, when the history
// records them, the tag it wrote or returned and the configuration it
// finished in.
func describeMetadata(o *clientOp) string {
	f := o.f
	if o.orig != "" {
		f = o.orig
	}
	s := fmt.Sprintf("p%d %s, line %d, %s", o.process, f, o.line, o.typ)
	if o.typ == history.Info || o.typ == pendingType {
		s += " (may take effect at any time after its invoke, or never)"
	}
	if o.err != "" {
		s += ": " + o.err
	}
	if o.tag != nil {
		s += "; tag " + o.tag.String()
	}
	if o.config >= 0 {
		s += fmt.Sprintf("; config %d", o.config)
	}
	if o.configs > 1 {
		s += fmt.Sprintf(" (visited %d configurations)", o.configs)
	}
	if o.behind {
		s += "; behind"
	}
	if o.covered {
		s += "; covered"
	}
	if o.final {
		s += "; final read"
	}
	return s
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
	byKey := h.linearOps()
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
	var started atomic.Int64
	for w := 0; w < workers(); w++ {
		wg.Go(func() {
			for i := range jobs {
				opts.progress(fmt.Sprintf("key %s (%d of %d)", quoteKey(khs[i].key), started.Add(1), len(khs)))
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
				opts.progress("key " + quoteKey(khs[i].key) + ": diagnosis")
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
	if porcupineOnly || needsModel(kh.all) {
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

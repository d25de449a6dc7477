package checker

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/ares-torture/torture/history"
)

// Differential test of the three ways to decide a key: the tag witness,
// the read-mapping check and a plain Porcupine search. Where each gives a
// verdict they must agree.

// anomaly kinds injected into simulated histories.
const (
	anomNone = iota
	anomStale
	anomLost
	anomDupTag
	anomFuture
	anomKinds
)

var anomNames = []string{"none", "stale read", "lost write", "duplicate tag", "read from the future"}

// sim is one simulated operation.
type sim struct {
	p         int
	f         string
	v         string
	call, ret int64 // ret -1: pending
	typ       history.Type
	lp        int64 // linearization point
	effect    bool
	tag       *history.Tag
	config    uint64
}

// simulate runs clients against an atomic register on key "x": each
// operation takes effect at a random point of its interval (info writes
// maybe never, fail writes never), reads return what the register holds,
// and tags follow the linearization, as ARES's do. Times are small
// integers so that equal times occur. kind injects one anomaly.
func simulate(rng *rand.Rand, n, clients, kind int) []history.Op {
	ops := make([]*sim, 0, n)
	next := make([]int64, clients)
	procs := make([]int, clients)
	for c := range procs {
		procs[c] = c
	}
	np := clients
	span := int64(3 * clients)
	for i := 0; i < n; i++ {
		c := rng.Intn(clients)
		call := next[c] + 1 + rng.Int63n(span)
		ret := call + rng.Int63n(span)
		o := &sim{p: procs[c], call: call, ret: ret, typ: history.Ok, effect: true, config: uint64(rng.Intn(3))}
		o.lp = call + rng.Int63n(ret-call+1)
		if rng.Intn(2) == 0 {
			o.f, o.v = history.FWrite, fmt.Sprintf("v%d", i)
			switch rng.Intn(10) {
			case 0:
				o.typ, o.effect = history.Info, rng.Intn(2) == 0
				procs[c] = np
				np++
			case 1:
				o.typ, o.effect = history.Fail, false
			}
		} else {
			o.f = history.FRead
			if rng.Intn(20) == 0 {
				o.typ = history.Info
				procs[c] = np
				np++
			}
		}
		next[c] = ret
		ops = append(ops, o)
	}
	var okWrites []*sim
	for _, o := range ops {
		if o.f == history.FWrite && o.typ == history.Ok {
			okWrites = append(okWrites, o)
		}
	}
	if kind == anomLost && len(okWrites) > 0 {
		okWrites[rng.Intn(len(okWrites))].effect = false
	}
	order := append([]*sim(nil), ops...)
	sort.SliceStable(order, func(a, b int) bool { return order[a].lp < order[b].lp })
	// Tags in linearization order; some consecutive writes share a ts
	// (then the writer id orders them).
	var cur history.Tag
	val := ""
	var ts uint64
	k := 0
	var applied []*sim
	for _, o := range order {
		switch {
		case o.f == history.FWrite && o.effect:
			if k == 0 || rng.Intn(3) > 0 {
				ts++
			}
			t := history.Tag{TS: ts, WID: fmt.Sprintf("w%05d", k)}
			k++
			o.tag, cur, val = &t, t, o.v
			applied = append(applied, o)
		case o.f == history.FWrite && o.typ == history.Ok:
			// A lost write: acknowledged, with a tag, but overwritten
			// at once by nothing.
			ts++
			t := history.Tag{TS: ts, WID: fmt.Sprintf("w%05d", k)}
			k++
			o.tag = &t
		case o.f == history.FRead && o.typ == history.Ok:
			t := cur
			o.v, o.tag = val, &t
		}
	}
	var reads []*sim
	for _, o := range ops {
		if o.f == history.FRead && o.typ == history.Ok {
			reads = append(reads, o)
		}
	}
	switch kind {
	case anomStale:
		if len(reads) > 0 && len(applied) > 1 {
			r := reads[rng.Intn(len(reads))]
			w := applied[rng.Intn(len(applied))]
			r.v, r.tag = w.v, w.tag
		}
	case anomDupTag:
		if len(okWrites) > 1 {
			a, b := okWrites[rng.Intn(len(okWrites))], okWrites[rng.Intn(len(okWrites))]
			if a != b && a.tag != nil && b.tag != nil {
				// Readers of b see the shared tag, and some of them,
				// as with the tag-reuse bug, a's value.
				old := *b.tag
				flip := rng.Intn(2) == 0
				for _, r := range reads {
					if *r.tag == old {
						r.tag = a.tag
						if flip && rng.Intn(2) == 0 {
							r.v = a.v
						}
					}
				}
				b.tag = a.tag
			}
		}
	case anomFuture:
		if len(reads) > 0 {
			r := reads[rng.Intn(len(reads))]
			for _, w := range ops {
				if w.f == history.FWrite && w.call > r.ret && w.tag != nil {
					r.v, r.tag = w.v, w.tag
					break
				}
			}
		}
	}
	// Info writes carry no tag: only the reads that saw them tell it.
	for _, o := range ops {
		if o.typ != history.Ok {
			o.tag = nil
		}
	}
	if rng.Intn(4) == 0 {
		// A truncated history: the last operation never completed.
		last := ops[0]
		for _, o := range ops {
			if o.call > last.call {
				last = o
			}
		}
		last.ret, last.typ = -1, pendingType
	}
	return simLines(ops)
}

// simLines turns simulated operations into history lines, an invoke
// before completions at equal times.
func simLines(ops []*sim) []history.Op {
	type line struct {
		op  history.Op
		ord int
	}
	var ls []line
	for _, o := range ops {
		inv := history.Op{Type: history.Invoke, Process: o.p, F: o.f, Key: "x", Time: o.call}
		if o.f == history.FWrite {
			inv.Value = o.v
		}
		ls = append(ls, line{inv, 0})
		if o.ret < 0 {
			continue
		}
		c := history.Op{Type: o.typ, Process: o.p, F: o.f, Key: "x", Time: o.ret, Tag: o.tag}
		if o.f == history.FWrite || o.typ == history.Ok {
			c.Value = o.v
		}
		if o.typ == history.Ok {
			cfg := o.config
			c.Config = &cfg
		}
		ls = append(ls, line{c, 1})
	}
	sort.SliceStable(ls, func(a, b int) bool {
		if ls[a].op.Time != ls[b].op.Time {
			return ls[a].op.Time < ls[b].op.Time
		}
		return ls[a].ord < ls[b].ord
	})
	out := make([]history.Op, len(ls))
	for i := range ls {
		out[i] = ls[i].op
	}
	return out
}

// plainPorcupine checks a single-key history the textbook way (as
// reference does), within a time limit.
func plainPorcupine(ops []history.Op, timeout time.Duration) porcupine.CheckResult {
	h, err := prepare(ops)
	if err != nil {
		panic(err)
	}
	var pops []porcupine.Operation
	for _, o := range h.ops {
		switch {
		case o.f == history.FRead && o.typ == history.Ok:
			pops = append(pops, porcupine.Operation{Input: [2]string{"r", ""}, Output: o.value, Call: o.call, Return: o.ret})
		case o.f == history.FWrite && o.typ == history.Ok:
			pops = append(pops, porcupine.Operation{Input: [2]string{"w", o.value}, Call: o.call, Return: o.ret})
		case o.f == history.FWrite && o.typ != history.Fail:
			pops = append(pops, porcupine.Operation{Input: [2]string{"w", o.value}, Call: o.call, Return: h.end + 1})
		}
	}
	return porcupine.CheckOperationsTimeout(referenceModel, pops, timeout)
}

// fastVerdicts runs the witness and the read-mapping check on the single
// key of ops.
func fastVerdicts(ops []history.Op) (witnessResult, zoneResult, *keyHistory) {
	h, err := prepare(ops)
	if err != nil {
		panic(err)
	}
	var kh *keyHistory
	for k, kops := range h.byKey() {
		kh = buildKey(k, kops, h.end)
	}
	if kh == nil {
		kh = buildKey("x", nil, h.end)
	}
	return tagWitness(kh.all), zoneCheck(kh.ops), kh
}

type diffCounts struct {
	histories, disagreements, undecided     int
	valid, invalid, witnessOK, witnessNo    int
	zoneDecided, porcupineDecided, checkRun int
}

// compare checks one history all ways and reports disagreements.
func (c *diffCounts) compare(t *testing.T, name string, ops []history.Op, withPorcupine bool) {
	t.Helper()
	c.histories++
	wit, zr, _ := fastVerdicts(ops)
	if wit.applicable {
		if wit.ok {
			c.witnessOK++
		} else {
			c.witnessNo++
		}
	}
	if zr.verdict != zoneUndecided {
		c.zoneDecided++
	}
	fail := func(format string, args ...any) {
		c.disagreements++
		if c.disagreements <= 5 {
			for _, o := range ops {
				t.Logf("  %+v", o)
			}
			t.Errorf("%s: "+format, append([]any{name}, args...)...)
		}
	}
	if wit.ok && zr.verdict == zoneInvalid {
		fail("the tag witness holds but the read-mapping check says invalid (%s)", zr.why)
	}
	if !withPorcupine {
		if zr.verdict == zoneValid {
			c.valid++
		} else if zr.verdict == zoneInvalid {
			c.invalid++
		}
		return
	}
	pc := plainPorcupine(ops, 2*time.Second)
	if pc == porcupine.Unknown {
		c.undecided++
		return
	}
	c.porcupineDecided++
	lin := pc == porcupine.Ok
	if lin {
		c.valid++
	} else {
		c.invalid++
	}
	if wit.ok && !lin {
		fail("the tag witness holds, Porcupine says not linearizable")
	}
	if zr.verdict != zoneUndecided && (zr.verdict == zoneValid) != lin {
		fail("read-mapping says %v (%s), Porcupine linearizable=%v", zr.verdict == zoneValid, zr.why, lin)
	}
	c.checkRun++
	res := Check(context.Background(), ops, Options{MinOK: -1, MinOKShare: -1})
	if got := res.Checkers[CheckLinearizability].Verdict; (got == Valid) != lin || got == Unknown {
		fail("Check says %s (%s), Porcupine linearizable=%v", got, res.Checkers[CheckLinearizability].Reason, lin)
	}
}

func TestDifferential(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	var c diffCounts
	perKind := make([][2]int, anomKinds)
	// Small histories, all three methods.
	for i := 0; i < 1200; i++ {
		kind := i % anomKinds
		clients := 2 + rng.Intn(5)
		ops := simulate(rng, 4+rng.Intn(24), clients, kind)
		before := c.invalid
		c.compare(t, fmt.Sprintf("history %d (%s, %d clients)", i, anomNames[kind], clients), ops, true)
		perKind[kind][0]++
		if c.invalid > before {
			perKind[kind][1]++
		}
	}
	// The test suite's own generators: randomHistory (info, fail and
	// pending operations, near the boundary), hard and synthetic ones.
	for i := 0; i < 300; i++ {
		c.compare(t, fmt.Sprintf("randomHistory %d", i), randomHistory(rng, 4+rng.Intn(20)), true)
	}
	for n := 2; n <= 8; n++ {
		c.compare(t, fmt.Sprintf("hardHistory(%d)", n), hardHistory(n), true)
	}
	for seed := int64(0); seed < 20; seed++ {
		c.compare(t, fmt.Sprintf("synthetic %d", seed), synthetic(seed, 40, 1, 3), true)
	}
	// Busy keys, too big for Porcupine: the witness and the read-mapping
	// check against each other; on the valid ones both must hold.
	for i := 0; i < 100; i++ {
		kind := i % anomKinds
		ops := simulate(rng, 1000, 30, kind)
		c.compare(t, fmt.Sprintf("busy history %d (%s)", i, anomNames[kind]), ops, false)
		if kind == anomNone {
			w, zr, _ := fastVerdicts(ops)
			if !w.ok || zr.verdict != zoneValid {
				c.disagreements++
				t.Errorf("busy history %d is valid by construction: witness %v (%s), read-mapping %v (%s)", i, w.ok, w.why, zr.verdict, zr.why)
			}
		}
	}
	for k := range perKind {
		t.Logf("%-20s %4d histories, %4d not linearizable", anomNames[k], perKind[k][0], perKind[k][1])
	}
	t.Logf("%d histories, %d disagreements; %d decided by Porcupine (%d undecided), %d by read-mapping; witness held on %d, failed on %d; %d linearizable, %d not",
		c.histories, c.disagreements, c.porcupineDecided, c.undecided, c.zoneDecided, c.witnessOK, c.witnessNo, c.valid, c.invalid)
	if c.disagreements > 0 {
		t.Fatalf("%d disagreements", c.disagreements)
	}
}

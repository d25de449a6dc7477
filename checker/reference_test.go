package checker

import (
	"context"
	"fmt"
	"math/rand"
	"sort"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/ares-torture/torture/history"
)

// referenceModel is the plain register on string values.
var referenceModel = porcupine.Model{
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.([2]string)
		if in[0] == "w" {
			return true, in[1]
		}
		return output == state, state
	},
}

// reference checks one key the textbook way: every ok operation, every
// info or pending write with an infinite return, nothing dropped, no
// segments.
func reference(ops []history.Op) bool {
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
	return porcupine.CheckOperations(referenceModel, pops)
}

// referencePrefix is the number of completions of the longest
// linearizable prefix, by brute force: each prefix cut at a completion,
// later-completing writes pending forever, later-completing reads dropped.
func referencePrefix(ops []history.Op) int {
	h, _ := prepare(ops)
	var done []*clientOp
	for i := range h.ops {
		if h.ops[i].typ == history.Ok {
			done = append(done, &h.ops[i])
		}
	}
	sort.SliceStable(done, func(a, b int) bool { return done[a].ret < done[b].ret })
	for j := range done {
		cut := done[j].ret
		in := map[*clientOp]bool{}
		for _, d := range done[:j+1] {
			in[d] = true
		}
		var pops []porcupine.Operation
		for i := range h.ops {
			o := &h.ops[i]
			if o.call > cut || o.typ == history.Fail {
				continue
			}
			switch {
			case in[o] && o.f == history.FRead:
				pops = append(pops, porcupine.Operation{Input: [2]string{"r", ""}, Output: o.value, Call: o.call, Return: o.ret})
			case in[o]:
				pops = append(pops, porcupine.Operation{Input: [2]string{"w", o.value}, Call: o.call, Return: o.ret})
			case o.f == history.FWrite:
				pops = append(pops, porcupine.Operation{Input: [2]string{"w", o.value}, Call: o.call, Return: h.end + 1})
			}
		}
		if !porcupine.CheckOperations(referenceModel, pops) {
			return j
		}
	}
	return -1
}

// randomHistory simulates a register: every operation takes effect at a
// random point of its interval (info writes maybe never, fail writes
// never), and reads return what it holds then. Half the time one read is
// then changed to another recent value, so that the histories sit near the
// boundary between linearizable and not. Intervals are short relative to
// the span so that quiescent points, and so segments, occur.
func randomHistory(rng *rand.Rand, n int) []history.Op {
	type sop struct {
		top
		lp     int64
		effect bool
	}
	var ops []sop
	next := make([]int64, 4)
	procs := []int{0, 1, 2, 3}
	np := 4
	for i := 0; i < n; i++ {
		c := rng.Intn(len(next))
		call := next[c] + 1 + int64(rng.Intn(30))
		ret := call + 1 + int64(rng.Intn(25))
		o := sop{top: top{p: procs[c], key: "x", call: call, ret: ret, typ: history.Ok}, effect: true}
		o.lp = call + rng.Int63n(ret-call+1)
		if rng.Intn(2) == 0 {
			o.f = history.FWrite
			o.v = fmt.Sprintf("v%d", i)
			switch rng.Intn(8) {
			case 0:
				o.typ = history.Info
				o.effect = rng.Intn(2) == 0
				procs[c] = np
				np++
			case 1:
				o.typ = history.Fail
				o.effect = false
			}
		} else {
			o.f = history.FRead
		}
		next[c] = ret
		ops = append(ops, o)
	}
	order := rng.Perm(len(ops))
	sort.SliceStable(order, func(a, b int) bool { return ops[order[a]].lp < ops[order[b]].lp })
	state := ""
	var seen []string
	for _, i := range order {
		o := &ops[i]
		switch {
		case o.f == history.FWrite && o.effect:
			state = o.v
			seen = append(seen, o.v)
		case o.f == history.FRead:
			o.v = state
		}
	}
	if rng.Intn(2) == 0 && len(seen) > 0 {
		var reads []int
		for i := range ops {
			if ops[i].f == history.FRead {
				reads = append(reads, i)
			}
		}
		if len(reads) > 0 {
			ops[reads[rng.Intn(len(reads))]].v = seen[rng.Intn(len(seen))]
		}
	}
	tops := make([]top, len(ops))
	for i := range ops {
		tops[i] = ops[i].top
	}
	// Sometimes cut the history short: a pending write or read.
	h := build(tops)
	if rng.Intn(4) == 0 && len(h) > 2 && h[len(h)-1].Type != history.Invoke {
		h = h[:len(h)-1]
	}
	return h
}

func TestAgreesWithReference(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	var valid, invalid int
	n := 1500
	if testing.Short() {
		n = 300
	}
	for i := 0; i < n; i++ {
		ops := randomHistory(rng, 4+rng.Intn(20))
		want := reference(ops)
		res := Check(context.Background(), ops, Options{MinOK: -1, MinOKShare: -1})
		got := res.Checkers[CheckLinearizability].Verdict
		if (got == Valid) != want || got == Unknown {
			for _, o := range ops {
				t.Logf("%+v", o)
			}
			t.Fatalf("history %d: checker says %s, reference says linearizable=%v", i, got, want)
		}
		if want {
			valid++
		} else {
			invalid++
			// The named failing prefix must be the first illegal one.
			a := findAnomaly(t, res, CheckLinearizability)
			if a.Op == nil {
				t.Fatalf("history %d: no failing op", i)
			}
			if want := referencePrefix(ops); a.LinearizablePrefix != want {
				for _, o := range ops {
					t.Logf("%+v", o)
				}
				t.Fatalf("history %d: linearizable prefix %d, reference %d", i, a.LinearizablePrefix, want)
			}
		}
	}
	t.Logf("%d linearizable, %d not", valid, invalid)
	if valid < n/10 || invalid < n/10 {
		t.Fatalf("generator is lopsided: %d valid, %d invalid", valid, invalid)
	}
}

package checker

import (
	"fmt"
	"math/rand"
	"sort"

	"github.com/ares-torture/torture/history"
)

// top is one client operation for building test histories.
type top struct {
	p    int
	f    string
	key  string
	v    string // written value, or the value an ok read returned
	call int64
	ret  int64        // -1: no completion (a truncated history)
	typ  history.Type // ok, fail, info
}

func w(p int, key, v string, call, ret int64) top {
	return top{p: p, f: history.FWrite, key: key, v: v, call: call, ret: ret, typ: history.Ok}
}

func r(p int, key, v string, call, ret int64) top {
	return top{p: p, f: history.FRead, key: key, v: v, call: call, ret: ret, typ: history.Ok}
}

func (o top) as(t history.Type) top { o.typ = t; return o }

// nem is a nemesis interval for test histories.
type nem struct {
	fault, value string
	id           int
	start, stop  int64
}

// build turns operations into history lines ordered by time, an invoke
// before the completions at the same time, closed by the end-of-run line
// (see buildOpen).
func build(ops []top, nems ...nem) []history.Op {
	out := buildOpen(ops, nems...)
	end := int64(0)
	if len(out) > 0 {
		end = out[len(out)-1].Time
	}
	return append(out, history.Op{Type: history.End, Time: end})
}

// buildOpen is build without the end-of-run line: a history cut short.
func buildOpen(ops []top, nems ...nem) []history.Op {
	type line struct {
		op  history.Op
		ord int
	}
	var ls []line
	for _, o := range ops {
		inv := history.Op{Type: history.Invoke, Process: o.p, F: o.f, Key: o.key, Time: o.call}
		if o.f == history.FWrite {
			inv.Value = o.v
		}
		ls = append(ls, line{inv, 0})
		if o.ret < 0 {
			continue
		}
		c := history.Op{Type: o.typ, Process: o.p, F: o.f, Key: o.key, Time: o.ret}
		if o.f == history.FWrite || o.typ == history.Ok {
			c.Value = o.v
		}
		if o.typ == history.Info {
			c.Error = "timeout"
		}
		ls = append(ls, line{c, 1})
	}
	for _, n := range nems {
		ls = append(ls, line{history.Op{Type: history.Nemesis, F: history.FStart, Fault: n.fault, Value: n.value, ID: n.id, Time: n.start}, 0})
		if n.stop >= 0 {
			ls = append(ls, line{history.Op{Type: history.Nemesis, F: history.FStop, Fault: n.fault, ID: n.id, Time: n.stop}, 1})
		}
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

// synthetic generates a linearizable history of n client operations on
// the given keys by the given number of concurrent clients: every
// operation takes effect at a random point inside its interval, and reads
// return what a real register holds at that point. A share of writes
// ends in info (some took effect, some not), after which the client
// continues as a new process, as in Jepsen.
func synthetic(seed int64, n, keys, clients int) []history.Op {
	rng := rand.New(rand.NewSource(seed))
	type sop struct {
		top
		lp     int64 // linearization point
		effect bool
	}
	ops := make([]sop, 0, n)
	next := make([]int64, clients)
	procs := make([]int, clients)
	for c := range procs {
		procs[c] = c
	}
	nextProc := clients
	for i := 0; i < n; i++ {
		c := rng.Intn(clients)
		call := next[c] + 1 + int64(rng.Intn(200_000))
		lat := int64(100_000 + rng.Intn(2_000_000))
		key := fmt.Sprintf("k%d", rng.Intn(keys))
		o := sop{top: top{p: procs[c], key: key, call: call, ret: call + lat, typ: history.Ok}, effect: true}
		o.lp = call + rng.Int63n(lat+1)
		if rng.Intn(2) == 0 {
			o.f = history.FRead
		} else {
			o.f = history.FWrite
			o.v = fmt.Sprintf("v%d", i)
			if rng.Intn(50) == 0 {
				o.typ = history.Info
				o.effect = rng.Intn(2) == 0
				procs[c] = nextProc
				nextProc++
			}
		}
		next[c] = o.ret
		ops = append(ops, o)
	}
	idx := make([]int, len(ops))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return ops[idx[a]].lp < ops[idx[b]].lp })
	state := map[string]string{}
	for _, i := range idx {
		o := &ops[i]
		switch {
		case o.f == history.FWrite && o.effect:
			state[o.key] = o.v
		case o.f == history.FRead:
			o.v = state[o.key]
		}
	}
	tops := make([]top, len(ops))
	end := int64(0)
	for i := range ops {
		tops[i] = ops[i].top
		end = max(end, ops[i].ret)
	}
	// The harness's final reads, one per key, after
	// everything else: they verify the keys' acknowledged writes.
	var finals []top
	for k := 0; k < keys; k++ {
		key := fmt.Sprintf("k%d", k)
		finals = append(finals, r(nextProc, key, state[key], end+int64(10*k)+1, end+int64(10*k)+5))
	}
	return markFinal(build(append(tops, finals...)), nextProc)
}

// markFinal marks the lines of process p as the harness's final reads.
func markFinal(hist []history.Op, p int) []history.Op {
	for i := range hist {
		if hist[i].Process == p && hist[i].IsClient() {
			hist[i].Final = true
		}
	}
	return hist
}

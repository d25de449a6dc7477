//go:build unix

package checker

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

// cpuTime is the process's user+system CPU time: on a shared machine it
// says more about the checker's cost than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLenient, set in the environment, makes a wrong verdict a logged
// metric rather than a failure: for running these benchmarks against an
// older checker to compare.
var benchLenient = os.Getenv("CHECKER_BENCH_LENIENT") != ""

func wrongVerdict(b *testing.B, res *Result, want Verdict) {
	b.Helper()
	if benchLenient {
		b.Logf("verdict %s, want %s: %s", res.Verdict, want, res.Reason)
		return
	}
	b.Fatalf("verdict %s, want %s: %s", res.Verdict, want, res.Reason)
}

// benchCheck checks ops b.N times, reporting CPU seconds per check.
func benchCheck(b *testing.B, ops []history.Op, want Verdict) *Result {
	b.ReportAllocs()
	c0 := cpuTime()
	n := 0
	var res *Result
	for b.Loop() {
		res = Check(context.Background(), ops, Options{})
		if res.Verdict != want {
			wrongVerdict(b, res, want)
		}
		n++
	}
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(n), "cpu-s/op")
	return res
}

// BenchmarkCheck checks synthetic linearizable histories of 8 keys and 10
// client processes; the time per op is the checking time of a whole
// history (stats and durability included, no report).
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		ops := synthetic(42, n, 8, 10)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			benchCheck(b, ops, Valid)
		})
	}
}

// BenchmarkCheckOneKey is the worst shape for Porcupine's memory: the
// whole history on a single register.
func BenchmarkCheckOneKey(b *testing.B) {
	for _, n := range []int{5_000, 10_000} {
		ops := synthetic(42, n, 1, 10)
		b.Run(fmt.Sprintf("ops=%d", n), func(b *testing.B) {
			benchCheck(b, ops, Valid)
		})
	}
}

// BenchmarkDiagnose is the cost of an invalid key: the cheap check, the
// search for the failing operation and the verbose check.
func BenchmarkDiagnose(b *testing.B) {
	ops := synthetic(42, 10_000, 8, 10)
	// Make one late read return a value never written.
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].Type == history.Ok && ops[i].F == history.FRead {
			ops[i].Value = "ghost"
			break
		}
	}
	benchCheck(b, ops, Invalid)
}

// tagged generates a linearizable history like synthetic's, with the
// protocol facts ARES records: each ok write's tag (in linearization
// order per key), the tag each ok read returned, and a configuration.
// Info writes carry no tag. Operations are in time order.
func tagged(seed int64, n, keys, clients int) []history.Op {
	rng := rand.New(rand.NewSource(seed))
	type sop struct {
		p         int
		f, key, v string
		call, ret int64
		typ       history.Type
		lp        int64
		effect    bool
		tag       history.Tag
	}
	ops := make([]sop, n)
	next := make([]int64, clients)
	procs := make([]int, clients)
	for c := range procs {
		procs[c] = c
	}
	np := clients
	for i := range ops {
		c := rng.Intn(clients)
		call := next[c] + 1 + int64(rng.Intn(200_000))
		lat := int64(100_000 + rng.Intn(2_000_000))
		o := sop{p: procs[c], key: fmt.Sprintf("k%d", rng.Intn(keys)), call: call, ret: call + lat, typ: history.Ok, effect: true}
		o.lp = call + rng.Int63n(lat+1)
		if rng.Intn(2) == 0 {
			o.f = history.FRead
		} else {
			o.f, o.v = history.FWrite, fmt.Sprintf("v%d", i)
			if rng.Intn(50) == 0 {
				o.typ, o.effect = history.Info, rng.Intn(2) == 0
				procs[c] = np
				np++
			}
		}
		next[c] = o.ret
		ops[i] = o
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return ops[idx[a]].lp < ops[idx[b]].lp })
	type reg struct {
		v   string
		tag history.Tag
	}
	state := map[string]reg{}
	for _, i := range idx {
		o := &ops[i]
		switch {
		case o.f == history.FWrite && o.effect:
			s := state[o.key]
			t := history.Tag{TS: s.tag.TS + 1, WID: fmt.Sprintf("c%d", o.p)}
			o.tag = t
			state[o.key] = reg{o.v, t}
		case o.f == history.FRead:
			s := state[o.key]
			o.v, o.tag = s.v, s.tag
		}
	}
	type line struct {
		op  history.Op
		ord int
	}
	ls := make([]line, 0, 2*n)
	cfg := uint64(1)
	for i := range ops {
		o := &ops[i]
		inv := history.Op{Type: history.Invoke, Process: o.p, F: o.f, Key: o.key, Time: o.call}
		if o.f == history.FWrite {
			inv.Value = o.v
		}
		c := history.Op{Type: o.typ, Process: o.p, F: o.f, Key: o.key, Value: o.v, Time: o.ret}
		if o.typ == history.Ok {
			t := o.tag
			c.Tag, c.Config = &t, &cfg
		}
		ls = append(ls, line{inv, 0}, line{c, 1})
	}
	sort.SliceStable(ls, func(a, b int) bool {
		if ls[a].op.Time != ls[b].op.Time {
			return ls[a].op.Time < ls[b].op.Time
		}
		return ls[a].ord < ls[b].ord
	})
	out := make([]history.Op, len(ls), len(ls)+1)
	for i := range ls {
		out[i] = ls[i].op
	}
	return append(out, history.Op{Type: history.End, Time: out[len(out)-1].Time})
}

// untag drops the protocol facts: a foreign history.
func untag(ops []history.Op) []history.Op {
	out := append([]history.Op(nil), ops...)
	for i := range out {
		out[i].Tag, out[i].Config = nil, nil
	}
	return out
}

// injectStale makes a read in the middle of a one-key history return an
// older value (with its tag): the value of a write that was overwritten
// by another write, both completed before the read began. It returns the
// line of the read's invoke (1-based).
func injectStale(ops []history.Op) int {
	type w struct {
		v         string
		tag       *history.Tag
		call, ret int64
	}
	calls := map[int]int{} // process -> line index of its invoke
	var done []w
	open := map[int]w{}
	for i := range ops {
		o := &ops[i]
		switch {
		case o.Type == history.Invoke:
			calls[o.Process] = i
			if o.F == history.FWrite {
				open[o.Process] = w{v: o.Value, call: o.Time}
			}
		case o.F == history.FWrite && o.Type == history.Ok:
			x := open[o.Process]
			x.ret, x.tag = o.Time, o.Tag
			done = append(done, x)
		case o.F == history.FRead && o.Type == history.Ok && i > len(ops)/2:
			start := ops[calls[o.Process]].Time
			// The newest write that completed before the read began and
			// was followed by one invoked after it completed.
			for j := len(done) - 1; j > 0; j-- {
				old := done[j-1]
				if done[j].ret < start && old.ret < done[j].call && old.v != o.Value {
					o.Value, o.Tag = old.v, old.tag
					return calls[o.Process] + 1
				}
			}
		}
	}
	panic("no read to make stale")
}

// BenchmarkEndToEnd is a long run checked from its file: 1,000,000 client
// operations (2,000,000 lines) of 10 clients on 8 keys, read with
// history.ReadFile and checked with Check. read-s/op and check-s/op split
// the time.
func BenchmarkEndToEnd(b *testing.B) {
	ops := tagged(42, 1_000_000, 8, 10)
	for _, tags := range []bool{true, false} {
		hist := ops
		if !tags {
			hist = untag(ops)
		}
		path := filepath.Join(b.TempDir(), "history.jsonl")
		hw, err := history.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range hist {
			if err := hw.Append(o); err != nil {
				b.Fatal(err)
			}
		}
		if err := hw.Close(); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("tags=%v", tags), func(b *testing.B) {
			var read, check time.Duration
			n := 0
			c0 := cpuTime()
			for b.Loop() {
				t0 := time.Now()
				got, err := history.ReadFile(path)
				if err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				res := Check(context.Background(), got, Options{})
				read, check = read+t1.Sub(t0), check+time.Since(t1)
				if res.Verdict != Valid {
					wrongVerdict(b, res, Valid)
				}
				n++
			}
			b.ReportMetric((cpuTime()-c0).Seconds()/float64(n), "cpu-s/op")
			b.ReportMetric(read.Seconds()/float64(n), "read-s/op")
			b.ReportMetric(check.Seconds()/float64(n), "check-s/op")
		})
	}
}

// BenchmarkBusyKey is one key with 30 clients always in flight: no
// quiescent point, so Porcupine's search cannot be cut. Every case must be
// decided; the invalid ones (one stale read) must name the read.
func BenchmarkBusyKey(b *testing.B) {
	base := tagged(7, 50_000, 1, 30)
	for _, tags := range []bool{true, false} {
		for _, valid := range []bool{true, false} {
			ops := append([]history.Op(nil), base...)
			line := 0
			if !valid {
				line = injectStale(ops)
			}
			if !tags {
				ops = untag(ops)
			}
			want := Valid
			if !valid {
				want = Invalid
			}
			b.Run(fmt.Sprintf("tags=%v/valid=%v", tags, valid), func(b *testing.B) {
				res := benchCheck(b, ops, want)
				if res.Verdict != want || valid {
					return
				}
				if len(res.Anomalies) == 0 || res.Anomalies[0].Op == nil || res.Anomalies[0].Op.Line != line {
					a := Anomaly{}
					if len(res.Anomalies) > 0 {
						a = res.Anomalies[0]
					}
					if benchLenient {
						b.Logf("failing operation %+v, want the read on line %d", a.Op, line)
						return
					}
					b.Fatalf("failing operation %+v, want the read on line %d", a.Op, line)
				}
			})
		}
	}
}

package checker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

// lenient keeps the floor out of the way of tests about other checkers.
var lenient = Options{MinOK: 1, MinOKShare: -1}

func check(t *testing.T, ops []history.Op, opts Options) *Result {
	t.Helper()
	return Check(context.Background(), ops, opts)
}

func wantVerdict(t *testing.T, res *Result, want Verdict) {
	t.Helper()
	if res.Verdict != want {
		t.Fatalf("verdict %s, want %s; reason: %s; checkers: %+v; anomalies: %+v", res.Verdict, want, res.Reason, res.Checkers, res.Anomalies)
	}
}

func TestLinearizable(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "a", 20, 30),
		w(0, "x", "b", 25, 40),
		r(1, "x", "b", 35, 45), // concurrent with the write of b: may see it
		r(2, "x", "b", 50, 60),
		w(3, "y", "c", 0, 5),
		r(3, "y", "c", 6, 7),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Valid)
	if res.ExitCode() != 0 {
		t.Fatalf("exit code %d", res.ExitCode())
	}
	if len(res.Keys) != 2 || res.Keys[0].Verdict != Valid || res.Keys[1].Verdict != Valid {
		t.Fatalf("keys %+v", res.Keys)
	}
}

func TestStaleRead(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(0, "x", "b", 20, 30),
		r(1, "x", "a", 40, 50), // b completed before this read began
		r(1, "x", "b", 60, 70), // the final read is fine: nothing lost
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	if res.ExitCode() != 1 {
		t.Fatalf("exit code %d", res.ExitCode())
	}
	if c := res.Checkers[CheckDurability]; c.Verdict != Valid {
		t.Fatalf("durability %+v, want valid", c)
	}
	a := findAnomaly(t, res, CheckLinearizability)
	if !strings.Contains(a.Description, "stale read") {
		t.Errorf("description %q does not say stale read", a.Description)
	}
	// The history is fine up to the completion of both writes; the read
	// at line 5 (its invoke) is where it breaks.
	if a.Op == nil || a.Op.F != history.FRead || a.Op.Value != "a" || a.LinearizablePrefix != 2 || a.OpUpperBound {
		t.Errorf("anomaly %+v, op %+v", a, a.Op)
	}
}

func TestLostWrite(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, 30),
		r(2, "x", "b", 35, 38),
		r(2, "x", "a", 100, 110), // the final read after healing: b is gone
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	if c := res.Checkers[CheckDurability]; c.Verdict != Invalid {
		t.Fatalf("durability %+v, want invalid", c)
	}
	if res.Durability.LostWrites != 1 {
		t.Fatalf("lost writes %d, want 1", res.Durability.LostWrites)
	}
	a := findAnomaly(t, res, CheckDurability)
	if len(a.Lost) != 1 || a.Lost[0].Value != "b" {
		t.Fatalf("lost %+v", a.Lost)
	}
	if res.Checkers[CheckLinearizability].Verdict != Invalid {
		t.Fatalf("linearizability %+v", res.Checkers[CheckLinearizability])
	}
}

func TestLostWriteToInitialValue(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "", 20, 30),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	if res.Durability.LostWrites != 1 {
		t.Fatalf("lost writes %d, want 1", res.Durability.LostWrites)
	}
}

func TestConcurrentOlderValueIsNotLost(t *testing.T) {
	// a and b are concurrent, so either order is possible: a final read
	// of a loses nothing.
	ops := build([]top{
		w(0, "x", "a", 0, 20),
		w(1, "x", "b", 5, 15),
		r(2, "x", "a", 30, 40),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Valid)
}

func TestInfoWriteTookEffect(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, 30).as(history.Info), // timed out
		r(2, "x", "b", 100, 110),                // but a later read sees it
		r(2, "x", "b", 120, 130),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Valid)
	if got := res.Stats.Ops[history.FWrite].Info; got != 1 {
		t.Fatalf("info writes %d", got)
	}
}

func TestInfoWriteTookEffectLate(t *testing.T) {
	// An info write may take effect any time after its invoke, even after
	// reads that did not see it.
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, 30).as(history.Info),
		r(2, "x", "a", 100, 110),
		r(2, "x", "b", 120, 130),
	})
	wantVerdict(t, check(t, ops, lenient), Valid)
}

func TestInfoWriteNeverSeen(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, 30).as(history.Info),
		r(2, "x", "a", 100, 110),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Valid)
	// The unread info write is dropped before Porcupine sees it.
	if res.Keys[0].Ops != 2 {
		t.Fatalf("ops checked %d, want 2", res.Keys[0].Ops)
	}
}

func TestInfoWriteCannotTakeEffectBeforeInvoke(t *testing.T) {
	ops := build([]top{
		r(2, "x", "b", 0, 10),
		w(1, "x", "b", 20, 30).as(history.Info),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	a := findAnomaly(t, res, CheckLinearizability)
	if !strings.Contains(a.Description, "before its write") {
		t.Errorf("description %q", a.Description)
	}
}

func TestFailWriteNeverTookEffect(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10).as(history.Fail),
		r(1, "x", "a", 20, 30),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	a := findAnomaly(t, res, CheckLinearizability)
	if !strings.Contains(a.Description, "failed") {
		t.Errorf("description %q", a.Description)
	}
}

func TestFailAndInfoReadsConstrainNothing(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		{p: 1, f: history.FRead, key: "x", v: "zzz", call: 20, ret: 30, typ: history.Info},
		{p: 2, f: history.FRead, key: "x", v: "yyy", call: 20, ret: 30, typ: history.Fail},
		r(3, "x", "a", 40, 50),
	})
	wantVerdict(t, check(t, ops, lenient), Valid)
}

func TestReadOfValueNeverWritten(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "ghost", 20, 30),
		r(1, "x", "a", 40, 50),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	a := findAnomaly(t, res, CheckLinearizability)
	if !strings.Contains(a.Description, "never written") || a.Op.Value != "ghost" {
		t.Errorf("anomaly %+v", a)
	}
}

func TestFinalReadOfValueNeverWritten(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "ghost", 20, 30),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	if res.Checkers[CheckDurability].Verdict != Invalid {
		t.Fatalf("durability %+v", res.Checkers[CheckDurability])
	}
}

func TestTruncatedHistory(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, -1), // the run died with this write in flight
		r(2, "x", "b", 30, 40), // it took effect
		r(3, "x", "", 45, -1),  // a read in flight constrains nothing
	})
	// Linearizable as far as it goes, but not the whole history: unknown.
	res := check(t, ops, lenient)
	wantVerdict(t, res, Unknown)
	if lin := res.Checkers[CheckLinearizability]; lin.Verdict != Valid {
		t.Fatalf("linearizability %+v", lin)
	}
	if !strings.Contains(res.Reason, "2 operations have no completion") {
		t.Fatalf("reason %q", res.Reason)
	}
	if res.Stats.Ops["all"].Pending != 2 {
		t.Fatalf("pending %d", res.Stats.Ops["all"].Pending)
	}
	if len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "truncated") {
		t.Fatalf("notes %q", res.Notes)
	}
	// A truncated write never seen is harmless too.
	ops = build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, -1),
		r(2, "x", "a", 30, 40),
	})
	res = check(t, ops, lenient)
	wantVerdict(t, res, Unknown)
	if res.Checkers[CheckLinearizability].Verdict != Valid {
		t.Fatalf("linearizability %+v", res.Checkers[CheckLinearizability])
	}
	// A history without its end line is unknown even with every
	// operation complete; a violation in it still counts.
	open := buildOpen([]top{w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30)})
	res = check(t, open, lenient)
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "no end-of-run line") {
		t.Fatalf("reason %q", res.Reason)
	}
	opts := lenient
	opts.OpenEnded = true
	wantVerdict(t, check(t, open, opts), Valid)
	wantVerdict(t, check(t, buildOpen([]top{w(0, "x", "a", 0, 10), r(1, "x", "b", 20, 30), w(2, "x", "b", 40, -1)}), lenient), Invalid)
}

func TestMarkIncomplete(t *testing.T) {
	res := check(t, build([]top{w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30)}), lenient)
	wantVerdict(t, res, Valid)
	res.MarkIncomplete("history line 7: bad json")
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "line 7") {
		t.Fatalf("reason %q", res.Reason)
	}
	res = check(t, build([]top{w(0, "x", "a", 0, 10), r(1, "x", "b", 20, 30)}), lenient)
	res.MarkIncomplete("history line 7: bad json")
	wantVerdict(t, res, Invalid)
}

func TestMalformedHistory(t *testing.T) {
	cases := []struct {
		name string
		ops  []history.Op
		want string
	}{
		{"invoke while in flight", []history.Op{
			{Type: history.Invoke, Process: 1, F: history.FWrite, Key: "x", Value: "a", Time: 1},
			{Type: history.Invoke, Process: 2, F: history.FRead, Key: "x", Time: 2},
			{Type: history.Invoke, Process: 1, F: history.FRead, Key: "x", Time: 3},
		}, "line 3: process 1"},
		{"completion without invoke", []history.Op{
			{Type: history.Invoke, Process: 1, F: history.FWrite, Key: "x", Value: "a", Time: 1},
			{Type: history.Ok, Process: 4, F: history.FWrite, Key: "x", Value: "a", Time: 2},
		}, "line 2: ok completion for process 4"},
		{"completion of another f", []history.Op{
			{Type: history.Invoke, Process: 1, F: history.FWrite, Key: "x", Value: "a", Time: 1},
			{Type: history.Ok, Process: 1, F: history.FRead, Key: "x", Time: 2},
		}, "line 2: process 1"},
		{"unknown type", []history.Op{{Type: "bogus", Time: 1}}, "line 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := check(t, c.ops, lenient)
			wantVerdict(t, res, Unknown)
			if !strings.Contains(res.Reason, c.want) {
				t.Fatalf("reason %q does not name %q", res.Reason, c.want)
			}
			if res.ExitCode() != 2 {
				t.Fatalf("exit code %d", res.ExitCode())
			}
		})
	}
}

// hardHistory is not linearizable, but Porcupine only learns that after
// trying every order of n concurrent writes (n·2^n states): after they all
// completed, one read sees w1 and a later one w2. A long write spanning
// everything keeps it one segment.
func hardHistory(n int) []history.Op {
	var ops []top
	for i := 0; i < n; i++ {
		ops = append(ops, w(i, "x", fmt.Sprintf("w%d", i), 0, 100))
	}
	ops = append(ops, w(n+1, "x", "long", 0, 1000))
	ops = append(ops, r(n, "x", "w1", 200, 210), r(n, "x", "w2", 220, 230))
	return build(ops)
}

func TestTimeoutGivesUnknown(t *testing.T) {
	usePorcupineOnly(t)
	for _, timeout := range []time.Duration{time.Nanosecond, time.Millisecond} {
		t.Run(timeout.String(), func(t *testing.T) {
			opts := lenient
			opts.Timeout = timeout
			start := time.Now()
			res := check(t, hardHistory(28), opts)
			wantVerdict(t, res, Unknown)
			if res.Checkers[CheckLinearizability].Verdict != Unknown {
				t.Fatalf("linearizability %+v", res.Checkers[CheckLinearizability])
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("a %v limit took %v", timeout, d)
			}
		})
	}
}

func TestMemoryLimitGivesUnknown(t *testing.T) {
	usePorcupineOnly(t)
	// One busy key: a single long segment whose search takes many steps.
	ops := synthetic(3, 2000, 1, 10)
	opts := Options{MemoryLimit: 64 << 10}
	res := check(t, ops, opts)
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "memory limit") {
		t.Fatalf("reason %q", res.Reason)
	}
	// With room it is valid.
	wantVerdict(t, check(t, ops, Options{}), Valid)
}

func TestHardHistoryIsFoundInvalidGivenTime(t *testing.T) {
	usePorcupineOnly(t)
	if testing.Short() {
		t.Skip("exhaustive search")
	}
	res := check(t, hardHistory(8), lenient)
	wantVerdict(t, res, Invalid)
}

func TestEmptyHistory(t *testing.T) {
	res := check(t, nil, Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "only 0 ok workload operations") {
		t.Fatalf("reason %q", res.Reason)
	}
	if err := res.Write(t.TempDir(), Meta{}); err != nil {
		t.Fatal(err)
	}
}

func TestDiagnosisIsBounded(t *testing.T) {
	// VerboseTimeout bounds the diagnosis of all invalid keys together;
	// running out of it loses the explanation, never the verdict.
	var ops []history.Op
	for k := 0; k < 3; k++ {
		for _, o := range hardHistory(8) {
			o.Key = fmt.Sprintf("k%d", k)
			o.Process += k * 100
			ops = append(ops, o)
		}
	}
	opts := lenient
	opts.VerboseTimeout = time.Nanosecond
	res := check(t, ops, opts)
	wantVerdict(t, res, Invalid)
	if len(res.Anomalies) != 3 {
		t.Fatalf("anomalies %+v", res.Anomalies)
	}
	for _, a := range res.Anomalies {
		if !strings.Contains(a.Note, "out of time") || a.LinearizablePrefix != 0 {
			t.Errorf("anomaly %+v", a)
		}
		// The operation named was not searched down to: it only bounds
		// where the key fails.
		if a.Op != nil && !a.OpUpperBound {
			t.Errorf("anomaly %+v: op not marked an upper bound", a)
		}
	}
	for k, d := range res.diags {
		if d.info != nil {
			t.Errorf("key %s was visualized after its time ran out", k)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := Check(ctx, synthetic(1, 200, 2, 4), lenient)
	wantVerdict(t, res, Unknown)
}

func TestFloor(t *testing.T) {
	few := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "a", 20, 30),
	})
	res := check(t, few, Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "floor") || !strings.Contains(res.Reason, "only 2 ok") {
		t.Fatalf("reason %q", res.Reason)
	}

	// Enough ok operations in absolute terms, but not 1% of those tried:
	// the cluster was unavailable.
	var ops []top
	for i := 0; i < 12; i++ {
		ops = append(ops, w(0, "x", fmt.Sprintf("v%d", i), int64(i*10), int64(i*10+5)),
			r(0, "x", fmt.Sprintf("v%d", i), int64(i*10+6), int64(i*10+8)))
	}
	for i := 0; i < 5000; i++ {
		ops = append(ops, top{p: 100 + i, f: history.FRead, key: "x", call: 1000 + int64(i), ret: 2000 + int64(i), typ: history.Info})
	}
	res = check(t, build(ops), Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Checkers[CheckFloor].Reason, "only 24 ok workload operations of 5024") {
		t.Fatalf("floor %+v", res.Checkers[CheckFloor])
	}

	// Writes only: nothing was observed, so no write is verified.
	ops = nil
	for i := 0; i < 20; i++ {
		ops = append(ops, w(0, "x", fmt.Sprintf("v%d", i), int64(i*10), int64(i*10+5)))
	}
	res = check(t, build(ops), Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "not verified: x") {
		t.Fatalf("reason %q", res.Reason)
	}
	// Reads issued, none ok (the final read is the harness's, not the
	// workload's).
	final := r(99, "x", "v19", 1000, 1010)
	ops = append(ops, top{p: 50, f: history.FRead, key: "x", call: 300, ret: 400, typ: history.Fail}, final)
	hist := markFinal(build(ops), 99)
	res = check(t, hist, Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "ok read floor: no ok read among 1 invoked") {
		t.Fatalf("reason %q", res.Reason)
	}

	// No write acknowledged: a cluster that serves only the initial value
	// proves nothing.
	ops = nil
	for i := 0; i < 20; i++ {
		ops = append(ops, r(0, "x", "", int64(i*10), int64(i*10+5)),
			top{p: 100 + i, f: history.FWrite, key: "x", v: fmt.Sprint(i), call: int64(i*10 + 1), ret: int64(i*10 + 9), typ: history.Info})
	}
	res = check(t, build(ops), Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "acknowledged write floor: no acknowledged write among 20 invoked") {
		t.Fatalf("reason %q", res.Reason)
	}

	// 300 workload operations that all failed, then 16 final reads that
	// succeed: not valid.
	ops = nil
	for i := 0; i < 300; i++ {
		ops = append(ops, top{p: i, f: history.FRead, key: fmt.Sprintf("k%d", i%16), call: int64(i), ret: int64(i + 5), typ: history.Fail})
	}
	for k := 0; k < 16; k++ {
		ops = append(ops, r(1000, fmt.Sprintf("k%d", k), "", int64(1000+10*k), int64(1005+10*k)))
	}
	hist = markFinal(build(ops), 1000)
	res = check(t, hist, Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "only 0 ok workload operations of 300") {
		t.Fatalf("reason %q", res.Reason)
	}

	// The warm-up: writes and reads worked, but only after the first
	// fault began.
	ops = nil
	for i := 0; i < 20; i++ {
		ops = append(ops, w(0, "x", fmt.Sprintf("v%d", i), int64(100+i*10), int64(100+i*10+5)),
			r(1, "x", fmt.Sprintf("v%d", i), int64(100+i*10+6), int64(100+i*10+8)))
	}
	res = check(t, build(ops, nem{fault: "partition", id: 1, start: 50, stop: 90}), Options{})
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "warm-up floor: no ok read before the first fault") {
		t.Fatalf("reason %q", res.Reason)
	}

	// A violation is a violation however few operations there were.
	res = check(t, build([]top{w(0, "x", "a", 0, 10), r(1, "x", "b", 20, 30)}), Options{})
	wantVerdict(t, res, Invalid)
}

func TestSyntheticHistoriesAreValid(t *testing.T) {
	for seed := int64(1); seed <= 5; seed++ {
		res := check(t, synthetic(seed, 3000, 4, 10), Options{})
		wantVerdict(t, res, Valid)
		if res.Stats.Ops["all"].Invoked != 3000+4 { // and the final reads
			t.Fatalf("invoked %d", res.Stats.Ops["all"].Invoked)
		}
	}
}

func TestStatsAndPeriods(t *testing.T) {
	ms := int64(time.Millisecond)
	var ops []top
	for i := int64(0); i < 30; i++ {
		ops = append(ops, w(0, "x", fmt.Sprintf("v%d", i), i*100*ms, i*100*ms+10*ms))
		v := fmt.Sprintf("v%d", i)
		o := r(1, "x", v, i*100*ms+20*ms, i*100*ms+20*ms+(i+1)*ms)
		if i >= 10 && i < 20 { // unavailable during the partition
			o = o.as(history.Info)
		}
		ops = append(ops, o)
	}
	h := build(ops, nem{"partition", "[s1] [s2 s3]", 1, 1000 * ms, 2000 * ms}, nem{"kill", "s2", 2, 1500 * ms, 2500 * ms})
	res := check(t, h, lenient)
	wantVerdict(t, res, Valid)
	st := res.Stats
	if st.Ops[history.FRead].OK != 20 || st.Ops[history.FRead].Info != 10 || st.Ops[history.FWrite].OK != 30 {
		t.Fatalf("counts %+v", st.Ops)
	}
	// Periods: none, partition, partition+kill, kill, none.
	if len(st.Periods) != 5 {
		t.Fatalf("periods %+v", st.Periods)
	}
	want := []string{"none", "partition", "kill+partition", "kill"}
	if len(st.FaultSets) != len(want) {
		t.Fatalf("fault sets %+v", st.FaultSets)
	}
	for i, fs := range st.FaultSets {
		if fs.Faults != want[i] {
			t.Fatalf("fault set %d is %q, want %q", i, fs.Faults, want[i])
		}
	}
	if a := st.FaultSets[0].Availability; a == nil || *a != 1 {
		t.Fatalf("availability without faults %v", a)
	}
	if a := st.FaultSets[1].Availability; a == nil || *a >= 1 {
		t.Fatalf("availability under partition %v", a)
	}
	q := st.Latency[history.FWrite]
	if q.Count != 30 || q.P50 != 10 || q.Max != 10 {
		t.Fatalf("write latency %+v", q)
	}
	if q := st.Latency[history.FRead]; q.Count != 20 || q.Max != 30 || q.P50 != 10 {
		t.Fatalf("read latency %+v", q)
	}
	if len(st.Nemesis) != 2 || st.Nemesis[0].Fault != "partition" {
		t.Fatalf("nemesis %+v", st.Nemesis)
	}
	if len(st.Rate) != 3 || st.Rate[0].OK != 20 {
		t.Fatalf("rate %+v", st.Rate)
	}
}

func TestWrite(t *testing.T) {
	ms := int64(time.Millisecond)
	ops := build([]top{
		w(0, "k/1", "a", 0, 10*ms),
		w(0, "k/1", "b", 20*ms, 30*ms),
		r(1, "k/1", "a", 40*ms, 50*ms),
		r(1, "k/1", "b", 60*ms, 70*ms),
		w(2, "ok", "c", 0, 10*ms),
		r(2, "ok", "c", 20*ms, 30*ms),
	}, nem{"partition", "[s1] [s2 s3]", 1, 15 * ms, 45 * ms})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	dir := filepath.Join(t.TempDir(), "run")
	// A stale visualization from an earlier check is removed.
	if err := os.MkdirAll(filepath.Join(dir, LinearizeDir), 0o755); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, LinearizeDir, "old.html")
	if err := os.WriteFile(stale, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	meta := Meta{Test: "unit <test>", RunDir: dir, Options: map[string]any{"servers": 5, "nemesis": "partition"}}
	if err := res.Write(dir, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale visualization left: %v", err)
	}
	vis := filepath.Join(dir, LinearizeDir, FileName("k/1")+".html")
	b, err := os.ReadFile(vis)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "nemesis partition") {
		t.Errorf("visualization lacks the nemesis annotation")
	}
	if _, err := os.Stat(filepath.Join(dir, LinearizeDir, "ok.html")); !os.IsNotExist(err) {
		t.Errorf("visualization written for a valid key")
	}
	back, err := ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Verdict != Invalid || back.Meta == nil || back.Meta.Test != meta.Test || back.ExitCode() != 1 {
		t.Fatalf("read back %+v", back)
	}
	a := findAnomaly(t, back, CheckLinearizability)
	if a.Visualization != filepath.ToSlash(filepath.Join(LinearizeDir, FileName("k/1")+".html")) {
		t.Fatalf("anomaly visualization %q", a.Visualization)
	}
	rep, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"invalid", "unit &lt;test&gt;", "<svg", a.Visualization, "partition", "servers"} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(string(rep), "http://") && strings.Contains(string(rep), "<script src") {
		t.Errorf("report loads external assets")
	}
	// Writing a result read back (no history attached) still works.
	if err := back.Write(t.TempDir(), *back.Meta); err != nil {
		t.Fatal(err)
	}
}

func TestVerboseLimits(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(0, "x", "b", 20, 30),
		r(1, "x", "a", 40, 50),
	})
	opts := lenient
	opts.VerboseMaxOps = 2
	res := check(t, ops, opts)
	wantVerdict(t, res, Invalid)
	a := findAnomaly(t, res, CheckLinearizability)
	if !strings.Contains(a.Note, "over the verbose limit") {
		t.Fatalf("note %q", a.Note)
	}
	if d := res.diags["x"]; d == nil || d.info != nil {
		t.Fatalf("verbose ran over the limit")
	}
}

func TestPrefixIsTrimmedToTheFailure(t *testing.T) {
	// A long valid history, one stale read in the middle, more after it.
	var ops []top
	for i := 0; i < 200; i++ {
		t0 := int64(i * 100)
		ops = append(ops, w(0, "x", fmt.Sprintf("v%d", i), t0, t0+10), r(1, "x", fmt.Sprintf("v%d", i), t0+20, t0+30))
	}
	ops[201].v = "v99" // the read after write v100 sees v99
	res := check(t, build(ops), lenient)
	wantVerdict(t, res, Invalid)
	a := findAnomaly(t, res, CheckLinearizability)
	if a.Op == nil || a.Op.Value != "v99" || a.Op.Invoke != 100*100+20 {
		t.Fatalf("failing op %+v", a.Op)
	}
	if a.LinearizablePrefix != 201 {
		t.Fatalf("prefix %d, want 201", a.LinearizablePrefix)
	}
	d := res.diags["x"]
	if len(d.best) != 202 {
		t.Fatalf("failing prefix has %d operations, want the 202 up to the failure", len(d.best))
	}
	// The visualization shows a window of context ending at the failure,
	// starting from the state the register held there.
	if len(d.window) != contextOps || d.info == nil {
		t.Fatalf("visualized %d operations (info %v), want %d", len(d.window), d.info != nil, contextOps)
	}
	last := d.window[len(d.window)-1]
	if o, _ := last.Metadata.(*clientOp); o == nil || o.value != "v99" || o.f != history.FRead {
		t.Fatalf("window ends with %+v", last)
	}
	if len(d.inits) != 1 || d.kh.value(d.inits[0]) != "v75" {
		t.Fatalf("window starts from %v", d.inits)
	}
	if !strings.Contains(findAnomaly(t, res, CheckLinearizability).Note, "could then hold \"v75\"") {
		t.Fatalf("note %q", findAnomaly(t, res, CheckLinearizability).Note)
	}
}

func TestFileName(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []string{"k1", "k/1", "k_1", "", ".", "..", "../etc", "ключ", strings.Repeat("a", 300)} {
		n := FileName(k)
		if n == "" || strings.ContainsAny(n, "/\\") || strings.HasPrefix(n, ".") || len(n) > 100 {
			t.Errorf("FileName(%q) = %q", k, n)
		}
		if o, ok := seen[n]; ok {
			t.Errorf("keys %q and %q share %q", o, k, n)
		}
		seen[n] = k
	}
	if FileName("k1") != "k1" {
		t.Errorf("a safe key is renamed")
	}
}

func findAnomaly(t *testing.T, res *Result, checker string) Anomaly {
	t.Helper()
	for _, a := range res.Anomalies {
		if a.Checker == checker {
			return a
		}
	}
	t.Fatalf("no %s anomaly in %+v", checker, res.Anomalies)
	return Anomaly{}
}

func TestUnverifiedKeys(t *testing.T) {
	// k1's only ok read came while the partition was still on: nothing
	// says its writes survived the faults (the final read failed).
	ops := []top{
		w(0, "k0", "a", 0, 10), r(1, "k0", "a", 20, 30),
		w(0, "k1", "b", 40, 50), r(1, "k1", "b", 60, 70),
		r(2, "k0", "a", 200, 210),
		{p: 2, f: history.FRead, key: "k1", call: 220, ret: 230, typ: history.Fail},
	}
	res := check(t, build(ops, nem{fault: "partition", id: 1, start: 55, stop: 150}), lenient)
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "not verified: k1 ") || res.Durability.KeysUnverified != 1 {
		t.Fatalf("reason %q durability %+v", res.Reason, res.Durability)
	}
	// A read of k1 after the heal verifies it.
	ops = append(ops, r(3, "k1", "b", 240, 250))
	wantVerdict(t, check(t, build(ops, nem{fault: "partition", id: 1, start: 55, stop: 150}), lenient), Valid)
}

func TestEndLineFacts(t *testing.T) {
	ops := []top{w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30)}
	// Faults asked for, none injected: vacuous.
	h := build(ops)
	h[len(h)-1].Fault = "partition,kill"
	res := check(t, h, lenient)
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "vacuous: faults asked for (partition, kill) but none was injected") {
		t.Fatalf("reason %q", res.Reason)
	}
	// The run says it cannot pass.
	h = build(ops)
	h[len(h)-1].Error = "interrupted"
	res = check(t, h, lenient)
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "the run says it cannot pass: interrupted") {
		t.Fatalf("reason %q", res.Reason)
	}
	// A violation still wins.
	h = build([]top{w(0, "x", "a", 0, 10), r(1, "x", "b", 20, 30)})
	h[len(h)-1].Error = "interrupted"
	wantVerdict(t, check(t, h, lenient), Invalid)
}

func TestVerifiedOnlyAfterTheLastWrite(t *testing.T) {
	// The only read after the heal came before the key's last
	// acknowledged write: that write is not verified.
	ops := []top{
		w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30),
		r(1, "x", "a", 200, 210), w(0, "x", "b", 220, 230),
	}
	res := check(t, build(ops, nem{fault: "kill", id: 1, start: 50, stop: 150}), lenient)
	wantVerdict(t, res, Unknown)
	if !strings.Contains(res.Reason, "not verified: x") {
		t.Fatalf("reason %q", res.Reason)
	}
}

// TestProgressNamesStages: Options.Progress hears each key as its check
// starts, the diagnosis and minimal conflict of an invalid key, and the
// checks after linearizability.
func TestProgressNamesStages(t *testing.T) {
	hist := build([]top{
		w(0, "a", "1", 0, 10), r(1, "a", "1", 20, 30),
		w(2, "b", "1", 0, 10), r(3, "b", "2", 20, 30), // b reads a value never written
	})
	var mu sync.Mutex
	var stages []string
	Check(context.Background(), hist, Options{MinOK: -1, MinOKShare: -1, Progress: func(s string) {
		mu.Lock()
		defer mu.Unlock()
		stages = append(stages, s)
	}})
	for _, want := range []string{`key "b": diagnosis`, `key "b": minimal conflict`, "files, durability, tags and reached states"} {
		if !slices.Contains(stages, want) {
			t.Errorf("no stage %q in %q", want, stages)
		}
	}
	keys := 0
	for _, s := range stages {
		if strings.HasPrefix(s, "key ") && strings.HasSuffix(s, " of 2)") {
			keys++
		}
	}
	if keys != 2 {
		t.Errorf("%d key stages, want 2: %q", keys, stages)
	}
}

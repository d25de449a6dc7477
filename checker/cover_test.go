package checker

import (
	"context"
	"testing"

	"github.com/ares-torture/torture/history"
)

// cov is a cover operation for test histories: base value b, written
// value v; covered ones returned got.
type cov struct {
	p         int
	base, v   string
	baseTS    uint64
	call, ret int64
	covered   bool
	got       string
	typ       history.Type
}

// coverHistory builds a one-key history of plain operations and covers,
// open-ended, for the linearizability check alone.
func coverHistory(plain []top, covers []cov) []history.Op {
	ops := buildOpen(plain)
	for _, c := range covers {
		base := &history.Tag{TS: c.baseTS}
		if c.baseTS > 0 {
			base.WID = "w" + c.base
		}
		ops = append(ops, history.Op{Type: history.Invoke, Process: c.p, F: history.FCover, Key: "k", Value: c.v,
			Base: base, BaseValue: c.base, Time: c.call})
		typ := c.typ
		if typ == "" {
			typ = history.Ok
		}
		done := history.Op{Type: typ, Process: c.p, F: history.FCover, Key: "k", Value: c.v, Time: c.ret, Covered: c.covered}
		if c.covered {
			done.Value = c.got
		}
		ops = append(ops, done)
	}
	sortByTime(ops)
	return ops
}

func sortByTime(ops []history.Op) {
	// Stable insertion sort: invokes stay ahead of completions at one time.
	for i := 1; i < len(ops); i++ {
		for j := i; j > 0 && ops[j].Time < ops[j-1].Time; j-- {
			ops[j], ops[j-1] = ops[j-1], ops[j]
		}
	}
}

func linearVerdict(t *testing.T, ops []history.Op) (Verdict, string) {
	t.Helper()
	res := Check(context.Background(), ops, Options{OpenEnded: true, MinOK: -1, MinOKShare: -1})
	c := res.Checkers[CheckLinearizability]
	return c.Verdict, c.Reason
}

func TestCoverConcurrentFromOneBaseBothSucceed(t *testing.T) {
	// Two writes from the initial version, concurrent: both may succeed
	// (coverability is not compare-and-set); a later read sees one.
	ops := coverHistory([]top{r(3, "k", "b", 50, 60)}, []cov{
		{p: 1, base: "", v: "a", call: 0, ret: 20},
		{p: 2, base: "", v: "b", call: 5, ret: 25},
	})
	if v, why := linearVerdict(t, ops); v != Valid {
		t.Fatalf("verdict %s (%s), want valid", v, why)
	}
}

func TestCoverFromStaleBaseAfterANewerWriteCompleted(t *testing.T) {
	// p2's cover from the initial version starts after p1's cover
	// completed: the initial version was no longer the latest at any
	// moment of p2's write, so p2 must have been covered.
	ops := coverHistory(nil, []cov{
		{p: 1, base: "", v: "a", call: 0, ret: 20},
		{p: 2, base: "", v: "b", call: 30, ret: 40},
	})
	if v, why := linearVerdict(t, ops); v != Invalid {
		t.Fatalf("verdict %s (%s), want invalid", v, why)
	}
	// The same p2, covered and returning a: valid.
	ops = coverHistory(nil, []cov{
		{p: 1, base: "", v: "a", call: 0, ret: 20},
		{p: 2, base: "", v: "b", call: 30, ret: 40, covered: true, got: "a"},
	})
	if v, why := linearVerdict(t, ops); v != Valid {
		t.Fatalf("verdict %s (%s), want valid", v, why)
	}
}

func TestCoverChainAndCoveredReturningItsBase(t *testing.T) {
	ops := coverHistory([]top{w(0, "k", "a", 0, 10)}, []cov{
		{p: 1, base: "a", baseTS: 1, v: "b", call: 20, ret: 30},
		{p: 2, base: "b", baseTS: 2, v: "c", call: 40, ret: 50},
	})
	if v, why := linearVerdict(t, ops); v != Valid {
		t.Fatalf("chain: verdict %s (%s), want valid", v, why)
	}
	// A covered write that returned its own base was not covered.
	ops = coverHistory([]top{w(0, "k", "a", 0, 10)}, []cov{
		{p: 1, base: "a", baseTS: 1, v: "b", call: 20, ret: 30, covered: true, got: "a"},
	})
	if v, why := linearVerdict(t, ops); v != Invalid {
		t.Fatalf("self-covered: verdict %s (%s), want invalid", v, why)
	}
}

func TestCoverIndeterminate(t *testing.T) {
	// An unknown cover may have written its value: a later read of it is
	// fine, and so is never seeing it.
	for _, read := range []string{"b", "a"} {
		ops := coverHistory([]top{w(0, "k", "a", 0, 10), r(3, "k", read, 60, 70)}, []cov{
			{p: 1, base: "a", baseTS: 1, v: "b", call: 20, ret: 30, typ: history.Info},
		})
		if v, why := linearVerdict(t, ops); v != Valid {
			t.Fatalf("read %s: verdict %s (%s), want valid", read, v, why)
		}
	}
}

// casOp is a compare-and-set line pair.
func casOp(p int, old, new string, call, ret int64, typ history.Type) []history.Op {
	return []history.Op{
		{Type: history.Invoke, Process: p, F: history.FCAS, Key: "k", Value: new, BaseValue: old, Time: call},
		{Type: typ, Process: p, F: history.FCAS, Key: "k", Value: new, BaseValue: old, Time: ret},
	}
}

func TestCASRegister(t *testing.T) {
	// A Jepsen cas-register shape: values repeat, cas ops succeed or fail.
	valid := append(buildOpen([]top{w(0, "k", "1", 0, 10)}), casOp(1, "1", "2", 20, 30, history.Ok)...)
	valid = append(valid, casOp(2, "1", "3", 40, 50, history.Fail)...)
	valid = append(valid, buildOpen([]top{r(0, "k", "2", 60, 70), w(0, "k", "1", 80, 90)})...)
	valid = append(valid, casOp(2, "1", "4", 100, 110, history.Info)...)
	valid = append(valid, buildOpen([]top{r(0, "k", "1", 120, 130)})...)
	if v, why := linearVerdict(t, valid); v != Valid {
		t.Fatalf("verdict %s (%s), want valid", v, why)
	}
	// A cas that succeeded although the register held something else.
	bad := append(buildOpen([]top{w(0, "k", "1", 0, 10)}), casOp(1, "2", "3", 20, 30, history.Ok)...)
	if v, why := linearVerdict(t, bad); v != Invalid {
		t.Fatalf("verdict %s (%s), want invalid", v, why)
	}
	// A read of the value a failed cas would have set.
	bad = append(buildOpen([]top{w(0, "k", "1", 0, 10)}), casOp(1, "1", "3", 20, 30, history.Fail)...)
	bad = append(bad, buildOpen([]top{r(0, "k", "3", 40, 50)})...)
	if v, why := linearVerdict(t, bad); v != Invalid {
		t.Fatalf("verdict %s (%s), want invalid", v, why)
	}
}

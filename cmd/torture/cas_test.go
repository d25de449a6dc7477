package main

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/history"
)

// casRegister is a Jepsen cas-register history (etcd's, say) in torture's
// line format: three processes run reads, writes and compare-and-sets of
// the values 0-4 against one register, with overlapping intervals; each
// operation takes effect in the order of its invocation, so the history
// is linearizable.
func casRegister(seed uint64, n int) []history.Op {
	rng := rand.New(rand.NewPCG(seed, 1))
	type ev struct {
		at int64
		op history.Op
	}
	var evs []ev
	state := ""
	free := [3]int64{}
	for i := 0; i < n; i++ {
		p := i % 3
		call := max(free[p], int64(i)*10) + 1
		ret := call + 30
		free[p] = ret + 1
		v := strconv.Itoa(rng.IntN(5))
		inv := history.Op{Type: history.Invoke, Process: p, Key: "r", Time: call}
		done := history.Op{Type: history.Ok, Process: p, Key: "r", Time: ret}
		switch rng.IntN(3) {
		case 0:
			inv.F, done.F, done.Value = history.FRead, history.FRead, state
		case 1:
			inv.F, done.F, inv.Value, done.Value = history.FWrite, history.FWrite, v, v
			state = v
		default:
			old := strconv.Itoa(rng.IntN(5))
			inv.F, done.F, inv.Value, done.Value, inv.BaseValue, done.BaseValue = history.FCAS, history.FCAS, v, v, old, old
			if state == old {
				state = v
			} else {
				done.Type = history.Fail
			}
		}
		evs = append(evs, ev{call, inv}, ev{ret, done})
	}
	// Invocations come in i order, the order of the effects above.
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].at < evs[j-1].at; j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	out := make([]history.Op, len(evs))
	for i, e := range evs {
		out[i] = e.op
	}
	// A last read after everything, as Jepsen's final read.
	end := evs[len(evs)-1].at
	return append(out,
		history.Op{Type: history.Invoke, Process: 0, F: history.FRead, Key: "r", Time: end + 1},
		history.Op{Type: history.Ok, Process: 0, F: history.FRead, Key: "r", Value: state, Time: end + 2})
}

// TestCheckCASRegisterHistory: `torture check --open-ended` checks a
// foreign history with compare-and-set operations: valid as recorded, and
// invalid once one failed cas is claimed to have succeeded.
func TestCheckCASRegisterHistory(t *testing.T) {
	ops := casRegister(7, 60)
	if code, out, v := checkResults(t, "--open-ended", writeRun(t, ops, "")); code != harness.ExitValid || v != checker.Valid {
		t.Fatalf("valid cas history: exit %d verdict %s\n%s", code, v, out)
	}
	flipped := false
	for i := len(ops) - 1; i >= 0 && !flipped; i-- {
		if ops[i].F == history.FCAS && ops[i].Type == history.Fail {
			ops[i].Type, flipped = history.Ok, true
		}
	}
	if !flipped {
		t.Fatal("no failed cas to flip")
	}
	if code, out, v := checkResults(t, "--open-ended", writeRun(t, ops, "")); code != harness.ExitInvalid || v != checker.Invalid {
		t.Fatalf("flipped cas: exit %d verdict %s\n%s", code, v, out)
	}
}

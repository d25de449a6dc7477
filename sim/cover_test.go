package sim_test

import (
	"testing"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/sim"
)

// TestCoverWorkload: coverable writes under every fault are valid, some
// are covered and some take effect; with versions compared by timestamp
// only (cover-ts-only) the checker finds the overwritten version. Decided
// by seed; catching the bug and valid correct runs are counted with a
// margin (7 of 8 seeds of its shape when written), so that a change of
// schedule does not break the test.
func TestCoverWorkload(t *testing.T) {
	const seeds = 4
	caught, valid := 0, 0
	for seed := int64(1); seed <= seeds; seed++ {
		o := sim.BugOptions(ares.BugCoverTSOnly)
		o.Store, o.Seed, o.Ops, o.Trace = t.TempDir(), seed, 600, false
		if out, _ := runHistory(t, o); out.Verdict == "invalid" {
			caught++
		}
		o.ServerBug = ""
		out, ops := runHistory(t, o)
		switch out.Verdict {
		case "valid":
			valid++
		case "invalid":
			t.Errorf("correct clients, seed %d: %s (%s)", seed, out.Verdict, out.Reason)
		default:
			t.Logf("correct clients, seed %d: %s (%s)", seed, out.Verdict, out.Reason)
		}
		covered, took := 0, 0
		for _, op := range ops {
			if op.F == history.FCover && op.Type == history.Ok {
				if op.Covered {
					covered++
				} else {
					took++
				}
			}
		}
		if covered == 0 || took == 0 {
			t.Errorf("seed %d: %d covered and %d successful coverable writes, want some of each", seed, covered, took)
		}
	}
	// A correct run is never invalid; it may be unknown when its faults
	// happened to reach no counted state (vacuous), in one seed at most.
	if valid < seeds-1 {
		t.Errorf("correct clients valid in %d of %d seeds, want at least %d", valid, seeds, seeds-1)
	}
	if caught < seeds-1 {
		t.Errorf("cover-ts-only caught in %d of %d seeds, want at least %d", caught, seeds, seeds-1)
	}
}

package bench

import (
	"errors"
	"strings"
	"testing"
)

// TestBugRow: a bug's row is pass with the wall time to find it, fail
// when not found, skipped when interrupted before any run found it, an
// error on a harness failure; the baseline's figure or error beside it.
func TestBugRow(t *testing.T) {
	one, wall, first := 1, 0.5, 2.25
	found := BugResult{Bug: "volatile", Runs: 1, Found: 1, RunsToFirst: &one, WallToFindS: &wall, FirstViolationMedianS: &first}
	r := bugRow(found, 3, nil, nil)
	if r.ID != RowBugPrefix+"volatile" || r.Status != Pass || r.Value == nil || *r.Value != wall || r.LimitText != "found in 3 seed(s)" ||
		r.Detail != "found 1/1, first by run 1, first violation at 2.25s simulated (median)" {
		t.Errorf("found: %+v", r)
	}
	bw := 0.25
	r = bugRow(found, 3, &BugFigure{Bug: "volatile", Runs: 3, Found: 2, WallToFindS: &bw}, nil)
	if r.Baseline == nil || *r.Baseline != bw || !strings.HasSuffix(r.Detail, "; baseline found 2/3") {
		t.Errorf("baseline: %+v", r)
	}
	r = bugRow(BugResult{Bug: "no-sync", Runs: 3}, 3, nil, errors.New("boom"))
	if r.Status != Fail || r.Value != nil || r.Note != "not found; baseline: boom" || r.Detail != "found 0/3" {
		t.Errorf("not found: %+v", r)
	}
	r = bugRow(BugResult{Bug: "no-sync", Interrupted: 1}, 3, nil, nil)
	if r.Status != Skipped || r.Note != "skipped: interrupted" {
		t.Errorf("interrupted: %+v", r)
	}
	r = bugRow(BugResult{Bug: "no-sync", Found: 1, HarnessFailures: 2, WallToFindS: &wall}, 3, nil, errors.New("boom"))
	if r.Status != Error || r.Note != "2 harness failure(s); baseline: boom" {
		t.Errorf("harness failure: %+v", r)
	}
}

// TestSpeedupRow: the ops/s rows pass at SpeedupMin times the baseline's
// median and fail under it; without a baseline they are figures only, and
// a failed baseline is an error.
func TestSpeedupRow(t *testing.T) {
	r := Row{ID: RowOpsRun, Value: F(300), Unit: "ops/s"}
	if got := speedupRow(r, []float64{90, 100, 200}, nil); got.Status != Pass || *got.Baseline != 100 || *got.VsBaseline != 3 ||
		got.LimitText != ">= 3x baseline" {
		t.Errorf("3x: %+v", got)
	}
	if got := speedupRow(r, []float64{101}, nil); got.Status != Fail {
		t.Errorf("under 3x: %+v", got)
	}
	if got := speedupRow(r, nil, errors.New("boom")); got.Status != Error || got.Note != "baseline: boom" {
		t.Errorf("baseline failed: %+v", got)
	}
	if got := speedupRow(r, nil, nil); got.Status != Info || got.Note != "no --baseline-bin" {
		t.Errorf("no baseline: %+v", got)
	}
}

package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ares-torture/torture/ares"
)

// BugResult sums up this build's bench bugs runs of one bug: what its
// row is made of.
type BugResult struct {
	Bug string
	// Runs are those with a verdict on the bug (found, not found or
	// unknown); harness failures and interrupted runs are counted apart.
	Runs, Found, HarnessFailures, Interrupted int
	// RunsToFirst is how many runs (seeds in order) it took to the first
	// found, WallToFindS their wall time in all; nil when none found it.
	RunsToFirst *int
	WallToFindS *float64
	// FirstViolationMedianS is the median simulated time of the found
	// runs' first violations, nil when none had a time.
	FirstViolationMedianS *float64
}

// BugFinder runs bench bugs' sim runs in this process: seeds 1..seeds of
// each of bugs, their files under store (an existing folder), a progress
// line per run to out. It returns a result per bug that a run reached.
type BugFinder func(ctx context.Context, store string, bugs []ares.Bug, seeds int, out io.Writer) []BugResult

// AddBugs adds a row per bug: the wall time of find's runs, seeds
// 1..Sizes.Seeds, to the first that found it (every run before it
// counted), beside the baseline's bench bugs of the same seeds.
func (s *Session) AddBugs(ctx context.Context, bugs []ares.Bug, find BugFinder) {
	seeds := s.Sizes.Seeds
	store, err := s.dir("bugs")
	if err != nil {
		var rows []Row
		for _, b := range bugs {
			rows = append(rows, Row{ID: RowBugPrefix + string(b), Name: "time to find " + string(b) + " (sim)", Unit: "s"})
		}
		s.fail(ctx, err, rows...)
		return
	}
	defer os.RemoveAll(store)
	fmt.Fprintf(s.Out, "bugs: %d bug(s) x %d seed(s) on the sim backend (bench bugs' shapes)\n", len(bugs), seeds)
	results := find(ctx, store, bugs, seeds, s.Out)
	var baseline map[string]BugFigure
	var baseErr error
	if s.Base != nil && ctx.Err() == nil {
		d, err := s.dir("baseline-bugs")
		if err == nil {
			var names []string
			if len(bugs) != len(ares.Bugs) {
				for _, b := range bugs {
					names = append(names, string(b))
				}
			}
			fmt.Fprintf(s.Out, "  baseline: bench bugs --backend sim --seeds %d\n", seeds)
			baseline, err = s.Base.Bugs(ctx, d, seeds, names)
			_ = os.RemoveAll(d)
		}
		baseErr = err
	}
	for _, res := range results {
		bf, ok := baseline[res.Bug]
		var base *BugFigure
		if ok {
			base = &bf
		}
		s.add(bugRow(res, seeds, base, baseErr))
	}
}

// bugRow is the row of one bug: found (pass, the wall time to find it),
// not found (fail), interrupted before any found (skipped) or a harness
// failure (error); beside base, the baseline's figure, else baseErr.
func bugRow(res BugResult, seeds int, base *BugFigure, baseErr error) Row {
	r := Row{ID: RowBugPrefix + res.Bug, Name: "time to find " + res.Bug + " (sim)", Unit: "s",
		LimitText: fmt.Sprintf("found in %d seed(s)", seeds)}
	switch {
	case res.HarnessFailures > 0:
		r.Status, r.Note = Error, fmt.Sprintf("%d harness failure(s)", res.HarnessFailures)
	case res.Interrupted > 0 && res.Found == 0:
		r.Status, r.Note = Skipped, "skipped: interrupted"
	case res.WallToFindS != nil:
		r.Value, r.Status = F(*res.WallToFindS), Pass
	default:
		r.Status, r.Note = Fail, "not found"
	}
	r.Detail = fmt.Sprintf("found %d/%d", res.Found, res.Runs)
	if res.RunsToFirst != nil {
		r.Detail += fmt.Sprintf(", first by run %d", *res.RunsToFirst)
	}
	if f := res.FirstViolationMedianS; f != nil {
		r.Detail += fmt.Sprintf(", first violation at %.2fs simulated (median)", *f)
	}
	if base != nil {
		r.Baseline = nil
		if base.WallToFindS != nil {
			r.Baseline = F(*base.WallToFindS)
		}
		r.Detail += fmt.Sprintf("; baseline found %d/%d", base.Found, base.Runs)
	} else if baseErr != nil {
		r.Note = strings.TrimPrefix(r.Note+"; baseline: "+baseErr.Error(), "; ")
	}
	return r
}

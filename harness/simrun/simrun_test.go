package simrun_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/simrun"
	"github.com/ares-torture/torture/sim"
)

func TestParseSeeds(t *testing.T) {
	good := map[string][]int64{
		"7":         {7},
		"1..3":      {1, 2, 3},
		" 4 .. 4 ":  {4},
		"1,5,9..11": {1, 5, 9, 10, 11},
		"-2..0":     {-2, -1, 0},
		"3,1":       {3, 1},
		"9223372036854775806..9223372036854775807": {9223372036854775806, 9223372036854775807},
	}
	for in, want := range good {
		got, err := simrun.ParseSeeds(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseSeeds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":             "no seeds",
		"x":            "not a seed",
		"1..":          "not a seed",
		"..3":          "not a seed",
		"5..1":         "ends before it starts",
		"1,,2":         "empty item",
		"1,1":          "given twice",
		"1..3,2":       "given twice",
		"1..1e9":       "not a seed",
		"0..999999999": "more than",
	}
	for in, want := range bad {
		_, err := simrun.ParseSeeds(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSeeds(%q) error %v; want one saying %q", in, err, want)
		}
	}
}

// short is a small sim run: enough operations and faults for a bug to
// show, few enough to keep the race detector's slowdown bearable.
func short(store string) harness.Options {
	o := sim.DefaultOptions()
	o.Store = store
	o.Ops = 200
	return o
}

func histories(t *testing.T, s *simrun.Summary) map[int64][]byte {
	t.Helper()
	out := map[int64][]byte{}
	for _, r := range s.Results {
		b, err := os.ReadFile(filepath.Join(r.RunDir, harness.HistoryFile))
		if err != nil {
			t.Fatalf("seed %d: %v", r.Seed, err)
		}
		out[r.Seed] = b
	}
	return out
}

// TestWorkersDoNotChangeHistories runs the same seeds one at a time and
// all at once: each seed's history must be the same byte for byte, or the
// runs of one process would be leaking into one another.
func TestWorkersDoNotChangeHistories(t *testing.T) {
	store := t.TempDir()
	seeds := []int64{1, 2, 3, 4}
	var sums []*simrun.Summary
	for _, workers := range []int{1, len(seeds)} {
		s, err := simrun.Run(context.Background(), simrun.Config{Options: short(store), Seeds: seeds,
			Workers: workers, KeepAll: true, Bubble: sim.TestBubble(t)})
		if err != nil {
			t.Fatal(err)
		}
		if s.Ran != len(seeds) || s.Workers != workers {
			t.Fatalf("workers %d: ran %d with %d workers", workers, s.Ran, s.Workers)
		}
		sums = append(sums, s)
	}
	a, b := histories(t, sums[0]), histories(t, sums[1])
	for _, seed := range seeds {
		if !bytes.Equal(a[seed], b[seed]) {
			t.Errorf("seed %d: the history of 1 worker and of %d differ", seed, len(seeds))
		}
	}
}

func TestSummaryAndDeletion(t *testing.T) {
	store := t.TempDir()
	o := short(store)
	var seen []int64
	s, err := simrun.Run(context.Background(), simrun.Config{Options: o, Seeds: []int64{1, 2, 3}, Workers: 2,
		Bubble: sim.TestBubble(t), OnResult: func(r simrun.SeedResult) { seen = append(seen, r.Seed) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 {
		t.Errorf("OnResult saw %v; want every seed once", seen)
	}
	if s.Counts.Valid != 3 || len(s.Failing) != 0 || s.Ops < 3*200 {
		t.Fatalf("summary %+v; want 3 valid seeds of at least 200 operations", s)
	}
	for _, r := range s.Results {
		if r.RunDir != "" {
			t.Errorf("seed %d: valid run kept at %s without KeepAll", r.Seed, r.RunDir)
		}
	}
	if err := o.Validate(); err != nil { // fills the name the runs used
		t.Fatal(err)
	}
	runs, _ := filepath.Glob(filepath.Join(store, o.Name, "*", harness.TestFile))
	if len(runs) != 0 {
		t.Errorf("valid runs left: %v", runs)
	}
	if _, err := os.Stat(filepath.Join(store, harness.LatestLink)); err == nil {
		t.Errorf("%s names a deleted run", harness.LatestLink)
	}
	back, err := simrun.ReadSummary(s.File)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(s.File) != filepath.Join(store, o.Name) || back.Counts != s.Counts || len(back.Results) != 3 {
		t.Errorf("summary file %s: %+v", s.File, back)
	}
}

func TestInterruptedStartsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := simrun.Run(ctx, simrun.Config{Options: short(t.TempDir()), Seeds: []int64{1, 2, 3}, Workers: 1,
		Bubble: sim.TestBubble(t)})
	if err != nil {
		t.Fatal(err)
	}
	// A worker may have taken the first seed before the feed saw ctx end;
	// that run ends at once, interrupted.
	if !s.Interrupted || s.Ran > 1 || s.Counts.Valid != 0 {
		t.Errorf("summary %+v; want interrupted with at most one seed, none valid", s)
	}
}

package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

// AddCheck adds the row of the check time of a history: a sim run of
// Sizes.HistoryTime simulated (every fault every second, the sim's
// defaults otherwise) makes the history; it is checked again in this
// process, timed, and by the baseline's torture check.
func (s *Session) AddCheck(ctx context.Context) {
	span := s.Sizes.HistoryTime
	r := Row{ID: RowCheck, Name: fmt.Sprintf("check time of a %s sim history", span), Unit: "s"}
	if ctx.Err() != nil {
		s.fail(ctx, ctx.Err(), r)
		return
	}
	store, err := s.dir("check")
	if err != nil {
		s.fail(ctx, err, r)
		return
	}
	defer os.RemoveAll(store)
	o := sim.DefaultOptions()
	o.Ops, o.Time, o.Seed, o.Store, o.Name = 0, harness.Duration(span), 1, store, "bench-all-history"
	// Every fault, each second, as a run with --nemesis-interval 1s: the
	// sim's 10 ms would make some 15,000 configurations in 5 minutes,
	// and minutes of wall time go to traversing them.
	o.NemesisInterval = harness.Duration(time.Second)
	if err := o.Validate(); err != nil {
		s.fail(ctx, err, r)
		return
	}
	fmt.Fprintf(s.Out, "check: one sim run of %s simulated (%s) makes the history\n", span, ShapeLine(o))
	var buf strings.Builder
	t0 := time.Now()
	res := harness.Run(ctx, o, harness.Env{Out: &buf, Bubble: s.Bubble, Args: s.Args})
	if res.Code == harness.ExitHarness || res.RunDir == "" {
		s.fail(ctx, fmt.Errorf("sim run: %s: %s", res.Verdict, res.Reason), r)
		return
	}
	fmt.Fprintf(s.Out, "  %d operations in %s (wall), verdict %s; checking again\n", res.Counts.Completed(), time.Since(t0).Round(time.Millisecond), res.Verdict)
	t0 = time.Now()
	out := harness.CheckRun(ctx, harness.CheckInput{RunDir: res.RunDir, Out: filepath.Join(store, "recheck")}, io.Discard, s.Log)
	took := time.Since(t0)
	if out.Code == harness.ExitHarness {
		s.fail(ctx, fmt.Errorf("check: %s", out.Reason), r)
		return
	}
	r.Value, r.Op, r.Limit = F(took.Seconds()), AtMost, F(span.Seconds())
	r.LimitText = fmt.Sprintf("<= %s (the history's span)", span)
	r.Detail = fmt.Sprintf("%d operations, %d keys, every fault each %s; verdict %s", res.Counts.Completed(), o.Keys, o.NemesisInterval, out.Verdict)
	fmt.Fprintf(s.Out, "  this build: %.2fs, %s\n", took.Seconds(), out.Verdict)
	if s.Base != nil {
		d, verdict, err := s.Base.Check(ctx, res.RunDir, filepath.Join(store, "recheck-baseline"))
		if err != nil {
			r.Note = "baseline: " + err.Error()
		} else {
			r.Baseline = F(d.Seconds())
			r.Detail += fmt.Sprintf("; baseline's verdict %s", verdict)
			fmt.Fprintf(s.Out, "  baseline:   %.2fs, %s\n", d.Seconds(), verdict)
		}
	}
	s.add(r)
}

package bench

import (
	"context"
	"fmt"
	"os"

	"github.com/ares-torture/torture/harness/local"
)

// Modes of a throughput measurement (and of `torture bench overhead`).
const (
	ModeRecorded = "proxied+recorded" // clients proxied and recorded, as in a run
	ModeDirect   = "direct+unrecorded"
)

// AddThroughput measures 10 closed-loop clients on 5 local servers, (a)
// proxied and recorded as in a run and (b) direct, this build and the
// baseline's in turn, each round, and adds the rows: recorded over
// direct, then the ops/s of each beside the baseline's.
func (s *Session) AddThroughput(ctx context.Context) {
	sz := s.Sizes
	rec := Row{ID: RowRecorded, Name: "recorded / direct throughput", Unit: "x"}
	run := Row{ID: RowOpsRun, Name: "10 clients, 5 local servers, as a run (proxied+recorded)", Unit: "ops/s"}
	dir := Row{ID: RowOpsDirect, Name: "10 clients, 5 local servers, direct", Unit: "ops/s"}
	shape := ThroughputShape{Time: sz.Time, Clients: 10, Servers: 5, Keys: 8}
	fmt.Fprintf(s.Out, "throughput: %d round(s) of %s per measurement, %d clients, %d servers, %d keys, half reads, 64 B values\n",
		sz.Rounds, shape.Time, shape.Clients, shape.Servers, shape.Keys)
	var recs, dirs, baseRecs, baseDirs []float64
	var baseErr error
	for round := 1; round <= sz.Rounds; round++ {
		for _, recorded := range []bool{true, false} {
			if ctx.Err() != nil {
				s.fail(ctx, ctx.Err(), rec, run, dir)
				return
			}
			d, err := s.dir("throughput")
			if err != nil {
				s.fail(ctx, err, rec, run, dir)
				return
			}
			res, err := local.Throughput(ctx, local.ThroughputOptions{Dir: d, ServerBin: s.ServerBin, Servers: shape.Servers,
				Clients: shape.Clients, Keys: shape.Keys, ReadRatio: 0.5, ValueSize: 64, Seed: int64(round),
				Duration: shape.Time, Direct: !recorded, Record: recorded, Thrifty: true, Logger: s.Log})
			_ = os.RemoveAll(d)
			if err != nil {
				fmt.Fprintf(s.Out, "  failed: %v\n", err)
				s.fail(ctx, err, rec, run, dir)
				return
			}
			mode := map[bool]string{true: ModeRecorded, false: ModeDirect}[recorded]
			fmt.Fprintf(s.Out, "  round %d this build %-17s %7.0f ops/s\n", round, mode, res.OpsPerSec)
			if recorded {
				recs = append(recs, res.OpsPerSec)
			} else {
				dirs = append(dirs, res.OpsPerSec)
			}
		}
		if s.Base != nil && baseErr == nil {
			d, err := s.dir("baseline-overhead")
			if err == nil {
				var r, di float64
				r, di, err = s.Base.Overhead(ctx, d, shape)
				if err == nil {
					baseRecs, baseDirs = append(baseRecs, r), append(baseDirs, di)
					fmt.Fprintf(s.Out, "  round %d baseline   %-17s %7.0f ops/s, %s %7.0f ops/s\n", round, ModeRecorded, r, ModeDirect, di)
				}
				_ = os.RemoveAll(d)
			}
			if err != nil {
				baseErr = err
				fmt.Fprintf(s.Out, "  baseline failed: %v\n", err)
			}
		}
	}
	mr, md := Median(recs), Median(dirs)
	rec.Value, rec.Op, rec.Limit = F(mr/md), AtLeast, F(0.9)
	rec.Detail = fmt.Sprintf("medians of %d: %s %.0f ops/s, %s %.0f ops/s", len(recs), ModeRecorded, mr, ModeDirect, md)
	if len(baseRecs) > 0 {
		rec.Baseline = F(Median(baseRecs) / Median(baseDirs))
	}
	s.add(rec)
	for _, x := range []struct {
		row  *Row
		mine float64
		base []float64
	}{{&run, mr, baseRecs}, {&dir, md, baseDirs}} {
		r := *x.row
		r.Value = F(x.mine)
		r.Detail = fmt.Sprintf("median of %d round(s) of %s", len(recs), shape.Time)
		s.add(speedupRow(r, x.base, baseErr))
	}
}

// speedupRow judges an ops/s row against the baseline's figures: at
// least SpeedupMin times their median, an error when the baseline
// failed (baseErr), a figure without a limit when there is none.
func speedupRow(r Row, base []float64, baseErr error) Row {
	r.LimitText = fmt.Sprintf(">= %gx baseline", SpeedupMin)
	switch {
	case len(base) > 0:
		r.Baseline = F(Median(base))
		r.Judge()
		if r.VsBaseline != nil && *r.VsBaseline >= SpeedupMin {
			r.Status = Pass
		} else {
			r.Status = Fail
		}
	case baseErr != nil:
		r.Status, r.Note = Error, "baseline: "+baseErr.Error()
	default:
		r.Status = Info
		r.Note = "no --baseline-bin"
	}
	return r
}

package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// PendingCell is one cell of bench tables' Table II: Reads fresh readers'
// reads, their median in milliseconds, or the error that left it empty.
type PendingCell struct {
	Reads  int
	Median float64
	Error  string
}

// PendingCells are the cells of the pending-configurations row that the
// row is made of: plain ARES, and ARES with PB and GC; PB is the PB-alone
// cell as bench tables prints it.
type PendingCells struct {
	Plain, PBGC PendingCell
	PB          string
}

// PendingReader measures, in this process, bench tables' Table II cell
// of shape s: a fresh reader's ARES read after s.Pending pending
// configurations and one finalized, plain and with PB and GC (and PB
// alone). Its files go under dir (an existing folder), its progress
// lines to out.
type PendingReader func(ctx context.Context, dir string, s TablesShape, out io.Writer) (PendingCells, error)

// AddPending adds the row of the read after pending configurations
// (bench tables' Table II cell, 11 pending configurations and one
// finalized): a fresh reader's ARES read with PB and GC over without,
// measured by read and by the baseline's bench tables.
func (s *Session) AddPending(ctx context.Context, read PendingReader) {
	sz := s.Sizes
	r := Row{ID: RowPending, Name: fmt.Sprintf("read after %d pending configs, PB+GC / plain ARES", sz.Pending), Unit: "x"}
	if ctx.Err() != nil {
		s.fail(ctx, ctx.Err(), r)
		return
	}
	dir, err := s.dir("tables")
	if err != nil {
		s.fail(ctx, err, r)
		return
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(s.Out, "read after reconfigurations (bench tables' Table II): EC k=%d of %d in-process servers, %s, %d pending + 1 finalized, %d read(s) per cell\n",
		sz.TableK, sz.TableServers, SizeName(sz.TableSize), sz.Pending, sz.TableReads)
	shape := TablesShape{Servers: sz.TableServers, K: sz.TableK, Reads: sz.TableReads, Pending: sz.Pending, Size: sz.TableSize}
	cells, err := read(ctx, dir, shape, indent{s.Out})
	if err != nil {
		s.fail(ctx, err, r)
		return
	}
	plain, pbgc := cells.Plain, cells.PBGC
	if plain.Reads == 0 || pbgc.Reads == 0 || plain.Median <= 0 {
		s.fail(ctx, fmt.Errorf("no figure: plain %q, PB&GC %q", plain.Error, pbgc.Error), r)
		return
	}
	q := pbgc.Median / plain.Median
	r.Value, r.Op, r.Limit = F(q), AtMost, F(1)
	r.LimitText = "<= 1 (slides: 0.67)"
	r.Detail = fmt.Sprintf("PB+GC %s, plain %s (median of %d fresh readers; PB alone %s)", MSText(pbgc.Median), MSText(plain.Median), plain.Reads, cells.PB)
	if s.Base != nil {
		// The baseline's bench tables, same shape (it measures the
		// finalized scenario too: it cannot leave it out).
		bdir, err := s.dir("baseline-tables")
		if err == nil {
			var bp, bg float64
			bp, bg, err = s.Base.PendingRead(ctx, bdir, shape)
			_ = os.RemoveAll(bdir)
			if err == nil {
				r.Baseline = F(bg / bp)
				r.Detail += fmt.Sprintf("; baseline PB+GC %s, plain %s", MSText(bg), MSText(bp))
				fmt.Fprintf(s.Out, "  baseline: PB+GC %s, plain %s\n", MSText(bg), MSText(bp))
			}
		}
		if err != nil {
			r.Note = "baseline: " + err.Error()
		}
	}
	s.add(r)
}

// indent prefixes every write with two spaces (the tables bench's own
// progress lines, one per write).
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	if _, err := io.WriteString(i.w, "  "+strings.TrimPrefix(string(p), "  ")); err != nil {
		return 0, err
	}
	return len(p), nil
}

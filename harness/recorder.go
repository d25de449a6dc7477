package harness

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/workloads"
)

// Recorder stamps history lines with monotonic nanoseconds since the run
// began and appends them in time order: the time is taken under the same
// lock as the write, so the file's order is the time order.
type Recorder struct {
	start time.Time // carries Go's monotonic clock reading
	w     *history.Writer

	mu  sync.Mutex
	err error
	// canonical buffers the lines of one instant and writes them sorted
	// (deterministic backends): goroutines woken at the same simulated
	// instant reach the recorder in any order.
	canonical bool
	instant   []history.Op

	// Counters for progress and the verdict line.
	invoked, ok, fail, info atomic.Int64
	// Acknowledged workload writes and ok workload reads, for the warm-up.
	okWrites, okReads atomic.Int64
}

// NewRecorder records into w; times count from start.
func NewRecorder(w *history.Writer, start time.Time) *Recorder {
	return &Recorder{start: start, w: w}
}

// Now is the current time of the run's clock.
func (r *Recorder) Now() int64 { return time.Since(r.start).Nanoseconds() }

// Append stamps op with the current time and writes it. The first write
// error is kept (Err) and later lines are dropped: a history with a hole
// would be worse than a prefix.
func (r *Recorder) Append(op history.Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	op.Time = r.Now()
	if r.canonical {
		if len(r.instant) > 0 && r.instant[0].Time != op.Time {
			r.flushLocked()
		}
		r.instant = append(r.instant, op)
	} else if err := r.w.Append(op); err != nil {
		r.err = err
		return
	}
	switch op.Type {
	case history.Invoke:
		r.invoked.Add(1)
	case history.Ok:
		r.ok.Add(1)
		switch {
		case op.Final:
		case op.F == history.FWrite || op.F == history.FCover && !op.Covered:
			r.okWrites.Add(1)
		case op.F == history.FRead || op.F == history.FCover:
			r.okReads.Add(1)
		}
	case history.Fail:
		r.fail.Add(1)
	case history.Info:
		r.info.Add(1)
	}
}

// flush writes the lines of the last instant (canonical mode).
func (r *Recorder) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flushLocked()
}

// flushLocked writes the buffered instant's lines: nemesis lines first
// (by fault id), then client lines by process (each process's own lines
// keep their order), the end line last. Lines of one instant cannot depend on one
// another across processes (every message takes time), so any fixed
// order is a true one.
func (r *Recorder) flushLocked() {
	rank := func(op history.Op) int {
		switch op.Type {
		case history.Nemesis:
			return 0
		case history.End:
			return 2
		}
		return 1
	}
	// Nemesis lines of one instant come from several goroutines (racing
	// reconfigurations): by fault id, a start before its stop.
	phase := func(op history.Op) int {
		if op.Type == history.Nemesis && op.F == history.FStop {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(r.instant, func(a, b history.Op) int {
		if ra, rb := rank(a), rank(b); ra != rb || ra == 0 {
			return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(a.ID, b.ID), cmp.Compare(phase(a), phase(b)))
		}
		return cmp.Compare(a.Process, b.Process)
	})
	for _, op := range r.instant {
		if r.err != nil {
			break
		}
		if err := r.w.Append(op); err != nil {
			r.err = err
		}
	}
	r.instant = r.instant[:0]
}

// RecordNemesis appends a nemesis line, stamped with the run's clock
// whatever time it carries; it is the record function of nemesis.Run.
func (r *Recorder) RecordNemesis(op history.Op) {
	op.Type = history.Nemesis
	r.Append(op)
}

// Served returns the acknowledged workload writes and ok workload reads
// recorded so far.
func (r *Recorder) Served() (writes, reads int64) { return r.okWrites.Load(), r.okReads.Load() }

// Err is the first write error.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Counts are the client operations recorded so far.
type Counts struct {
	Invoked, OK, Fail, Info int64
}

// Completed is how many operations have a completion.
func (c Counts) Completed() int64 { return c.OK + c.Fail + c.Info }

// Counts returns the counters.
func (r *Recorder) Counts() Counts {
	return Counts{Invoked: r.invoked.Load(), OK: r.ok.Load(), Fail: r.fail.Load(), Info: r.info.Load()}
}

// ReadValue turns a read's payload into the history's value: "" for the
// initial value, the written value's id, or "corrupt:<sha256 prefix>" for a
// payload that does not decode, a value no write wrote, so the checker
// flags the read.
func ReadValue(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	v, err := workloads.Decode(b)
	if err != nil || v == "" {
		sum := sha256.Sum256(b)
		return "corrupt:" + hex.EncodeToString(sum[:8])
	}
	return v
}

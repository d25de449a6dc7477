package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/workloads"
)

// ThroughputOptions configure one throughput measurement: closed-loop
// clients on a fresh local cluster without faults.
type ThroughputOptions struct {
	// Dir holds the servers' data and logs and, with Record, the history.
	// It must exist; the caller removes it.
	Dir string
	// ServerBin is the ares-server binary.
	ServerBin string
	// Servers form the (only) configuration, ABD.
	Servers int
	// Clients run closed loops: each starts its next operation as soon as
	// the last one completed.
	Clients int
	// Keys, ReadRatio and ValueSize shape the register workload (0 keys:
	// 8; 0 value size: 64 B).
	Keys      int
	ReadRatio float64
	ValueSize int
	// Seed drives the workload generators.
	Seed int64
	// Thrifty clients ask a quorum first (ares.ClientOptions.Thrifty), as
	// a local run's do by default; otherwise every server at once.
	Thrifty bool
	// Duration: clients start no operation after it; those in flight
	// finish. Ops: clients start no more than this many operations in
	// all. At least one of the two must be set; the first reached ends
	// the measurement.
	Duration time.Duration
	Ops      int64
	// Direct connects the clients straight to the servers; otherwise each
	// client reaches each server through its own fault-injecting link, as in a
	// run (without any toxic).
	Direct bool
	// Record appends every invoke and completion to Dir/history.jsonl
	// through a harness.Recorder, as a run does.
	Record bool
	// OpTimeout bounds one operation (default 10s). Nothing is faulted,
	// so an operation that takes this long means a broken setup.
	OpTimeout time.Duration
	// Started, if set, is called once the cluster serves and every client
	// is connected, just before the first operation: a benchmark resets
	// its timer there.
	Started func()
	Logger  *slog.Logger
}

// ThroughputResult is what a measurement did.
type ThroughputResult struct {
	// Ops is how many operations completed ok.
	Ops int64 `json:"ops"`
	// Elapsed runs from the first operation's start to the last one's end.
	Elapsed time.Duration `json:"elapsed_ns"`
	// OpsPerSec is Ops / Elapsed.
	OpsPerSec float64 `json:"ops_per_sec"`
}

// Throughput starts a local cluster, runs the clients until Duration or
// Ops is reached, stops the cluster and reports the rate of completed
// operations. It is the core of BenchmarkClients and of
// `torture bench overhead`: proxied and recorded (Direct false, Record
// true) is what a torture run's clients pay; direct and unrecorded is the
// protocol alone. Any failed operation is an error: nothing is faulted,
// so one means the figure would not measure what it claims.
func Throughput(ctx context.Context, o ThroughputOptions) (res ThroughputResult, err error) {
	if o.Duration <= 0 && o.Ops <= 0 {
		return res, errors.New("throughput: neither a duration nor an operation count")
	}
	if o.Servers < 1 || o.Clients < 1 {
		return res, fmt.Errorf("throughput: %d servers, %d clients: want at least 1 of each", o.Servers, o.Clients)
	}
	if o.Keys == 0 {
		o.Keys = 8
	}
	if o.ValueSize == 0 {
		o.ValueSize = 64
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = 10 * time.Second
	}
	wopts := workloads.Options{Workload: workloads.Register, Keys: o.Keys, ReadRatio: o.ReadRatio, ValueSize: o.ValueSize}
	if err := wopts.Validate(); err != nil {
		return res, fmt.Errorf("throughput: %w", err)
	}
	c, err := New(Options{RunDir: o.Dir, Pool: o.Servers, ServerBin: o.ServerBin, Direct: o.Direct, Logger: o.Logger})
	if err != nil {
		return res, err
	}
	defer func() {
		// Stopped whatever happened (Ctrl-C too), with a bound of its own.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := c.Stop(sctx, ""); serr != nil {
			err = errors.Join(err, fmt.Errorf("throughput: stop cluster: %w", serr))
		}
	}()
	if err := c.Start(ctx); err != nil {
		return res, err
	}
	var rec *harness.Recorder
	if o.Record {
		w, err := history.Create(filepath.Join(o.Dir, harness.HistoryFile))
		if err != nil {
			return res, err
		}
		defer func() {
			if cerr := w.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("throughput: close history: %w", cerr))
			}
		}()
		rec = harness.NewRecorder(w, time.Now())
	}
	initial := &ares.Config{Servers: c.Pool(), DAP: ares.ABD}
	clients := make([]harness.Client, o.Clients)
	gens := make([]*workloads.Generator, o.Clients)
	for i := range clients {
		cl, err := c.NewClient(ctx, harness.ClientName(i), harness.ClientSpec{Initial: initial, PB: true, GC: true, Thrifty: o.Thrifty})
		if err != nil {
			return res, err
		}
		defer cl.Close()
		clients[i] = cl
		if gens[i], err = workloads.New(wopts, o.Seed, i); err != nil {
			return res, fmt.Errorf("throughput: %w", err)
		}
	}

	// left counts the operations still to start when Ops bounds the
	// measurement; the deadline ends it otherwise.
	var left atomic.Int64
	left.Store(o.Ops)
	if o.Ops <= 0 {
		left.Store(1 << 62)
	}
	soft, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Started != nil {
		o.Started()
	}
	t0 := time.Now()
	if o.Duration > 0 {
		var stopSoft context.CancelFunc
		soft, stopSoft = context.WithDeadline(soft, t0.Add(o.Duration))
		defer stopSoft()
	}
	var (
		done     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	for i, cl := range clients {
		gen := gens[i]
		wg.Go(func() {
			for soft.Err() == nil && left.Add(-1) >= 0 {
				if err := oneOp(ctx, cl, gen, rec, i, o.OpTimeout); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("throughput: client %s: %w", harness.ClientName(i), err) })
					cancel() // the others stop too: the figure is void
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if firstErr != nil {
		return res, firstErr
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("throughput: %w", err)
	}
	if rec != nil {
		if err := rec.Err(); err != nil {
			return res, fmt.Errorf("throughput: record: %w", err)
		}
	}
	res = ThroughputResult{Ops: done.Load(), Elapsed: elapsed}
	if elapsed > 0 {
		res.OpsPerSec = float64(res.Ops) / elapsed.Seconds()
	}
	return res, nil
}

// oneOp runs one generated operation, recording its invoke and its ok
// completion the way a run's client does when rec is set.
func oneOp(ctx context.Context, cl harness.Client, gen *workloads.Generator, rec *harness.Recorder, proc int, timeout time.Duration) error {
	op := gen.Next()
	inv := history.Op{Type: history.Invoke, Process: proc, F: op.F, Key: op.Key, Value: op.Value}
	if rec != nil {
		rec.Append(inv)
	}
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		got  []byte
		info ares.OpInfo
		err  error
	)
	if op.F == history.FWrite {
		info, err = cl.Write(octx, op.Key, gen.Payload(op))
	} else {
		got, info, err = cl.Read(octx, op.Key)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op.F, op.Key, err)
	}
	if rec != nil {
		done := inv
		done.Type = history.Ok
		if op.F == history.FRead {
			done.Value = harness.ReadValue(got)
		}
		harness.SetOpInfo(&done, info)
		rec.Append(done)
	}
	return nil
}

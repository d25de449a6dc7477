package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/deadline"
	"github.com/ares-torture/torture/history"
	"github.com/ares-torture/torture/nemesis"
	"github.com/ares-torture/torture/workloads"
)

// Exit codes of the command-line contract.
const (
	ExitValid   = 0
	ExitInvalid = 1
	ExitUnknown = 2
	ExitHarness = 3
)

// LogFile is the controller's own log inside the run directory.
const LogFile = "torture.log"

// Env is what a run needs from its caller besides the options.
type Env struct {
	// Out receives the progress and the closing lines (the verdict last).
	Out io.Writer
	// Log receives what a person should see at once (warnings); the full
	// log goes to RUN_DIR/torture.log. Nil discards.
	Log *slog.Logger
	// Args is the command line, recorded in test.json.
	Args []string
	// Bubble overrides the backend's Bubble (tests give the sim backend
	// one under their own *testing.T).
	Bubble func(f func())
}

// Outcome is how a run or a check ended.
type Outcome struct {
	Code        int
	RunDir      string
	Verdict     string // valid, invalid, unknown, or error (the harness failed)
	Reason      string
	Counts      Counts
	Interrupted bool
	Err         error
}

// Line is the one-line verdict printed last:
// VALID run=runs/NAME/... ops=1234 ok=1200 fail=0 info=34.
func (o *Outcome) Line() string {
	dir := o.RunDir
	if dir == "" {
		dir = "-"
	}
	s := fmt.Sprintf("%s run=%s ops=%d ok=%d fail=%d info=%d", strings.ToUpper(o.Verdict), dir,
		o.Counts.Completed(), o.Counts.OK, o.Counts.Fail, o.Counts.Info)
	if o.Verdict != string(checker.Valid) && o.Reason != "" {
		r := o.Reason
		if len(r) > 160 {
			r = r[:157] + "..."
		}
		s += fmt.Sprintf(" reason=%q", r)
	}
	return s
}

func failed(runDir string, c Counts, err error) *Outcome {
	return &Outcome{Code: ExitHarness, RunDir: runDir, Verdict: "error", Reason: err.Error(), Counts: c, Err: err}
}

// Run runs one test from start to end (see DESIGN.md) and returns its
// outcome; it prints progress and the closing lines, the verdict last, to
// env.Out. A cancelled ctx (Ctrl-C) stops the clients and the nemesis at
// once; the cluster is still stopped and the history so far still checked.
func Run(ctx context.Context, opts Options, env Env) *Outcome {
	if env.Out == nil {
		env.Out = io.Discard
	}
	if env.Log == nil {
		env.Log = slog.New(slog.DiscardHandler)
	}
	out := run(ctx, opts, env)
	fmt.Fprintln(env.Out, out.Line())
	return out
}

func run(ctx context.Context, opts Options, env Env) *Outcome {
	if err := opts.Validate(); err != nil {
		return failed("", Counts{}, err)
	}
	backend, err := LookupBackend(opts.Backend)
	if err != nil {
		return failed("", Counts{}, err)
	}
	bug, _ := ares.ParseBug(opts.ServerBug) // checked by Validate
	var serverBug, clientBug ares.Bug
	for _, b := range ares.Bugs {
		if b.Name == bug && bug != "" {
			if b.Server {
				serverBug = bug
			} else {
				clientBug = bug
			}
		}
	}
	faults, err := nemesis.Parse(opts.Nemesis)
	if err != nil {
		return failed("", Counts{}, fmt.Errorf("--nemesis: %w", err))
	}
	wopts := workloads.Options{Workload: opts.Workload, Keys: opts.Keys, ReadRatio: opts.ReadRatio,
		ValueSize: opts.ValueSize, Dist: opts.Dist, Rate: opts.Rate}
	if err := wopts.Validate(); err != nil {
		return failed("", Counts{}, fmt.Errorf("workload: %w", err))
	}
	limiter, err := workloads.NewLimiter(opts.Rate)
	if err != nil {
		return failed("", Counts{}, fmt.Errorf("--rate: %w", err))
	}

	start := time.Now()
	runDir, err := CreateRunDir(opts.Store, opts.Name, start, opts.Seed)
	if err != nil {
		return failed(runDir, Counts{}, err)
	}
	logf, err := os.Create(filepath.Join(runDir, LogFile))
	if err != nil {
		return failed(runDir, Counts{}, fmt.Errorf("create log: %w", err))
	}
	defer logf.Close()
	log := slog.New(teeHandler{
		slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelInfo}),
		env.Log.Handler(),
	})
	fmt.Fprintf(env.Out, "torture: %s seed=%d run=%s\n", opts.Name, opts.Seed, runDir)

	ti := &TestInfo{Options: opts, Seed: opts.Seed, Start: start, RunDir: runDir,
		Versions: Versions(ctx, opts.ServerBin), Args: env.Args}
	if err := WriteTestInfo(runDir, ti); err != nil {
		return failed(runDir, Counts{}, err)
	}
	var runTLS *RunTLS
	if opts.TLS == TLSOn {
		// One CA per run: a certificate of another run (or none) is
		// refused by every node of this one.
		if runTLS, err = NewRunTLS(filepath.Join(runDir, TLSDir)); err != nil {
			return failed(runDir, Counts{}, err)
		}
		log.Info("mutual TLS on", "certificates", runTLS.Dir())
	}
	hw, err := history.Create(filepath.Join(runDir, HistoryFile))
	if err != nil {
		return failed(runDir, Counts{}, err)
	}
	bubble := env.Bubble
	if bubble == nil {
		bubble = backend.Bubble
	}
	tp, err := startTracing(ctx, opts, runDir, bubble != nil)
	if err != nil {
		return failed(runDir, Counts{}, err)
	}
	var (
		rec         *Recorder
		harnessErr  error
		interrupted bool
	)
	body := func() {
		if bubble != nil {
			// A panic here would end the process from inside the bubble
			// (its testing.T reports and re-panics): make it this run's
			// harness error instead.
			defer func() {
				if p := recover(); p != nil {
					harnessErr = fmt.Errorf("simulated run panicked: %v", p)
					if rec != nil {
						rec.flush()
					}
				}
			}()
		}
		dctx, stop := ctx, func() {}
		if bubble != nil {
			dctx, stop = bridge(ctx)
		}
		defer stop()
		rec = NewRecorder(hw, time.Now())
		rec.canonical = bubble != nil
		r := &runner{opts: opts, env: env, log: log, runDir: runDir, rec: rec, wopts: wopts,
			faults: faults, clientBug: clientBug}
		if wopts.Workload == workloads.File {
			eff := wopts.Effective()
			r.files = newFileState(eff.Keys, eff.ValueSize, clientBug)
		}
		r.limiters = make([]*workloads.Limiter, opts.Clients)
		for i := range r.limiters {
			r.limiters[i] = limiter
		}
		if bubble != nil && opts.Rate > 0 {
			// Clients that wake at one simulated instant would race for
			// the shared limiter's slots: under a deterministic backend
			// each client gets its share of the rate, its slots offset
			// from the others'.
			for i := range r.limiters {
				l, _ := workloads.NewLimiter(opts.Rate / float64(opts.Clients))
				l.Delay(time.Duration(float64(time.Second) / opts.Rate * float64(i)))
				r.limiters[i] = l
			}
		}
		r.stage.Store("starting")
		harnessErr = r.drive(dctx, backend, ClusterConfig{RunDir: runDir, Pool: opts.Pool, ServerBin: opts.ServerBin,
			Config0:   Config0{Servers: opts.Servers, DAP: ares.DAP(opts.DAP), K: opts.ECK},
			ServerBug: serverBug, Seed: opts.Seed, Logger: log, Tracer: tp.tracer(), TraceDir: tp.fileDir(), TLS: runTLS})
		// Every client has returned, so every operation has its completion:
		// the history is whole, and says so (the checker calls a history
		// without this line cut short). The line also carries what only the
		// run knows, so that a re-check reaches the same verdict: the faults
		// asked for (none injected is vacuous) and why the run cannot pass.
		// An interrupted run is unknown through this line, so the check
		// below and any re-check agree.
		interrupted = ctx.Err() != nil
		end := history.Op{Type: history.End, Fault: strings.Join(faults, ",")}
		var why []string
		if interrupted {
			why = append(why, "interrupted")
		}
		if r.noWarmUp.Load() {
			why = append(why, "the warm-up never ended (the cluster did not serve a write and a read before the run's time was up), so no fault was injected")
		}
		end.Error = strings.Join(why, "; ")
		rec.Append(end)
		rec.flush()
	}
	if bubble != nil {
		if err := inBubble(bubble, body); err != nil {
			harnessErr = err
		}
	} else {
		body()
	}
	if rec == nil {
		return failed(runDir, Counts{}, harnessErr)
	}
	if err := hw.Close(); err != nil && harnessErr == nil {
		harnessErr = fmt.Errorf("close history: %w", err)
	}
	tp.finish(context.WithoutCancel(ctx), env.Out, log)
	if err := rec.Err(); err != nil && harnessErr == nil {
		harnessErr = err
	}
	if harnessErr != nil {
		log.Error("harness failed", "err", harnessErr)
	}
	if harnessErr != nil && rec.Counts().Invoked == 0 {
		if interrupted {
			// An interrupt during set-up is the user's, not a harness
			// failure: the run is unknown (2), like any interrupted one.
			return &Outcome{Code: ExitUnknown, RunDir: runDir, Verdict: "unknown", Counts: rec.Counts(),
				Reason: "interrupted during set-up: " + harnessErr.Error(), Err: harnessErr, Interrupted: true}
		}
		return failed(runDir, rec.Counts(), harnessErr)
	}

	// Check even after a harness failure or an interruption: the history
	// so far is what a person will want to look at.
	out := CheckRun(context.WithoutCancel(ctx), CheckInput{RunDir: runDir, Timeout: opts.CheckTimeout.D()}, env.Out, log)
	out.Interrupted = interrupted
	switch {
	case harnessErr != nil && out.Code == ExitInvalid:
		// A violation found is definitive whatever else went wrong: the
		// harness error is reported beside it, never instead of it.
		out.Reason += "; harness error: " + harnessErr.Error()
		out.Err = harnessErr
	case harnessErr != nil && interrupted:
		// The check of an interrupted history is unknown at best; what
		// the interrupt cut short is said beside it, not instead of it.
		out.Code, out.Verdict = ExitUnknown, "unknown"
		out.Reason += "; " + harnessErr.Error()
		out.Err = harnessErr
	case harnessErr != nil:
		out.Code, out.Verdict, out.Reason, out.Err = ExitHarness, "error", harnessErr.Error(), harnessErr
	}
	return out
}

// inBubble runs body in bubble and turns a panic of the bubble (synctest's
// deadlock: every goroutine of it blocked for good) into an error.
func inBubble(bubble func(func()), body func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("simulated run failed: %v", p)
		}
	}()
	bubble(body)
	return nil
}

// bridge gives the code in a bubble a context of its own that ends when
// ctx ends: a goroutine blocked on a channel made outside the bubble is
// not durably blocked, so the bubble's clock would never move. The bubble
// looks at ctx every 100ms of its time.
func bridge(ctx context.Context) (context.Context, func()) {
	inner, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if ctx.Err() != nil {
					cancel()
					return
				}
			}
		}
	}()
	return inner, func() { close(done); cancel() }
}

// runner is the state of one run between start and check.
type runner struct {
	opts      Options
	env       Env
	log       *slog.Logger
	runDir    string
	rec       *Recorder
	wopts     workloads.Options
	limiters  []*workloads.Limiter // per client; shared but under a deterministic backend
	files     *fileState           // the file workload's shared state; nil for the others
	faults    []string
	clientBug ares.Bug

	stage   atomic.Value // string, for the progress line
	maxProc atomic.Int64
	// noWarmUp says faults were asked for but the warm-up never ended, so
	// none was injected: the run cannot be valid.
	noWarmUp atomic.Bool
}

func (r *runner) setStage(s string) {
	r.stage.Store(s)
	r.log.Info("stage", "stage", s)
}

// drive starts the cluster, runs clients and nemesis, heals, reads every
// key once more and stops the cluster. Its error is a harness failure.
func (r *runner) drive(ctx context.Context, backend Backend, cfg ClusterConfig) (err error) {
	cluster, err := backend.New(ctx, cfg)
	if err != nil {
		return fmt.Errorf("build %s cluster: %w", r.opts.Backend, err)
	}
	defer func() {
		r.setStage("stopping")
		// The cluster is stopped whatever happened, also after Ctrl-C.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if serr := cluster.Stop(sctx, filepath.Join(r.runDir, NodesDir)); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop cluster: %w", serr))
		}
	}()
	if err := cluster.Start(ctx); err != nil {
		return err
	}
	pool := cluster.Pool()
	if len(pool) < r.opts.Servers {
		return fmt.Errorf("cluster has %d servers, want at least %d", len(pool), r.opts.Servers)
	}
	initial, err := cfg.Config0.Of(pool)
	if err != nil {
		return fmt.Errorf("initial configuration: %w", err)
	}
	r.log.Info("initial configuration", "config", initial.String())

	control, err := cluster.ControlClient(ctx, ClientSpec{Initial: initial, PB: r.opts.PB, GC: r.opts.GC, Thrifty: r.opts.Thrifty == ThriftyOn})
	if err != nil {
		return fmt.Errorf("control client: %w", err)
	}
	defer control.Close()

	clients := make([]Client, r.opts.Clients)
	gens := make([]*workloads.Generator, r.opts.Clients)
	for i := range gens {
		if gens[i], err = workloads.New(r.wopts, r.opts.Seed, i); err != nil {
			return fmt.Errorf("workload: %w", err)
		}
	}
	// Clients start side by side: a docker agent takes seconds to come up,
	// and ten of them one after another were most of a short run's set-up.
	// The first failure stops the others' starts.
	sctx, stopStarts := context.WithCancelCause(ctx)
	defer stopStarts(nil)
	spec := ClientSpec{Initial: initial, PB: r.opts.PB, GC: r.opts.GC, Thrifty: r.opts.Thrifty == ThriftyOn, Bug: r.clientBug}
	var starting sync.WaitGroup
	for i := range clients {
		starting.Go(func() {
			c, err := cluster.NewClient(sctx, ClientName(i), spec)
			if err != nil {
				stopStarts(fmt.Errorf("client %s: %w", ClientName(i), err))
				return
			}
			clients[i] = c
		})
	}
	starting.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	if slices.Contains(clients, nil) {
		return context.Cause(sctx) // the first failure
	}

	// Reconfigurers beyond the control client are clients of their own
	// whose links faults may touch, so that reconfigurations race; without
	// the reconfig fault there are none (a crash would be wasted on one).
	reconfClients := []Client{control}
	for j := 1; j < r.opts.Reconfigurers && slices.Contains(r.faults, nemesis.Reconfig); j++ {
		c, err := cluster.NewClient(ctx, fmt.Sprintf("r%d", j), ClientSpec{Initial: initial, PB: r.opts.PB, GC: r.opts.GC, Thrifty: r.opts.Thrifty == ThriftyOn})
		if err != nil {
			return fmt.Errorf("reconfigurer r%d: %w", j, err)
		}
		defer c.Close()
		reconfClients = append(reconfClients, c)
	}
	reconf := newReconfigurer(reconfClients, pool, initial)
	nem, err := nemesis.New(nemesis.Options{Faults: r.faults, Interval: r.opts.NemesisInterval.D(),
		Logger: r.log.With("component", "nemesis")}, cluster, reconf, r.opts.Seed)
	if err != nil {
		return fmt.Errorf("nemesis: %w", err)
	}

	prog := newProgress(r.env.Out, r.rec, r.opts.Time.D(), nem.Active, func() string { return r.stage.Load().(string) })
	go prog.run()
	defer prog.finish()

	// soft ends at --time: clients start no new operation, those in flight
	// finish (bounded by --op-timeout). ctx (Ctrl-C) cuts them short.
	soft, stopClients := context.WithTimeout(ctx, r.opts.Time.D())
	defer stopClients()
	nemCtx, stopNemesis := context.WithCancel(soft)
	defer stopNemesis()
	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		if r.warmUp(nemCtx) {
			nem.Run(nemCtx, r.rec.RecordNemesis)
		} else if len(r.faults) > 0 {
			r.noWarmUp.Store(true)
		}
	}()
	r.setStage("running")
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() { r.client(ctx, soft, i, c, gens[i]) })
	}
	wg.Wait()
	stopNemesis()
	<-nemDone

	r.setStage("healing")
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	herr := nem.HealAll(hctx)
	cancel()
	if herr != nil {
		r.log.Warn("healing failed", "err", herr)
	}
	if ctx.Err() != nil {
		prog.Println("interrupted: stopping the cluster and checking the history so far")
		return nil
	}
	r.setStage("settling")
	select {
	case <-time.After(r.opts.Settle.D()):
	case <-ctx.Done():
		return nil
	}
	r.setStage("final reads")
	if r.files != nil {
		r.finalFileReads(ctx, control)
	} else {
		r.finalReads(ctx, control)
	}
	return nil
}

// warmUp waits until the cluster has acknowledged a workload write and
// served an ok workload read (each where the workload issues it), so that
// the first fault falls on a cluster known to work, as etcd's robustness
// tests wait for traffic before their failpoint. It reports false if ctx
// ended first: no fault is injected, and the run is unknown (the history
// alone can pass every floor with operations that completed after the
// run's time was up).
func (r *runner) warmUp(ctx context.Context) bool {
	wantWrites, wantReads := r.wopts.ReadRatio < 1, r.wopts.ReadRatio > 0
	t0 := time.Now()
	for {
		w, rd := r.rec.Served()
		if (!wantWrites || w > 0) && (!wantReads || rd > 0) {
			r.log.Info("warm-up done: the cluster serves; faults may start", "after", time.Since(t0).Round(time.Millisecond))
			return true
		}
		if deadline.Sleep(ctx, 10*time.Millisecond) != nil {
			r.log.Warn("warm-up never ended: the cluster did not serve before the run ended, so no fault was injected",
				"acknowledged_writes", w, "ok_reads", rd)
			return false
		}
	}
}

package main

// The sim backend in the bench suite: `bench sim`, the simulation's speed
// beside the local backend's (the bug shapes of `bench bugs --backend sim`
// are sim.BugOptions).

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/simrun"
	"github.com/ares-torture/torture/sim"
)

// ---- bench sim --------------------------------------------------------------

// simSpeedFile is STORE/bench/sim-<start>.json.
type simSpeedFile struct {
	Suite    string            `json:"suite"`
	Start    time.Time         `json:"start"`
	Args     []string          `json:"args"`
	Versions map[string]string `json:"versions"`
	Options  harness.Options   `json:"options"` // of every sim run (Seed: 1..runs)
	// Sim is the sim runs' summary (its results per seed are left out:
	// a failing seed's run stays in the store and is named in Failing).
	Sim struct {
		Runs                 int           `json:"runs"`
		Workers              int           `json:"workers"`
		Cores                int           `json:"cores"`
		WallSeconds          float64       `json:"wall_s"`
		CPUSeconds           float64       `json:"cpu_s"`
		RunsPerSecond        float64       `json:"runs_per_s"`
		RunsPerSecondPerCore float64       `json:"runs_per_s_per_core"`
		Ops                  int64         `json:"ops"`
		OpsPerSecond         float64       `json:"ops_per_wall_s"`
		Counts               simrun.Counts `json:"counts"`
		Failing              []string      `json:"failing_run_dirs,omitempty"`
		Summary              string        `json:"summary_file,omitempty"`
	} `json:"sim"`
	// Local is the local backend's run, absent when skipped.
	Local       *localSpeed `json:"local,omitempty"`
	LocalSkip   string      `json:"local_skipped,omitempty"`
	Interrupted bool        `json:"interrupted,omitempty"`
}

// localSpeed is the short local run beside the sim runs.
type localSpeed struct {
	Options      harness.Options `json:"options"`
	Verdict      string          `json:"verdict"`
	RunDir       string          `json:"run_dir,omitempty"`
	Ops          int64           `json:"ops"`
	OpsPerSecond float64         `json:"ops_per_s"` // over --time, the clients' running time
	WallSeconds  float64         `json:"wall_s"`    // start, faults, heal, check
}

func cmdBenchSim(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture bench sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 1000, "sim runs (seeds 1..N) of the sim defaults: 1,000 operations, every fault, each checked")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "sim runs at once")
	localTime := harness.Duration(10 * time.Second)
	fs.Var(&localTime, "local-time", "--time of the local run beside them (0: no local run)")
	store := fs.String("store", "runs", "run store directory (failing runs, and bench/ for the figures)")
	serverBin := fs.String("server-bin", "", "ares-server binary of the local run (default: next to torture, then ./bin)")
	if code, done := parseBenchFlags(fs, args, stdout); done {
		return code
	}
	switch {
	case *runs < 1:
		return usageError(stdout, fmt.Sprintf("--runs %d: want at least 1", *runs))
	case *workers < 1:
		return usageError(stdout, fmt.Sprintf("--workers %d: want at least 1", *workers))
	case localTime < 0:
		return usageError(stdout, fmt.Sprintf("--local-time %v: want >= 0", localTime))
	case *store == "":
		return usageError(stdout, "--store: empty")
	}
	start := time.Now()
	file := simSpeedFile{Suite: "sim", Start: start, Args: append([]string{"torture", "bench", "sim"}, args...)}
	opts := sim.DefaultOptions()
	opts.Store, opts.Name = *store, "bench-sim"
	file.Options = opts
	seeds := make([]int64, *runs)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	fmt.Fprintf(stdout, "bench sim: %d runs of %d operations (%s), %d worker(s) on %d core(s)\n",
		*runs, opts.Ops, bench.ShapeLine(opts), min(*workers, *runs), runtime.GOMAXPROCS(0))
	code := 0
	sum, err := simrun.Run(ctx, simrun.Config{Options: opts, Seeds: seeds, Workers: *workers, Bubble: simBubble,
		Args: file.Args, OnResult: func(r simrun.SeedResult) {
			if r.Failed() {
				fmt.Fprintln(stdout, seedLine(r))
			}
		}})
	if sum == nil {
		fmt.Fprintf(stderr, "torture bench sim: %v\n", err)
		return harness.ExitHarness
	}
	if err != nil {
		fmt.Fprintf(stderr, "torture bench sim: %v\n", err)
		code = harness.ExitHarness
	}
	if sum.Counts.Error > 0 {
		code = harness.ExitHarness // a run the harness could not finish
	}
	s := &file.Sim
	s.Runs, s.Workers, s.Cores, s.WallSeconds, s.CPUSeconds = sum.Ran, sum.Workers, sum.Cores, sum.WallSeconds, sum.CPUSeconds
	s.RunsPerSecond, s.RunsPerSecondPerCore, s.Ops, s.Counts = sum.RunsPerSecond, sum.RunsPerSecondPerCore, sum.Ops, sum.Counts
	s.Failing, s.Summary = sum.Failing, sum.File
	if sum.WallSeconds > 0 {
		s.OpsPerSecond = float64(sum.Ops) / sum.WallSeconds
	}
	fmt.Fprintln(stdout, sum.Line())

	bin, binErr := findServerBin(*serverBin)
	switch {
	case ctx.Err() != nil:
		file.LocalSkip = "interrupted"
	case localTime == 0:
		file.LocalSkip = "--local-time 0"
	case binErr != nil:
		file.LocalSkip = binErr.Error()
	default:
		file.Local = benchLocalSpeed(ctx, *store, bin, localTime, opts, file.Args)
		if file.Local.Verdict == "error" {
			code = harness.ExitHarness
		}
	}
	file.Versions = harness.Versions(ctx, bin)
	file.Interrupted = ctx.Err() != nil

	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "sim:   %d runs in %.1fs: %.2f runs/s, %.2f runs/s per core (%d cores, %d workers); %.0f operations per wall second; CPU %.1fs\n",
		s.Runs, s.WallSeconds, s.RunsPerSecond, s.RunsPerSecondPerCore, s.Cores, s.Workers, s.OpsPerSecond, s.CPUSeconds)
	if l := file.Local; l != nil {
		fmt.Fprintf(stdout, "local: %d operations in %s: %.0f ops/s (one run, %s, wall %.1fs with start, heal and check) %s\n",
			l.Ops, l.Options.Time, l.OpsPerSecond, strings.ToUpper(l.Verdict), l.WallSeconds, orDash(l.RunDir))
		if l.OpsPerSecond > 0 {
			fmt.Fprintf(stdout, "sim/local operations per second: %.1f\n", s.OpsPerSecond/l.OpsPerSecond)
		}
	} else {
		fmt.Fprintf(stdout, "local: skipped (%s)\n", file.LocalSkip)
	}
	path, code := saveBench(*store, "sim", start, &file, file.Interrupted, code, stderr)
	fmt.Fprintf(stdout, "\nBENCH sim runs/s=%.2f runs/s/core=%.2f local_ops/s=%s file=%s\n", s.RunsPerSecond, s.RunsPerSecondPerCore,
		localOps(file.Local), orDash(path))
	return code
}

func localOps(l *localSpeed) string {
	if l == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f", l.OpsPerSecond)
}

// benchLocalSpeed is one local run shaped like the sim runs (5 clients,
// 4 keys, every fault), closed loop so that it goes as fast as the
// cluster does, its faults every second.
func benchLocalSpeed(ctx context.Context, store, bin string, d harness.Duration, simOpts harness.Options, args []string) *localSpeed {
	o := harness.DefaultOptions()
	o.Backend, o.Store, o.ServerBin, o.Name, o.Seed = "local", store, bin, "bench-sim-local", 1
	o.Clients, o.Keys, o.Nemesis = simOpts.Clients, simOpts.Keys, "all"
	o.Time, o.NemesisInterval = d, harness.Duration(time.Second)
	o.OpTimeout, o.Settle = harness.Duration(time.Second), harness.Duration(time.Second)
	var buf strings.Builder
	t0 := time.Now()
	out := harness.Run(ctx, o, harness.Env{Out: &buf, Args: args})
	l := &localSpeed{Options: o, Verdict: out.Verdict, RunDir: out.RunDir, Ops: out.Counts.Completed(),
		WallSeconds: time.Since(t0).Seconds()}
	l.OpsPerSecond = float64(l.Ops) / d.D().Seconds()
	if out.RunDir != "" {
		_ = os.WriteFile(filepath.Join(out.RunDir, benchOutFile), []byte(buf.String()), 0o644)
		if out.Verdict == "valid" {
			_ = os.RemoveAll(out.RunDir) // only its figures matter
			l.RunDir = ""
		}
	}
	return l
}

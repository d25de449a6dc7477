package main

// torture bench: the performance suite. Four suites, each printing a table
// and writing its figures to STORE/bench/<suite>-<start time>.json:
//
//	bugs      how long each --server-bug takes to be found (local or sim)
//	overhead  what the harness costs the clients (proxies and recording)
//	sim       how fast the simulation runs, beside the local backend
//	tracing   what tracing costs the clients (bench_tracing.go)
//	tables    Tables I and II of the ARES II slides (bench_tables.go)
//	all       every speed figure of issue 14 beside its limit (bench_all.go)

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/ares-torture/torture/harness"
)

// BenchDir is the folder of the run store that holds the bench files.
const BenchDir = "bench"

// benchOutFile receives, inside each run directory of `bench bugs`, what
// `torture run` would have printed: the bench's own output stays one line
// per run.
const benchOutFile = "torture.out"

func benchUsage(w io.Writer) {
	fmt.Fprint(w, `usage: torture bench SUITE [flags]

suites:
  bugs [--backend local|sim] [--seeds 10] [--bug NAME|all] [--time 8s, per shape] [--store runs] [--server-bin PATH]
      how long each --server-bug takes to be found: one run per bug and seed 1..N
      in the bug's run shape (local: harness.BugShape; sim: the sim defaults and,
      for some bugs, a sim shape); per bug: found k/N, time to the first violation
      (history time; simulated for sim) min/median/max, run wall time median, runs
      to the first failure and the wall time they took (seeds in order)
  overhead [--time 20s] [--rounds 3] [--clients 10] [--servers 5] [--keys 8] [--thrifty on|off] [--store runs] [--server-bin PATH]
      what the harness costs: closed-loop clients on a local cluster, (a) through
      the fault-injecting links with every operation recorded vs (b) direct and
      unrecorded, alternating a,b per round; ops/s per round, medians, a/b
  sim [--runs 1000] [--workers N] [--local-time 10s] [--store runs] [--server-bin PATH]
      how fast the simulation runs: N sim runs (1,000 operations, every fault,
      each checked), runs/s and runs/s per core; beside them one local run of
      --local-time with every fault, its operations per second (skipped without
      an ares-server binary)
  tracing [--time 15s] [--rounds 3] [--clients 10] [--servers 5] [--keys 8] [--nemesis none] [--json] [--store runs] [--server-bin PATH]
      what tracing costs: local runs with the same options, tracing on and off
      in turn (each round swaps which goes first), closed-loop clients; ops/s
      of each mode (median, min, max), on/off of the medians and per round;
      --json prints the figures as JSON on stdout
  tables [--servers 11] [--k 6] [--reads 5] [--sizes 1MiB,64MiB,256MiB] [--t2-sizes 1MiB,64MiB] [--t2-dap ec] [--pending 11] [--tables 1,2] [--json] [--store runs]
      read latency in the layout of Tables I and II of the ARES II slides, on
      in-process servers over gRPC with fsync'd bbolt stores: I, CoARES vs CoARESF
      over ABD and EC, PB off and on, by size; II, a fresh reader after N pending
      + 1 finalized or N+1 finalized reconfigurations, ARES/CoARES/CoARES_F plain,
      PB, PB&GC; ratios beside the slides'
  all [--quick] [--json] [--no-docker] [--baseline-bin DIR] [--bugs all] [--seeds 3] [--store runs] [--server-bin PATH]
      every speed figure of issue 14 in one session, each beside its limit and,
      with --baseline-bin, beside the same figure of DIR's torture and
      ares-server: write and read latency over a quorum round trip (ABD, EC),
      bytes per EC write over ABD's, 64 MiB write EC over ABD, read after 11
      pending configurations PB+GC over plain, recorded over direct
      throughput, ops/s of 10 clients on 5 servers, check time of a 5-minute
      sim history, time to find each bug (sim), docker over local throughput
      (skipped without docker); pass/fail per row (bench_all.go)

Each prints a table and write STORE/bench/<suite>-<start time>.json.
Ctrl-C stops in order and still prints and writes what ran.
exit codes: 0 done, 2 interrupted, 3 a run or measurement failed in the harness, or a bad command line
`)
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	if len(args) == 0 {
		benchUsage(stderr)
		return usageError(stdout, "bench needs a suite: bugs, overhead, sim, tracing, tables or all")
	}
	switch args[0] {
	case "bugs":
		return cmdBenchBugs(ctx, args[1:], stdout, stderr)
	case "overhead":
		return cmdBenchOverhead(ctx, args[1:], stdout, stderr, log)
	case "sim":
		return cmdBenchSim(ctx, args[1:], stdout, stderr, log)
	case "tracing":
		return cmdBenchTracing(ctx, args[1:], stdout, stderr, log)
	case "tables":
		return cmdBenchTables(ctx, args[1:], stdout, stderr, log)
	case "all":
		return cmdBenchAll(ctx, args[1:], stdout, stderr, log)
	case "help", "-h", "-help", "--help":
		benchUsage(stdout)
		return 0
	default:
		benchUsage(stderr)
		return usageError(stdout, fmt.Sprintf("unknown bench suite %q (want bugs, overhead, sim, tracing, tables or all)", args[0]))
	}
}

// parseBenchFlags parses a suite's flags: help to stdout (exit 0), errors
// as a one-line usage verdict. done is true when the caller should return
// code.
func parseBenchFlags(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, done bool) {
	// The flag package prints its error itself; the pointer to the help
	// follows it, and -h prints the help alone, on stdout.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintf(stdout, "usage: %s [flags]\n\nflags:\n", fs.Name())
			fs.PrintDefaults()
			return 0, true
		}
		fmt.Fprintln(fs.Output(), "see: torture bench --help")
		return usageError(stdout, err.Error()), true
	}
	if fs.NArg() > 0 {
		return usageError(stdout, fmt.Sprintf("unexpected argument %q", fs.Arg(0))), true
	}
	return 0, false
}

// ---- shared ----------------------------------------------------------------

// saveBench writes a suite's figures (writeBenchFile) and returns the
// file's path and the suite's exit code: a failed write is a harness
// failure, an interruption makes a clean run unknown.
func saveBench(store, suite string, start time.Time, v any, interrupted bool, code int, stderr io.Writer) (string, int) {
	path, err := writeBenchFile(store, suite, start, v)
	if err != nil {
		fmt.Fprintf(stderr, "torture bench %s: %v\n", suite, err)
		code = harness.ExitHarness
	}
	if code == 0 && interrupted {
		code = harness.ExitUnknown
	}
	return path, code
}

// printBenchJSON writes v as indented JSON on stdout (--json) and
// returns code, or ExitHarness if it could not.
func printBenchJSON(stdout, stderr io.Writer, suite string, v any, code int) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "torture bench %s: %v\n", suite, err)
		return harness.ExitHarness
	}
	return code
}

// writeBenchFile writes v as STORE/bench/<suite>-<start>.json (with a
// numeric suffix should that exist, as two suites started in one second
// would) and returns its path.
func writeBenchFile(store, suite string, start time.Time, v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode figures: %w", err)
	}
	b = append(b, '\n')
	path, err := harness.WriteNewFile(filepath.Join(store, BenchDir), suite+"-"+start.UTC().Format("20060102T150405"), b)
	if err != nil {
		return "", fmt.Errorf("write figures: %w", err)
	}
	return path, nil
}

// roundFlags are the flags of a bench that measures rounds of local
// runs: how long each runs, how many rounds, the cluster's shape, where
// runs and figures go, and the server binary.
type roundFlags struct {
	runTime                        harness.Duration
	rounds, clients, servers, keys int
	store, serverBin               string
}

// register adds the flags to fs with these defaults (runTime's is set
// before).
func (f *roundFlags) register(fs *flag.FlagSet, timeHelp, roundsHelp string, clients, servers, keys int, storeHelp string) {
	fs.Var(&f.runTime, "time", timeHelp)
	fs.IntVar(&f.rounds, "rounds", 3, roundsHelp)
	fs.IntVar(&f.clients, "clients", clients, "closed-loop clients")
	fs.IntVar(&f.servers, "servers", servers, "servers (one ABD configuration)")
	fs.IntVar(&f.keys, "keys", keys, "keys of the register workload")
	fs.StringVar(&f.store, "store", "runs", storeHelp)
	fs.StringVar(&f.serverBin, "server-bin", "", "ares-server binary (default: next to torture, then ./bin)")
}

// check refuses bad values (a usage error's exit code) and finds the
// server binary.
func (f *roundFlags) check(stdout io.Writer) (bin string, code int, ok bool) {
	bad := ""
	switch {
	case f.runTime <= 0:
		bad = fmt.Sprintf("--time %v: want > 0", f.runTime)
	case f.rounds < 1:
		bad = fmt.Sprintf("--rounds %d: want at least 1", f.rounds)
	case f.clients < 1:
		bad = fmt.Sprintf("--clients %d: want at least 1", f.clients)
	case f.servers < 1:
		bad = fmt.Sprintf("--servers %d: want at least 1", f.servers)
	case f.keys < 1:
		bad = fmt.Sprintf("--keys %d: want at least 1", f.keys)
	case f.store == "":
		bad = "--store: empty"
	}
	if bad == "" {
		var err error
		if bin, err = findServerBin(f.serverBin); err == nil {
			return bin, 0, true
		}
		bad = err.Error()
	}
	return "", usageError(stdout, bad), false
}

// liveLine redraws text(elapsed) in place every second while work runs,
// on a terminal only: in a log a line per second would drown the one
// line per run. The returned stop clears it.
func liveLine(w io.Writer, text func(time.Duration) string) (stop func()) {
	if !harness.IsTerminal(w) {
		return func() {}
	}
	t0 := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(w, "\r\033[K%s", text(time.Since(t0)))
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

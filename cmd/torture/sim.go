package main

// torture sim: many seeds of the deterministic simulation backend at once
// (the seed loop is harness/simrun's).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/simrun"
	"github.com/ares-torture/torture/sim"
)

// simBubble hosts the bubbles of every sim run a command makes (sim,
// shrink, bench); nil leaves it to the sim backend (sim.InBubble). Tests
// set it, since a test binary hosts bubbles under its own *testing.T.
var simBubble func(f func())

func simUsage(fs *flag.FlagSet) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, `usage: torture sim --seeds A..B [--workers N] [--keep-all] [run flags]

Runs every seed of --seeds on the deterministic simulation backend, N at a
time, each a whole test (cluster, workload, faults, check) under one test
name. For each seed that is not valid it prints the seed, verdict, reason,
run directory and the command that replays it; valid seeds' run directories
are deleted unless --keep-all. The last line sums up; the same figures and
every seed's verdict go to STORE/NAME/%sTIME.json.

--seeds: A..B (both included), one seed N, or a comma list of those.
The run flags default to the sim's own (sim.DefaultOptions, shown below:
1,000 operations, every fault, in simulated time); --backend can only be sim.

exit codes: 0 every seed valid, 1 a violation found, 2 some seed unknown
(or interrupted), 3 a harness failure or bad command line.

flags:
`, simrun.SummaryPrefix)
		fs.PrintDefaults()
	}
}

func cmdSim(ctx context.Context, args []string, stdout, stderr io.Writer, _ *slog.Logger) int {
	opts := sim.DefaultOptions()
	fs := flag.NewFlagSet("torture sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runFlags(fs, &opts)
	seedsFlag := fs.String("seeds", "", "seeds to run: A..B, N, or a comma list of those (required)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "seeds run at once")
	keepAll := fs.Bool("keep-all", false, "keep the run directories of valid seeds too (failing ones are always kept)")
	swarm := fs.Bool("swarm", false, "swarm testing: each seed draws its own clients, keys, read share, reconfigurers, fault interval and subset of the --nemesis faults (stored in its test.json, so it replays)")
	// The flag package prints a wrong flag's error itself; the pointer to
	// the help follows it, and --help prints the help alone, on stdout.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			simUsage(fs)()
			return 0
		}
		fmt.Fprintln(stderr, "see: torture sim --help")
		return usageError(stdout, err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(stdout, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if opts.Backend != "sim" {
		return usageError(stdout, fmt.Sprintf("--backend %s: torture sim runs the sim backend only (use torture run for %s)", opts.Backend, opts.Backend))
	}
	if set["seed"] {
		return usageError(stdout, "--seed: torture sim takes --seeds (A..B, N, or a comma list)")
	}
	if !set["seeds"] {
		return usageError(stdout, "--seeds: required (A..B, N, or a comma list)")
	}
	seeds, err := simrun.ParseSeeds(*seedsFlag)
	if err != nil {
		return usageError(stdout, "--seeds: "+err.Error())
	}
	if *workers < 1 {
		return usageError(stdout, fmt.Sprintf("--workers %d: want at least 1", *workers))
	}
	if !set["value-size"] && (opts.Workload == "large" || opts.Workload == "file") {
		opts.ValueSize = 0
	}
	if !set["keys"] && opts.Workload == "large" {
		opts.Keys = 2
	}
	if err := opts.Validate(); err != nil {
		return usageError(stdout, strings.ReplaceAll(err.Error(), "\n", "; "))
	}

	fmt.Fprintf(stdout, "torture sim: %s, %d seed(s), %d worker(s), store %s\n", opts.Name, len(seeds), min(*workers, len(seeds)), opts.Store)
	worst := harness.ExitValid
	var shape func(harness.Options, int64) harness.Options
	if *swarm {
		shape = sim.Swarm
	}
	sum, err := simrun.Run(ctx, simrun.Config{
		Shape: shape,
		// No Log: a thousand runs' warnings would bury the lines that
		// matter; each kept run has them in its torture.log.
		Options: opts, Seeds: seeds, Workers: *workers, KeepAll: *keepAll, Bubble: simBubble,
		Args: append([]string{"torture", "sim"}, args...),
		OnResult: func(r simrun.SeedResult) {
			worst = worse(worst, r.Exit)
			if r.Failed() {
				fmt.Fprintln(stdout, seedLine(r))
			}
		},
	})
	if sum == nil {
		fmt.Fprintf(stderr, "torture sim: %v\n", err)
		return harness.ExitHarness
	}
	if err != nil {
		fmt.Fprintf(stderr, "torture sim: %v\n", err)
		worst = worse(worst, harness.ExitHarness)
	}
	if sum.Interrupted {
		fmt.Fprintf(stdout, "interrupted: %d of %d seeds ran\n", sum.Ran, sum.Seeds)
		worst = worse(worst, harness.ExitUnknown)
	}
	fmt.Fprintln(stdout, sum.Line())
	return worst
}

// seedLine is the line of a seed that was not valid: enough to replay it.
func seedLine(r simrun.SeedResult) string {
	reason := strings.Join(strings.Fields(r.Reason), " ")
	if len(reason) > 160 {
		reason = reason[:157] + "..."
	}
	if r.RunDir == "" {
		return fmt.Sprintf("seed %d %s reason=%q (no run directory)", r.Seed, strings.ToUpper(r.Verdict), reason)
	}
	return fmt.Sprintf("seed %d %s reason=%q run=%s rerun: torture rerun %s", r.Seed, strings.ToUpper(r.Verdict), reason, r.RunDir, r.RunDir)
}

package main

// torture shrink: delta-debug a failing run down to a small one (the
// search is package shrink's).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/shrink"
)

func cmdShrink(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("torture shrink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	maxRuns := fs.Int("max-runs", shrink.DefaultMaxRuns, "at most this many runs in all (each seed and try counts)")
	tries := fs.Int("tries", 0, fmt.Sprintf("runs per candidate on a backend that is not deterministic, failing if any is invalid (default %d; sim: 1)", shrink.DefaultTries))
	seeds := fs.Int("seeds", 0, fmt.Sprintf("seeds tried per candidate (default %d on sim, 1 elsewhere)", shrink.DefaultSeeds))
	store := fs.String("store", "", "run store for the candidates and the result (default: the original's)")
	serverBin := fs.String("server-bin", "", "ares-server binary for local and docker runs (default: next to torture, then ./bin)")
	usage := func() {
		fmt.Fprintf(fs.Output(), "usage: torture shrink [--max-runs N] [--tries K] RUN_DIR\n\n"+
			"Delta-debugs an invalid run: fewer faults, clients, keys and operations, shorter\n"+
			"delays, each kept while the run stays invalid, every candidate tried with a few\n"+
			"seeds. The smallest failing run is written as a new run directory (test NAME-shrunk,\n"+
			"with SHRINK.md) that torture rerun reproduces; every other candidate is deleted.\n"+
			"Sim runs are exact. Local and docker runs are not: a candidate fails if any of\n"+
			"--tries runs is invalid, and a rerun of the result may pass.\n"+
			"Exit codes: 0 a smaller failing run was written (and, off the sim, failed again\n"+
			"on a rerun), 2 interrupted, or a real-backend result that never failed again,\n"+
			"3 the run is not invalid, does not fail again, or the harness failed.\n\n")
		fs.PrintDefaults()
	}
	fs.Usage = func() {} // --help prints on stdout, below
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			usage()
			return 0
		}
		return usageError(stdout, err.Error())
	}
	if fs.NArg() != 1 || *maxRuns < 1 || *tries < 0 || *seeds < 0 {
		usage()
		return usageError(stdout, "shrink needs one RUN_DIR, --max-runs >= 1, --tries >= 0 and --seeds >= 0")
	}
	dir, err := filepath.EvalSymlinks(fs.Arg(0))
	if err != nil {
		return usageError(stdout, err.Error())
	}
	ti, err := harness.ReadTestInfo(dir)
	if err != nil {
		return usageError(stdout, err.Error())
	}
	bin, err := serverBinFor(harness.Options{Backend: ti.Options.Backend, ServerBin: *serverBin})
	if err != nil {
		return usageError(stdout, err.Error())
	}
	res, err := shrink.Shrink(ctx, dir, shrink.Options{Store: *store, MaxRuns: *maxRuns, Tries: *tries, Seeds: *seeds,
		ServerBin: bin, Log: stdout, Bubble: simBubble})
	if err != nil {
		fmt.Fprintf(stderr, "torture shrink: %v\n", err)
		o := &harness.Outcome{Code: harness.ExitHarness, RunDir: dir, Verdict: "error", Reason: err.Error()}
		fmt.Fprintln(stdout, o.Line())
		return harness.ExitHarness
	}
	fmt.Fprintf(stdout, "shrunk %s to %d operations in %d runs\n", dir, res.Ops, res.Runs)
	if !res.Exact {
		fmt.Fprintf(stdout, "warning: backend %s is not deterministic: the result failed again in %d of %d reruns (torture rerun --count N)\n",
			res.Options.Backend, res.Reproduced, res.Tries)
	}
	fmt.Fprintf(stdout, "summary: %s\n", filepath.Join(res.RunDir, shrink.SummaryFile))
	fmt.Fprintf(stdout, "rerun:   torture rerun %s\n", res.RunDir)
	fmt.Fprintf(stdout, "SHRUNK run=%s ops=%d runs=%d\n", res.RunDir, res.Ops, res.Runs)
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(stdout, "interrupted: the run above is the smallest found so far")
		return harness.ExitUnknown
	case !res.Exact && res.Reproduced == 0:
		fmt.Fprintln(stdout, "the result never failed again: it may not show the violation")
		return harness.ExitUnknown
	}
	return 0
}

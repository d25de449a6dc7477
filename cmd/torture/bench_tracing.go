package main

// torture bench tracing: what tracing costs. Runs of the local backend with
// the same options, tracing on and off in turn, closed-loop clients; the
// operations per second of each, and on/off.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/harness"
)

// Modes of `bench tracing`.
const (
	modeTraceOn  = "on"
	modeTraceOff = "off"
)

// tracingRun is one run of `bench tracing`.
type tracingRun struct {
	Round int    `json:"round"`
	Mode  string `json:"mode"` // on or off
	// Ops are the completed operations; OpsPerSec is over the run's
	// --time, the clients' running time.
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	Verdict   string  `json:"verdict"`
	// WallSeconds is the whole run: start, clients, check and, with
	// tracing, reading the spans back into the summary.
	WallSeconds float64 `json:"wall_s"`
	// SpanBytes is what the run's span files took (on only).
	SpanBytes int64 `json:"span_bytes,omitempty"`
	// RunDir is kept only when the run was not valid.
	RunDir string `json:"run_dir,omitempty"`
}

// tracingSummary is the bench's result: ops/s with tracing on and off
// (median, min, max), Ratio the ratio of their medians, RoundRatios each
// round's on/off (the two runs of a round ran back to back) and their
// spread.
type tracingSummary struct {
	OnRuns      int       `json:"on_runs"`
	OffRuns     int       `json:"off_runs"`
	On          *spread   `json:"on_ops_per_sec,omitempty"`
	Off         *spread   `json:"off_ops_per_sec,omitempty"`
	Ratio       *float64  `json:"ratio,omitempty"`
	RoundRatios []float64 `json:"round_ratios,omitempty"`
	RatioSpread *spread   `json:"round_ratio_spread,omitempty"`
	// Cost is 1 - Ratio: the share of the throughput tracing takes.
	Cost *float64 `json:"cost,omitempty"`
}

func summarizeTracing(runs []tracingRun) tracingSummary {
	var s tracingSummary
	var on, off []float64
	byRound := map[int]map[string]float64{}
	var rounds []int
	for _, r := range runs {
		if byRound[r.Round] == nil {
			byRound[r.Round] = map[string]float64{}
			rounds = append(rounds, r.Round)
		}
		byRound[r.Round][r.Mode] = r.OpsPerSec
		if r.Mode == modeTraceOn {
			on = append(on, r.OpsPerSec)
		} else {
			off = append(off, r.OpsPerSec)
		}
	}
	s.OnRuns, s.OffRuns = len(on), len(off)
	s.On, s.Off = spreadOf(on), spreadOf(off)
	if s.On != nil && s.Off != nil && s.Off.Median > 0 {
		q := s.On.Median / s.Off.Median
		c := 1 - q
		s.Ratio, s.Cost = &q, &c
	}
	slices.Sort(rounds)
	for _, n := range rounds {
		a, okA := byRound[n][modeTraceOn]
		b, okB := byRound[n][modeTraceOff]
		if okA && okB && b > 0 {
			s.RoundRatios = append(s.RoundRatios, a/b)
		}
	}
	s.RatioSpread = spreadOf(s.RoundRatios)
	return s
}

// tracingFile is STORE/bench/tracing-<start>.json, and what --json prints.
type tracingFile struct {
	Suite       string            `json:"suite"`
	Start       time.Time         `json:"start"`
	Args        []string          `json:"args"`
	Rounds      int               `json:"rounds"`
	Options     harness.Options   `json:"options"` // of every run; Trace is each run's mode
	Versions    map[string]string `json:"versions"`
	Runs        []tracingRun      `json:"runs"`
	Summary     tracingSummary    `json:"summary"`
	Interrupted bool              `json:"interrupted,omitempty"`
	Error       string            `json:"error,omitempty"`
	File        string            `json:"file,omitempty"`
}

func cmdBenchTracing(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture bench tracing", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := harness.DefaultOptions()
	rf := roundFlags{runTime: harness.Duration(15 * time.Second)}
	rf.register(fs, "--time of each run", "rounds; each runs tracing on and off, in turn first",
		def.Clients, def.Servers, def.Keys, "run store directory (runs go there while they last, figures to bench/)")
	nemesis := fs.String("nemesis", "none", "faults of every run (none, or light ones: they make the figures noisier)")
	asJSON := fs.Bool("json", false, "print the figures as JSON on stdout (the progress lines go to stderr)")
	if code, done := parseBenchFlags(fs, args, stdout); done {
		return code
	}
	bin, ucode, ok := rf.check(stdout)
	if !ok {
		return ucode
	}
	o := def
	o.Backend, o.Store, o.ServerBin, o.Name, o.Seed = "local", rf.store, bin, "bench-tracing", 1
	o.Clients, o.Servers, o.Keys, o.Nemesis, o.Time = rf.clients, rf.servers, rf.keys, *nemesis, rf.runTime
	if o.Pool < o.Servers {
		o.Pool = o.Servers
	}
	if o.Nemesis != "none" {
		o.NemesisInterval = harness.Duration(time.Second)
	}
	probe := o
	if err := probe.Validate(); err != nil {
		return usageError(stdout, err.Error())
	}

	out := stdout
	if *asJSON {
		out = stderr
	}
	start := time.Now()
	file := tracingFile{Suite: "tracing", Start: start, Args: append([]string{"torture", "bench", "tracing"}, args...),
		Rounds: rf.rounds, Options: o, Versions: harness.Versions(ctx, bin)}
	fmt.Fprintf(out, "bench tracing: %d round(s) of tracing on and off, local backend, %s\n", rf.rounds, bench.ShapeLine(o))
	code := 0
rounds:
	for round := 1; round <= rf.rounds; round++ {
		// Each round swaps which mode goes first, so that a drift of
		// the machine over the bench weighs on both alike.
		modes := []string{modeTraceOn, modeTraceOff}
		if round%2 == 0 {
			modes = []string{modeTraceOff, modeTraceOn}
		}
		for _, mode := range modes {
			if ctx.Err() != nil {
				break rounds
			}
			label := fmt.Sprintf("round %d tracing %-3s", round, mode)
			ro := o
			ro.Trace = mode == modeTraceOn
			ro.Seed = int64(round)
			stop := liveLine(out, func(d time.Duration) string {
				return fmt.Sprintf("%s running %s (run %s)", label, d.Truncate(time.Second), rf.runTime)
			})
			r := benchTracingRun(ctx, ro, file.Args, log)
			stop()
			r.Round, r.Mode = round, mode
			if ctx.Err() != nil {
				break rounds // what was cut short is no figure
			}
			if r.Verdict == "error" {
				fmt.Fprintf(out, "%s failed: the harness failed, see %s\n", label, orDash(r.RunDir))
				file.Error = fmt.Sprintf("round %d tracing %s: the harness failed (%s)", round, mode, orDash(r.RunDir))
				code = harness.ExitHarness
				break rounds
			}
			file.Runs = append(file.Runs, r)
			extra := ""
			if r.SpanBytes > 0 {
				extra = fmt.Sprintf("  spans %.1f MB", float64(r.SpanBytes)/1e6)
			}
			if r.Verdict != "valid" {
				extra += "  " + strings.ToUpper(r.Verdict) + " " + r.RunDir
			}
			fmt.Fprintf(out, "%s %8d ops  %7.0f ops/s  (wall %.1fs)%s\n", label, r.Ops, r.OpsPerSec, r.WallSeconds, extra)
		}
	}
	file.Interrupted = ctx.Err() != nil
	file.Summary = summarizeTracing(file.Runs)
	fmt.Fprintln(out)
	if file.Interrupted {
		fmt.Fprintf(out, "interrupted; the figures cover the %d finished run(s)\n\n", len(file.Runs))
	}
	printTracingTable(out, file.Summary)
	path, code := saveBench(rf.store, "tracing", start, &file, file.Interrupted, code, stderr)
	file.File = path
	ratio := "-"
	if r := file.Summary.Ratio; r != nil {
		ratio = fmt.Sprintf("%.3f", *r)
	}
	fmt.Fprintf(out, "\nBENCH tracing on/off=%s runs=%d file=%s\n", ratio, len(file.Runs), orDash(path))
	if *asJSON {
		return printBenchJSON(stdout, stderr, "tracing", &file, code)
	}
	return code
}

// benchTracingRun is one run; a valid run's directory is removed (only its
// figures matter, and its span files are large).
func benchTracingRun(ctx context.Context, o harness.Options, args []string, log *slog.Logger) tracingRun {
	var buf strings.Builder
	t0 := time.Now()
	res := harness.Run(ctx, o, harness.Env{Out: &buf, Args: args})
	r := tracingRun{Ops: res.Counts.Completed(), Verdict: res.Verdict, RunDir: res.RunDir, WallSeconds: time.Since(t0).Seconds()}
	r.OpsPerSec = float64(r.Ops) / o.Time.D().Seconds()
	if res.RunDir == "" {
		return r
	}
	if o.Trace {
		files, _ := filepath.Glob(filepath.Join(res.RunDir, harness.TracesDir, "*.json"))
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				r.SpanBytes += st.Size()
			}
		}
	}
	_ = os.WriteFile(filepath.Join(res.RunDir, benchOutFile), []byte(buf.String()), 0o644)
	if res.Verdict == "valid" {
		if err := os.RemoveAll(res.RunDir); err != nil {
			log.Warn("remove bench run", "dir", res.RunDir, "err", err)
		}
		r.RunDir = ""
	}
	return r
}

func printTracingTable(w io.Writer, s tracingSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, n int, sp *spread, format string) {
		if sp == nil {
			fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t\n", name, n)
			return
		}
		fmt.Fprintf(tw, "%s\t%d\t"+format+"\t"+format+"\t"+format+"\t\n", name, n, sp.Median, sp.Min, sp.Max)
	}
	fmt.Fprintf(tw, "\truns\tmedian\tmin\tmax\t\n")
	row("ops/s tracing on", s.OnRuns, s.On, "%.0f")
	row("ops/s tracing off", s.OffRuns, s.Off, "%.0f")
	row("on/off per round", len(s.RoundRatios), s.RatioSpread, "%.3f")
	tw.Flush()
	if s.Ratio != nil {
		fmt.Fprintf(w, "on/off = %.3f (ratio of the medians): with tracing the clients ran at %.1f%% of the rate without (cost %.1f%%)\n",
			*s.Ratio, 100**s.Ratio, 100**s.Cost)
	}
}

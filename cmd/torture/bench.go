package main

// torture bench: the performance suite. Three suites, each printing a table
// and writing its figures to STORE/bench/<suite>-<start time>.json:
//
//	bugs      how long each --server-bug takes to be found (local or sim)
//	overhead  what the harness costs the clients (proxies and recording)
//	sim       how fast the simulation runs, beside the local backend

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/local"
	"github.com/ares-torture/torture/sim"
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
  overhead [--time 20s] [--rounds 3] [--clients 10] [--servers 5] [--keys 8] [--store runs] [--server-bin PATH]
      what the harness costs: closed-loop clients on a local cluster, (a) through
      the toxiproxy links with every operation recorded vs (b) direct and
      unrecorded, alternating a,b per round; ops/s per round, medians, a/b
  sim [--runs 1000] [--workers N] [--local-time 10s] [--store runs] [--server-bin PATH]
      how fast the simulation runs: N sim runs (1,000 operations, every fault,
      each checked), runs/s and runs/s per core; beside them one local run of
      --local-time with every fault, its operations per second (skipped without
      an ares-server binary)

Each prints a table and write STORE/bench/<suite>-<start time>.json.
Ctrl-C stops in order and still prints and writes what ran.
exit codes: 0 done, 2 interrupted, 3 a run or measurement failed in the harness, or a bad command line
`)
}

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	if len(args) == 0 {
		benchUsage(stderr)
		return usageError(stdout, "bench needs a suite: bugs, overhead or sim")
	}
	switch args[0] {
	case "bugs":
		return cmdBenchBugs(ctx, args[1:], stdout, stderr)
	case "overhead":
		return cmdBenchOverhead(ctx, args[1:], stdout, stderr, log)
	case "sim":
		return cmdBenchSim(ctx, args[1:], stdout, stderr, log)
	case "help", "-h", "-help", "--help":
		benchUsage(stdout)
		return 0
	default:
		benchUsage(stderr)
		return usageError(stdout, fmt.Sprintf("unknown bench suite %q (want bugs, overhead or sim)", args[0]))
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

// ---- bugs ------------------------------------------------------------------

// bugRun is one run of `bench bugs`, as the JSON file records it.
type bugRun struct {
	Bug  string `json:"bug"`
	Seed int64  `json:"seed"`
	// Exit is the run's exit code (0 valid, 1 invalid, 2 unknown, 3 the
	// harness failed); Outcome is what it means here (see classify).
	Exit        int     `json:"exit"`
	Outcome     string  `json:"outcome"`
	Verdict     string  `json:"verdict"`
	Reason      string  `json:"reason,omitempty"`
	WallSeconds float64 `json:"wall_s"`
	// FirstViolationNS is history time (ns since the run began) of the
	// first violation; absent when none was found or none had a time.
	FirstViolationNS *int64 `json:"first_violation_ns,omitempty"`
	// FirstViolationBy is the checker that named it.
	FirstViolationBy string `json:"first_violation_by,omitempty"`
	// FirstViolationUpperBound: the violation may have come earlier (the
	// checker's search for it ran out of time or memory).
	FirstViolationUpperBound bool    `json:"first_violation_upper_bound,omitempty"`
	RunTimeSeconds           float64 `json:"run_time_s"` // the run's --time
	RunDir                   string  `json:"run_dir,omitempty"`
	Interrupted              bool    `json:"interrupted,omitempty"`
}

// Outcomes of a run of `bench bugs`.
const (
	outFound       = "found"
	outNotFound    = "not found"
	outUnknown     = "unknown"
	outHarness     = "harness failure"
	outInterrupted = "interrupted"
)

// classify maps a run's exit code to its outcome. A violation is
// definitive even in an interrupted run; any other interrupted run says
// nothing about the bug, and a harness failure says nothing either: both
// are kept out of found k/N.
func classify(code int, interrupted bool) string {
	switch {
	case code == harness.ExitInvalid:
		return outFound
	case code == harness.ExitHarness:
		return outHarness
	case interrupted:
		return outInterrupted
	case code == harness.ExitValid:
		return outNotFound
	default:
		return outUnknown
	}
}

// firstViolation is the history time of the earliest violation a result
// names: the smallest completion (else invocation) time of the operations
// at which a key stopped being linearizable, else those that showed a tag
// naming two values, falling back to the durability anomalies' final reads when no linearizability anomaly has an
// operation (a lost write shows only at the final read). upper says the
// time is only an upper bound: the checker's search for some key's first
// failing operation ran out, so that key may have failed earlier.
func firstViolation(r *checker.Result) (ns int64, by string, upper, ok bool) {
	if r == nil {
		return 0, "", false, false
	}
	for _, name := range []string{checker.CheckLinearizability, checker.CheckTags, checker.CheckDurability} {
		for _, a := range r.Anomalies {
			if a.Checker != name || a.Op == nil {
				continue
			}
			upper = upper || a.OpUpperBound
			t := a.Op.Invoke
			if a.Op.Complete != nil {
				t = *a.Op.Complete
			}
			if !ok || t < ns {
				ns, by, ok = t, name, true
			}
		}
		if ok {
			return ns, by, upper, true
		}
	}
	return 0, "", false, false
}

// median of xs (the mean of the middle two for an even count); false for
// none.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// spread is min, median and max of a set of seconds.
type spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func spreadOf(xs []float64) *spread {
	m, ok := median(xs)
	if !ok {
		return nil
	}
	s := &spread{Min: xs[0], Median: m, Max: xs[0]}
	for _, x := range xs {
		s.Min, s.Max = min(s.Min, x), max(s.Max, x)
	}
	return s
}

// bugSummary is one bug's line of the table.
type bugSummary struct {
	Bug string `json:"bug"`
	// Runs are those with a verdict on the bug: found, not found or
	// unknown (the checker gave up: the bug was not shown).
	Runs            int `json:"runs"`
	Found           int `json:"found"`
	Unknown         int `json:"unknown"`
	HarnessFailures int `json:"harness_failures"`
	Interrupted     int `json:"interrupted"`
	// FirstViolationS spreads over the found runs whose violation has a
	// time; WallMedianS over the runs with a verdict. UpperBounds of those
	// times are only upper bounds (see bugRun.FirstViolationUpperBound).
	FirstViolationS *spread  `json:"first_violation_s,omitempty"`
	UpperBounds     int      `json:"first_violation_upper_bounds,omitempty"`
	WallMedianS     *float64 `json:"wall_median_s,omitempty"`
	// RunsToFirst is how many runs (seeds in order, every outcome
	// counted) it took to the first found, that one included;
	// WallToFindS their wall time in all. Absent when none was found.
	RunsToFirst *int     `json:"runs_to_first_found,omitempty"`
	WallToFindS *float64 `json:"wall_to_find_s,omitempty"`
}

func summarizeBugs(bugs []ares.Bug, runs []bugRun) []bugSummary {
	var out []bugSummary
	for _, b := range bugs {
		s := bugSummary{Bug: string(b)}
		var first, wall []float64
		seen := false
		tried, spent := 0, 0.0
		for _, r := range runs {
			if r.Bug != string(b) {
				continue
			}
			seen = true
			if s.RunsToFirst == nil {
				tried, spent = tried+1, spent+r.WallSeconds
				if r.Outcome == outFound {
					s.RunsToFirst, s.WallToFindS = &tried, &spent
				}
			}
			switch r.Outcome {
			case outHarness:
				s.HarnessFailures++
				continue
			case outInterrupted:
				s.Interrupted++
				continue
			case outFound:
				s.Found++
				if r.FirstViolationNS != nil {
					first = append(first, time.Duration(*r.FirstViolationNS).Seconds())
					if r.FirstViolationUpperBound {
						s.UpperBounds++
					}
				}
			case outUnknown:
				s.Unknown++
			}
			s.Runs++
			wall = append(wall, r.WallSeconds)
		}
		if !seen {
			continue // Ctrl-C came before this bug
		}
		s.FirstViolationS = spreadOf(first)
		if m, ok := median(wall); ok {
			s.WallMedianS = &m
		}
		out = append(out, s)
	}
	return out
}

// printBugTable writes the summary as an aligned table.
func printBugTable(w io.Writer, sums []bugSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "bug\tfound\tfirst violation min\tmedian\tmax\trun wall median\truns to first\twall to find\tnot counted")
	sec := func(p *float64) string {
		switch {
		case p == nil:
			return "-"
		case *p < 1:
			// Simulated histories are short: tenths of a second say little.
			return fmt.Sprintf("%.0fms", *p*1000)
		}
		return fmt.Sprintf("%.1fs", *p)
	}
	for _, s := range sums {
		var mn, md, mx *float64
		if f := s.FirstViolationS; f != nil {
			mn, md, mx = &f.Min, &f.Median, &f.Max
		}
		found := fmt.Sprintf("%d/%d", s.Found, s.Runs)
		if s.Unknown > 0 {
			found += fmt.Sprintf(" (%d unknown)", s.Unknown)
		}
		var not []string
		if s.HarnessFailures > 0 {
			not = append(not, fmt.Sprintf("%d harness failure(s)", s.HarnessFailures))
		}
		if s.Interrupted > 0 {
			not = append(not, fmt.Sprintf("%d interrupted", s.Interrupted))
		}
		if s.UpperBounds > 0 {
			// Counted, but their times may be late: say so next to them.
			found += fmt.Sprintf(" (%d time(s) upper bounds)", s.UpperBounds)
		}
		if len(not) == 0 {
			not = []string{"-"}
		}
		toFirst := "-"
		if s.RunsToFirst != nil {
			toFirst = fmt.Sprint(*s.RunsToFirst)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Bug, found, sec(mn), sec(md), sec(mx), sec(s.WallMedianS),
			toFirst, sec(s.WallToFindS), strings.Join(not, ", "))
	}
	tw.Flush()
}

// bugsFile is STORE/bench/bugs-<start>.json.
type bugsFile struct {
	Suite   string    `json:"suite"`
	Start   time.Time `json:"start"`
	Args    []string  `json:"args"`
	Backend string    `json:"backend"`
	Seeds   int       `json:"seeds"`
	Bugs    []string  `json:"bugs"`
	// Skipped are the bugs of all that have no run shape on the backend.
	Skipped     []string          `json:"skipped,omitempty"`
	Time        string            `json:"time"` // --time, or "per shape"
	Versions    map[string]string `json:"versions"`
	Interrupted bool              `json:"interrupted,omitempty"`
	Summary     []bugSummary      `json:"summary"`
	Runs        []bugRun          `json:"runs"`
}

func cmdBenchBugs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("torture bench bugs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	backend := fs.String("backend", "local", "local, or sim (the deterministic simulation: sim defaults and sim shapes)")
	seeds := fs.Int("seeds", 10, "runs per bug, with seeds 1..N")
	bugName := fs.String("bug", "all", "the bug to time (see torture run --help), or all")
	var runTime harness.Duration
	fs.Var(&runTime, "time", "how long clients run in each run (default: the bug's shape: 8s; no-write-back 24s, volatile 40s, retry-same-tag 90s)")
	store := fs.String("store", "runs", "run store directory (runs, and bench/ for the figures)")
	serverBin := fs.String("server-bin", "", "ares-server binary (default: next to torture, then ./bin)")
	if code, done := parseBenchFlags(fs, args, stdout); done {
		return code
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *seeds < 1 {
		return usageError(stdout, fmt.Sprintf("--seeds %d: want at least 1", *seeds))
	}
	if set["time"] && runTime <= 0 {
		return usageError(stdout, fmt.Sprintf("--time %v: want > 0", runTime))
	}
	if *store == "" {
		return usageError(stdout, "--store: empty")
	}
	var bugs []ares.Bug
	switch *bugName {
	case "all":
		for _, b := range ares.Bugs {
			bugs = append(bugs, b.Name)
		}
	case "":
		return usageError(stdout, "--bug: empty (want a bug name or all)")
	default:
		b, err := ares.ParseBug(*bugName)
		if err != nil {
			return usageError(stdout, "--bug: "+err.Error())
		}
		bugs = []ares.Bug{b}
	}
	isSim := *backend == "sim"
	if !isSim && *backend != "local" {
		return usageError(stdout, fmt.Sprintf("--backend %q: want local or sim", *backend))
	}
	var bin string
	var skipped []string
	if !isSim {
		// A bug without a local shape (no-sync needs a power loss, which
		// only the sim can cause) is left out of all, with a note.
		var with []ares.Bug
		for _, b := range bugs {
			if _, ok := harness.BugShape(b); ok {
				with = append(with, b)
			} else if *bugName == "all" {
				skipped = append(skipped, string(b))
			} else {
				return usageError(stdout, fmt.Sprintf("--bug %s: no run shape (harness/bugshapes.go)", b))
			}
		}
		bugs = with
		var err error
		if bin, err = findServerBin(*serverBin); err != nil {
			return usageError(stdout, err.Error())
		}
	}

	start := time.Now()
	file := bugsFile{Suite: "bugs", Start: start, Args: append([]string{"torture", "bench", "bugs"}, args...),
		Backend: *backend, Seeds: *seeds, Time: "per shape", Versions: harness.Versions(ctx, bin), Skipped: skipped}
	if set["time"] {
		file.Time = runTime.String()
	}
	for _, b := range bugs {
		file.Bugs = append(file.Bugs, string(b))
	}
	total, n := len(bugs)**seeds, 0
	fmt.Fprintf(stdout, "bench bugs: %d bug(s) x %d seed(s) on the %s backend; each run's own output goes to RUN_DIR/%s\n",
		len(bugs), *seeds, *backend, benchOutFile)
	if len(skipped) > 0 {
		fmt.Fprintf(stdout, "left out (no %s run shape in harness/bugshapes.go): %s\n", *backend, strings.Join(skipped, ", "))
	}
	code := 0
bugs:
	for _, b := range bugs {
		var base harness.Options
		if isSim {
			base = sim.BugOptions(b)
		} else {
			shape, _ := harness.BugShape(b)
			base = harness.DefaultOptions()
			base.ServerBin, base.ServerBug = bin, string(b)
			shape(&base)
		}
		base.Store = *store
		if set["time"] {
			base.Time = runTime
		}
		if err := base.Validate(); err != nil {
			fmt.Fprintf(stderr, "torture bench bugs: %s: %v\n", b, err)
			code = harness.ExitHarness
			break
		}
		fmt.Fprintf(stdout, "\n%s (%s): %s\n", b, bugDescription(b), shapeLine(base))
		for seed := int64(1); seed <= int64(*seeds); seed++ {
			if ctx.Err() != nil {
				break bugs
			}
			n++
			o := base
			o.Seed = seed
			label := fmt.Sprintf("[%*d/%d] %-14s seed %-3d", len(fmt.Sprint(total)), n, total, b, seed)
			r := benchBugRun(ctx, o, label, stdout, file.Args)
			file.Runs = append(file.Runs, r)
			fmt.Fprintln(stdout, bugRunLine(label, r))
			if r.Outcome == outHarness {
				code = harness.ExitHarness
			}
		}
	}
	file.Interrupted = ctx.Err() != nil
	file.Summary = summarizeBugs(bugs, file.Runs)

	fmt.Fprintln(stdout)
	if file.Interrupted {
		fmt.Fprintf(stdout, "interrupted after %d of %d runs; the figures cover those\n\n", len(file.Runs), total)
	}
	printBugTable(stdout, file.Summary)
	path, code := saveBench(*store, "bugs", start, &file, file.Interrupted, code, stderr)
	found, counted := 0, 0
	for _, s := range file.Summary {
		found, counted = found+s.Found, counted+s.Runs
	}
	fmt.Fprintf(stdout, "\nBENCH bugs found=%d/%d runs=%d file=%s\n", found, counted, len(file.Runs), orDash(path))
	return code
}

// benchBugRun runs one test and reads its figures back. The run's own
// output (progress, report path, verdict) goes to RUN_DIR/torture.out; on
// a terminal a live line shows the elapsed time meanwhile.
func benchBugRun(ctx context.Context, o harness.Options, label string, stdout io.Writer, args []string) bugRun {
	var buf strings.Builder
	stop := liveLine(stdout, func(d time.Duration) string {
		return fmt.Sprintf("%s running %s", label, d.Truncate(time.Second))
	})
	t0 := time.Now()
	env := harness.Env{Out: &buf, Args: args}
	if o.Backend == "sim" {
		env.Bubble = simBubble
	}
	out := harness.Run(ctx, o, env)
	wall := time.Since(t0)
	stop()
	r := bugRun{Bug: o.ServerBug, Seed: o.Seed, Exit: out.Code, Verdict: out.Verdict, Reason: out.Reason,
		WallSeconds: wall.Seconds(), RunTimeSeconds: o.Time.D().Seconds(), RunDir: out.RunDir,
		Interrupted: out.Interrupted, Outcome: classify(out.Code, out.Interrupted)}
	if out.RunDir != "" {
		// The output is for a person looking into the run later; losing
		// it changes no figure.
		_ = os.WriteFile(filepath.Join(out.RunDir, benchOutFile), []byte(buf.String()), 0o644)
	}
	if r.Outcome == outFound {
		res, err := checker.ReadResult(out.RunDir)
		if err != nil {
			r.Reason = fmt.Sprintf("%s (first violation unknown: %v)", r.Reason, err)
		} else if ns, by, upper, ok := firstViolation(res); ok {
			r.FirstViolationNS, r.FirstViolationBy, r.FirstViolationUpperBound = &ns, by, upper
		}
	}
	return r
}

// bugRunLine is the progress line of a finished run.
func bugRunLine(label string, r bugRun) string {
	what := r.Outcome
	switch r.Outcome {
	case outFound:
		if r.FirstViolationNS != nil {
			at := ""
			if r.FirstViolationUpperBound {
				at = "<="
			}
			what = fmt.Sprintf("found at %s%.1fs (%s)", at, time.Duration(*r.FirstViolationNS).Seconds(), r.FirstViolationBy)
		} else {
			what = "found (no time)"
		}
	case outHarness, outUnknown:
		if r.Reason != "" {
			// One line, cut on a character boundary.
			reason := []rune(strings.Join(strings.Fields(r.Reason), " "))
			if len(reason) > 80 {
				reason = append(reason[:77], []rune("...")...)
			}
			what += ": " + string(reason)
		}
	}
	return fmt.Sprintf("%s %-32s wall %5.1fs  %s", label, what, r.WallSeconds, orDash(r.RunDir))
}

func bugDescription(b ares.Bug) string {
	for _, e := range ares.Bugs {
		if e.Name == b {
			where := "client"
			if e.Server {
				where = "server"
			}
			return fmt.Sprintf("%s bug: %s", where, e.Description)
		}
	}
	return "unknown bug"
}

// shapeLine names the options a shape sets, so the table can be read
// without the source.
func shapeLine(o harness.Options) string {
	s := fmt.Sprintf("servers %d, clients %d, keys %d, read-ratio %g, nemesis %s every %s, time %s",
		o.Servers, o.Clients, o.Keys, o.ReadRatio, o.Nemesis, o.NemesisInterval, o.Time)
	if o.Rate > 0 {
		s += fmt.Sprintf(", rate %g/s", o.Rate)
	}
	if o.Ops > 0 {
		s += fmt.Sprintf(", ops %d", o.Ops)
	}
	if o.Backend == "sim" {
		s += " (simulated time)"
	}
	return s
}

// ---- overhead --------------------------------------------------------------

// Modes of `bench overhead`.
const (
	modeHarness = "proxied+recorded"
	modeDirect  = "direct+unrecorded"
)

// measurement is one mode of one round.
type measurement struct {
	Round     int     `json:"round"`
	Mode      string  `json:"mode"`
	Ops       int64   `json:"ops"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
}

// overheadRound is one round of the table; a side is nil when Ctrl-C or a
// failure came before it.
type overheadRound struct {
	Round int      `json:"round"`
	A     *float64 `json:"a_ops_per_sec,omitempty"`
	B     *float64 `json:"b_ops_per_sec,omitempty"`
	Ratio *float64 `json:"ratio,omitempty"`
}

// overheadSummary: medians over every measurement of each mode, and
// their ratio (a's median over b's).
type overheadSummary struct {
	Rounds  []overheadRound `json:"rounds"`
	MedianA *float64        `json:"median_a_ops_per_sec,omitempty"`
	MedianB *float64        `json:"median_b_ops_per_sec,omitempty"`
	Ratio   *float64        `json:"ratio,omitempty"`
}

func summarizeOverhead(ms []measurement) overheadSummary {
	var s overheadSummary
	byRound := map[int]*overheadRound{}
	var as, bs []float64
	for _, m := range ms {
		r := byRound[m.Round]
		if r == nil {
			r = &overheadRound{Round: m.Round}
			byRound[m.Round] = r
		}
		v := m.OpsPerSec
		switch m.Mode {
		case modeHarness:
			r.A = &v
			as = append(as, v)
		case modeDirect:
			r.B = &v
			bs = append(bs, v)
		}
	}
	for _, r := range byRound {
		if r.A != nil && r.B != nil && *r.B > 0 {
			q := *r.A / *r.B
			r.Ratio = &q
		}
		s.Rounds = append(s.Rounds, *r)
	}
	sort.Slice(s.Rounds, func(i, j int) bool { return s.Rounds[i].Round < s.Rounds[j].Round })
	if m, ok := median(as); ok {
		s.MedianA = &m
	}
	if m, ok := median(bs); ok {
		s.MedianB = &m
	}
	if s.MedianA != nil && s.MedianB != nil && *s.MedianB > 0 {
		q := *s.MedianA / *s.MedianB
		s.Ratio = &q
	}
	return s
}

func printOverheadTable(w io.Writer, s overheadSummary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	f := func(p *float64, format string) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf(format, *p)
	}
	fmt.Fprintf(tw, "round\ta: %s ops/s\tb: %s ops/s\ta/b\t\n", modeHarness, modeDirect)
	for _, r := range s.Rounds {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t\n", r.Round, f(r.A, "%.0f"), f(r.B, "%.0f"), f(r.Ratio, "%.2f"))
	}
	fmt.Fprintf(tw, "median\t%s\t%s\t%s\t\n", f(s.MedianA, "%.0f"), f(s.MedianB, "%.0f"), f(s.Ratio, "%.2f"))
	tw.Flush()
	if s.Ratio != nil {
		fmt.Fprintf(w, "a/b = %.2f (ratio of the medians): the proxied and recorded clients ran at %.0f%% of the direct ones' rate\n",
			*s.Ratio, 100**s.Ratio)
	}
}

// overheadFile is STORE/bench/overhead-<start>.json.
type overheadFile struct {
	Suite        string            `json:"suite"`
	Start        time.Time         `json:"start"`
	Args         []string          `json:"args"`
	Time         string            `json:"time"`
	Rounds       int               `json:"rounds"`
	Clients      int               `json:"clients"`
	Servers      int               `json:"servers"`
	Keys         int               `json:"keys"`
	ReadRatio    float64           `json:"read_ratio"`
	ValueSize    int               `json:"value_size"`
	Versions     map[string]string `json:"versions"`
	Interrupted  bool              `json:"interrupted,omitempty"`
	Error        string            `json:"error,omitempty"`
	Measurements []measurement     `json:"measurements"`
	Summary      overheadSummary   `json:"summary"`
}

func cmdBenchOverhead(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture bench overhead", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runTime := harness.Duration(20 * time.Second)
	fs.Var(&runTime, "time", "how long each measurement runs")
	rounds := fs.Int("rounds", 3, "rounds of (a) proxied+recorded then (b) direct+unrecorded")
	clients := fs.Int("clients", 10, "closed-loop clients")
	servers := fs.Int("servers", 5, "servers (one ABD configuration)")
	keys := fs.Int("keys", 8, "keys of the register workload")
	store := fs.String("store", "runs", "run store directory (figures go to bench/ in it)")
	serverBin := fs.String("server-bin", "", "ares-server binary (default: next to torture, then ./bin)")
	if code, done := parseBenchFlags(fs, args, stdout); done {
		return code
	}
	switch {
	case runTime <= 0:
		return usageError(stdout, fmt.Sprintf("--time %v: want > 0", runTime))
	case *rounds < 1:
		return usageError(stdout, fmt.Sprintf("--rounds %d: want at least 1", *rounds))
	case *clients < 1:
		return usageError(stdout, fmt.Sprintf("--clients %d: want at least 1", *clients))
	case *servers < 1:
		return usageError(stdout, fmt.Sprintf("--servers %d: want at least 1", *servers))
	case *keys < 1:
		return usageError(stdout, fmt.Sprintf("--keys %d: want at least 1", *keys))
	case *store == "":
		return usageError(stdout, "--store: empty")
	}
	bin, err := findServerBin(*serverBin)
	if err != nil {
		return usageError(stdout, err.Error())
	}

	start := time.Now()
	file := overheadFile{Suite: "overhead", Start: start, Args: append([]string{"torture", "bench", "overhead"}, args...),
		Time: runTime.String(), Rounds: *rounds, Clients: *clients, Servers: *servers, Keys: *keys,
		ReadRatio: 0.5, ValueSize: 64, Versions: harness.Versions(ctx, bin)}
	// The clusters live inside the store, not in /tmp: the recorded mode
	// should write its history where a real run writes (often another
	// file system), and a temporary tree there is removed at the end.
	if err := os.MkdirAll(filepath.Join(*store, BenchDir), 0o755); err != nil {
		fmt.Fprintf(stderr, "torture bench overhead: %v\n", err)
		return harness.ExitHarness
	}
	work, err := os.MkdirTemp(filepath.Join(*store, BenchDir), ".overhead-")
	if err != nil {
		fmt.Fprintf(stderr, "torture bench overhead: %v\n", err)
		return harness.ExitHarness
	}
	defer os.RemoveAll(work)

	fmt.Fprintf(stdout, "bench overhead: %d round(s) of %s each: (a) %s, (b) %s; %d clients, %d servers (ABD), %d keys, half reads, 64 B values\n",
		*rounds, runTime, modeHarness, modeDirect, *clients, *servers, *keys)
	code := 0
rounds:
	for round := 1; round <= *rounds; round++ {
		for _, mode := range []string{modeHarness, modeDirect} {
			if ctx.Err() != nil {
				break rounds
			}
			label := fmt.Sprintf("round %d %s %-17s", round, map[string]string{modeHarness: "a", modeDirect: "b"}[mode], mode)
			dir, err := os.MkdirTemp(work, fmt.Sprintf("round%d-", round))
			if err != nil {
				file.Error = err.Error()
				code = harness.ExitHarness
				break rounds
			}
			stop := liveLine(stdout, func(d time.Duration) string {
				return fmt.Sprintf("%s running %s/%s", label, d.Truncate(time.Second), runTime)
			})
			res, err := local.Throughput(ctx, local.ThroughputOptions{Dir: dir, ServerBin: bin, Servers: *servers,
				Clients: *clients, Keys: *keys, ReadRatio: file.ReadRatio, ValueSize: file.ValueSize, Seed: int64(round),
				Duration: runTime.D(), Direct: mode == modeDirect, Record: mode == modeHarness, Logger: log})
			stop()
			_ = os.RemoveAll(dir) // a recorded history is tens of MB
			if ctx.Err() != nil {
				break rounds // what was cut short is no figure
			}
			if err != nil {
				fmt.Fprintf(stdout, "%s failed: %v\n", label, err)
				file.Error = err.Error()
				code = harness.ExitHarness
				break rounds
			}
			m := measurement{Round: round, Mode: mode, Ops: res.Ops, Seconds: res.Elapsed.Seconds(), OpsPerSec: res.OpsPerSec}
			file.Measurements = append(file.Measurements, m)
			fmt.Fprintf(stdout, "%s %8d ops in %5.1fs  %7.0f ops/s\n", label, m.Ops, m.Seconds, m.OpsPerSec)
		}
	}
	file.Interrupted = ctx.Err() != nil
	file.Summary = summarizeOverhead(file.Measurements)
	fmt.Fprintln(stdout)
	if file.Interrupted {
		fmt.Fprintf(stdout, "interrupted; the figures cover the %d finished measurement(s)\n\n", len(file.Measurements))
	}
	printOverheadTable(stdout, file.Summary)
	path, code := saveBench(*store, "overhead", start, &file, file.Interrupted, code, stderr)
	ratio := "-"
	if file.Summary.Ratio != nil {
		ratio = fmt.Sprintf("%.2f", *file.Summary.Ratio)
	}
	fmt.Fprintf(stdout, "\nBENCH overhead a/b=%s measurements=%d file=%s\n", ratio, len(file.Measurements), orDash(path))
	return code
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

package main

// torture bench bugs: how long each built-in bug takes to be found.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/sim"
)

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
	FirstViolationUpperBound bool `json:"first_violation_upper_bound,omitempty"`
	// ConflictOps is the size of the smallest minimal conflict the
	// run's report shows (operations that cannot be linearized together;
	// checker.Conflict); absent when no key has one (a bug seen only by
	// the durability or tags checks).
	ConflictOps    *int    `json:"conflict_ops,omitempty"`
	RunTimeSeconds float64 `json:"run_time_s"` // the run's --time
	RunDir         string  `json:"run_dir,omitempty"`
	Interrupted    bool    `json:"interrupted,omitempty"`
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
// at which a key stopped being linearizable or a file read returned a file
// no write produced, else those that showed a tag
// naming two values, falling back to the durability anomalies' final reads when no linearizability anomaly has an
// operation (a lost write shows only at the final read). upper says the
// time is only an upper bound: the checker's search for some key's first
// failing operation ran out, so that key may have failed earlier.
func firstViolation(r *checker.Result) (ns int64, by string, upper, ok bool) {
	if r == nil {
		return 0, "", false, false
	}
	for _, name := range []string{checker.CheckLinearizability, checker.CheckFiles, checker.CheckTags, checker.CheckDurability} {
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

// smallestConflict is the operation count of the smallest minimal
// conflict of r, nil if it has none.
func smallestConflict(r *checker.Result) *int {
	var n *int
	for _, a := range r.Anomalies {
		if c := a.Conflict; c != nil && len(c.Ops) > 0 && (n == nil || len(c.Ops) < *n) {
			k := len(c.Ops)
			n = &k
		}
	}
	return n
}

// median is bench.Median, false for none.
func median(xs []float64) (float64, bool) {
	return bench.Median(xs), len(xs) > 0
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
	RunsToFirst *int `json:"runs_to_first_found,omitempty"`
	// ConflictOps spreads the found runs' smallest minimal conflicts
	// (bugRun.ConflictOps); Conflicts counts the runs that had one.
	ConflictOps *spread  `json:"conflict_ops,omitempty"`
	Conflicts   int      `json:"conflicts,omitempty"`
	WallToFindS *float64 `json:"wall_to_find_s,omitempty"`
}

func summarizeBugs(bugs []ares.Bug, runs []bugRun) []bugSummary {
	var out []bugSummary
	for _, b := range bugs {
		s := bugSummary{Bug: string(b)}
		var first, wall, conflicts []float64
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
				if r.ConflictOps != nil {
					conflicts = append(conflicts, float64(*r.ConflictOps))
				}
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
		s.ConflictOps, s.Conflicts = spreadOf(conflicts), len(conflicts)
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
	fmt.Fprintln(tw, "bug\tfound\tfirst violation min\tmedian\tmax\trun wall median\truns to first\twall to find\tconflict ops min/median/max\tnot counted")
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
		conflict := "-"
		if c := s.ConflictOps; c != nil {
			conflict = fmt.Sprintf("%g/%g/%g (%d of %d)", c.Min, c.Median, c.Max, s.Conflicts, s.Found)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Bug, found, sec(mn), sec(md), sec(mx), sec(s.WallMedianS),
			toFirst, sec(s.WallToFindS), conflict, strings.Join(not, ", "))
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
		fmt.Fprintf(stdout, "\n%s (%s): %s\n", b, bugDescription(b), bench.ShapeLine(base))
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
		} else {
			if ns, by, upper, ok := firstViolation(res); ok {
				r.FirstViolationNS, r.FirstViolationBy, r.FirstViolationUpperBound = &ns, by, upper
			}
			r.ConflictOps = smallestConflict(res)
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

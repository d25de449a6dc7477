// Package shrink delta-debugs a failing run: it reruns the run's test with
// fewer faults, clients, keys and operations and with shorter delays, keeps
// each reduction under which the run is still invalid, and writes the
// smallest failing run as a new run directory of the store, one that
// `torture rerun` reproduces.
//
// Changing any option of a sim run changes its whole simulated schedule:
// the same seed with one client fewer is another test, not the old one with
// a client taken out, and a violation that needed a rare interleaving is
// usually gone. So every candidate set of options is tried with a few
// seeds (the seed that made the current smallest run fail, then the
// original seed and the seeds after it), and the candidate is kept when any
// of them is invalid. Nothing is lost by this: each run's seed is stored in
// its test.json, so the run found is as exact and reproducible as any
// other. Without the seed search most bugs stop shrinking after the first
// reduction or two.
//
// One reduction comes out of order, after every kept run: trim, which cuts
// the run after its first violation (the same options and seed, the
// operation bound lowered to what each client had invoked by then). A sim
// run's schedule up to a moment does not depend on the operations after
// it, so this keeps the violation more often than not, costs one run, and
// takes a run of 1,000 operations to a few dozen at once; every later
// candidate is then cheap to run. The faults and clients are still reduced
// first among the option changes, as they change the schedule the most.
//
// Runs of a backend that is not deterministic (local, docker) can be
// shrunk too, but not exactly: a candidate counts as failing when any of
// Tries runs of it is invalid, and the result is only likely, not certain,
// to fail again on a rerun: Shrink reruns the result Tries times after
// the search and says how often it failed, in its log and in SHRINK.md.
// Their operation timeout is left alone (a real operation's latency is not
// the seed's, so a shorter timeout makes operations indeterminate by
// chance and the result unknown on a rerun). Shrink does not refuse them because a violation that shows in one run in three
// is still worth cutting down to a handful of operations; it is the caller
// who pays the hours such runs take.
package shrink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/nemesis"
)

// SummaryFile is the file Shrink writes into the smallest run it found:
// the original run, the reductions and the command that reruns it.
const SummaryFile = "SHRINK.md"

// nameSuffix is appended to the test name of the original run: candidates
// and the result live in a test folder of their own, beside the original.
const nameSuffix = "-shrunk"

// Options configure Shrink.
type Options struct {
	// Store is where candidate runs and the result go; default the store
	// the original run lives in.
	Store string
	// MaxRuns bounds the runs Shrink makes in all (every seed and every
	// try counts); default DefaultMaxRuns.
	MaxRuns int
	// Tries is how many times a candidate is run on a backend that is not
	// deterministic; it fails if any try is invalid. Default 3 there; a
	// sim candidate is always run once per seed.
	Tries int
	// Seeds is how many seeds each candidate is tried with; default
	// DefaultSeeds for a deterministic backend, 1 otherwise (where the
	// tries already vary the schedule).
	Seeds int
	// ServerBin is the ares-server binary for backends that start one
	// (the caller finds it, as torture rerun does).
	ServerBin string
	// Log receives one line per candidate and per accepted reduction.
	Log io.Writer
	// Bubble is passed to harness.Env.Bubble: a test gives the sim
	// backend one under its own *testing.T (sim.TestBubble).
	Bubble func(func())
}

// Defaults of Options.
const (
	DefaultMaxRuns = 1000
	DefaultSeeds   = 8
	DefaultTries   = 3
)

// Result is what Shrink found.
type Result struct {
	// RunDir is the smallest failing run, a normal run directory.
	RunDir string
	// Ops is how many operations its history has (the harness's final
	// reads of each key among them).
	Ops int
	// Runs is how many runs Shrink made.
	Runs int
	// Steps says what each accepted reduction was, in order.
	Steps []string
	// Exact is false for a backend that is not deterministic: a rerun of
	// RunDir may pass.
	Exact bool
	// Reproduced is, for a backend that is not deterministic, how many of
	// Tries reruns of the result made after the search were invalid.
	Reproduced, Tries int
	// Options are the smallest failing run's options (Seed its seed).
	Options harness.Options
}

// ErrNotInvalid is returned for a run whose verdict is not invalid: there
// is no violation to keep while shrinking.
var ErrNotInvalid = errors.New("not an invalid run")

// errBudget ends the search when MaxRuns runs were made.
var errBudget = errors.New("run budget spent")

// Shrink delta-debugs the invalid run in runDir and returns the smallest
// failing run it found. Reductions are tried in order, each kept only if
// the run stays invalid: the faults (ddmin over the fault kinds, down to
// none), fewer clients, fewer keys, fewer operations, then a shorter fault
// interval, operation timeout, time and settle time; the whole sequence is
// repeated while it still finds something. Each kept run is also cut
// after its first violation (trim). When the budget runs out or ctx ends,
// the smallest run so far is the result.
func Shrink(ctx context.Context, runDir string, opts Options) (*Result, error) {
	dir, err := filepath.EvalSymlinks(runDir)
	if err != nil {
		return nil, err
	}
	ti, err := harness.ReadTestInfo(dir)
	if err != nil {
		return nil, err
	}
	res, err := readVerdict(dir)
	if err != nil {
		return nil, err
	}
	if res != string(checker.Invalid) {
		return nil, fmt.Errorf("%s: verdict %s: %w (shrink keeps a violation while it cuts the run down)", dir, res, ErrNotInvalid)
	}
	backend, err := harness.LookupBackend(ti.Options.Backend)
	if err != nil {
		return nil, err
	}
	s := &shrinker{ctx: ctx, orig: dir, exact: backend.Bubble != nil, opts: opts, log: opts.Log}
	if s.log == nil {
		s.log = io.Discard
	}
	if s.opts.MaxRuns <= 0 {
		s.opts.MaxRuns = DefaultMaxRuns
	}
	if s.exact {
		s.opts.Tries = 1
	} else if s.opts.Tries <= 0 {
		s.opts.Tries = DefaultTries
	}
	if s.opts.Seeds <= 0 {
		s.opts.Seeds = 1
		if s.exact {
			s.opts.Seeds = DefaultSeeds
		}
	}
	base := ti.Options
	base.Seed = ti.Seed
	base.Store = opts.Store
	if base.Store == "" {
		base.Store = filepath.Dir(filepath.Dir(dir))
	}
	base.ServerBin = opts.ServerBin
	if !strings.HasSuffix(base.Name, nameSuffix) {
		base.Name += nameSuffix
	}
	if f, err := nemesis.Parse(base.Nemesis); err == nil {
		base.Nemesis = joinFaults(f) // "all" becomes its list, for ddmin
	}
	s.origSeed = base.Seed
	if !s.exact {
		s.logf("warning: backend %s is not deterministic: a candidate fails if any of %d tries is invalid, and a rerun of the result may pass",
			base.Backend, s.opts.Tries)
	}

	// The original, rerun as it was: the first candidate, and the proof
	// that it reproduces.
	s.logf("shrinking %s (%s)", dir, describe(base))
	if !s.try(base, "rerun of the original") {
		s.cleanup()
		if s.err != nil {
			return nil, fmt.Errorf("%s: the original did not fail again before the search stopped: %w", dir, s.err)
		}
		return nil, fmt.Errorf("%s: the original does not fail again (%d runs with %d seeds): %s", dir, s.runs, s.opts.Seeds, s.notReproduced())
	}
	if s.exact && s.best.Seed != s.origSeed {
		s.logf("warning: the original's seed %d did not fail again (another binary?); shrinking seed %d's run instead", s.origSeed, s.best.Seed)
	}
	for pass := 1; s.err == nil; pass++ {
		before := len(s.steps)
		s.faults()
		s.ints("clients", 1, func(o *harness.Options) *int { return &o.Clients })
		s.ints("keys", 1, func(o *harness.Options) *int { return &o.Keys })
		s.ops()
		s.durations()
		if len(s.steps) == before {
			break
		}
		s.logf("pass %d: %d operations", pass, s.bestOps)
	}
	if s.err != nil && !errors.Is(s.err, errBudget) && ctx.Err() == nil {
		return nil, s.err
	}
	if s.err != nil {
		s.logf("stopped: %v; the smallest run so far is the result", s.err)
	}
	if !s.exact && ctx.Err() == nil {
		s.verify()
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	return &Result{RunDir: s.bestDir, Ops: s.bestOps, Runs: s.runs, Steps: s.steps, Exact: s.exact, Options: s.best,
		Reproduced: s.reproduced, Tries: s.opts.Tries}, nil
}

// readVerdict reads the verdict of a run from its results.json.
func readVerdict(dir string) (string, error) {
	r, err := checker.ReadResult(dir)
	if err != nil {
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	return string(r.Verdict), nil
}

// shrinker is the state of one search.
type shrinker struct {
	ctx      context.Context
	orig     string // the original run directory
	exact    bool   // the backend is deterministic
	opts     Options
	log      io.Writer
	origSeed int64

	best    harness.Options // the smallest failing run so far (Seed its seed)
	bestDir string
	bestOps int
	runs    int
	steps   []string
	// err stops the search: the budget is spent, ctx ended or a run
	// could not be made.
	err error
	// reproduced counts the invalid reruns of verify.
	reproduced int
	// seen counts the verdicts of runs that did not fail, for the error
	// of an original that does not reproduce.
	seen map[string]int
}

func (s *shrinker) logf(format string, a ...any) {
	fmt.Fprintf(s.log, "shrink: "+format+"\n", a...)
}

// seeds are the seeds a candidate is tried with: the current smallest
// run's first (a small change often keeps its violation), then the
// original seed and those after it. A sim candidate with a lower operation
// bound than the current smallest run gets more of them, up to 8 times as
// many: its violation, if any, hangs on fewer operations, so fewer seeds
// show it, and its runs are cheaper.
func (s *shrinker) seeds(o harness.Options) []int64 {
	n := s.opts.Seeds
	if s.exact && o.Ops > 0 && o.Ops < s.best.Ops {
		n = min(n*s.best.Ops/o.Ops, 8*n)
	}
	var out []int64
	if s.bestDir != "" {
		out = append(out, s.best.Seed)
	}
	for i := int64(0); len(out) < n; i++ {
		if seed := s.origSeed + i; !slices.Contains(out, seed) {
			out = append(out, seed)
		}
	}
	return out
}

// with is the current smallest run's options changed by f.
func (s *shrinker) with(f func(o *harness.Options)) harness.Options {
	o := s.best
	f(&o)
	return o
}

// try runs candidate o with each seed (and each try) until one run is
// invalid with no more operations than the smallest so far; that run
// becomes the smallest, step (what changed) is noted, and the run is cut
// after its first violation (trim).
func (s *shrinker) try(o harness.Options, step string) bool {
	if !s.attempt(o, step, s.seeds(o)) {
		return false
	}
	s.trim()
	return true
}

// attempt is try without the trim.
func (s *shrinker) attempt(o harness.Options, step string, seeds []int64) bool {
	for _, seed := range seeds {
		o.Seed = seed
		for t := 0; t < s.opts.Tries; t++ {
			if s.err != nil {
				return false
			}
			out, ops := s.run(o)
			if out == nil {
				continue
			}
			if out.Verdict == string(checker.Invalid) && (s.bestDir == "" || ops <= s.bestOps) {
				s.accept(o, out.RunDir, ops, step)
				return true
			}
			s.remove(out.RunDir)
		}
	}
	return false
}

// trim cuts the smallest run after its first violation: the same options
// and seed with the operations bounded at what each client had invoked by
// then (cuts). A sim run's schedule up to that point does not depend on
// the operations that come after it (every client's operations, messages
// and faults up to then are the same), so the violation is usually still
// there: the cheapest reduction there is, one run per cut, tried after
// every kept one.
func (s *shrinker) trim() {
	for s.err == nil {
		kept := false
		for _, n := range cuts(s.bestDir, s.best.Clients) {
			if s.best.Ops > 0 && n >= s.best.Ops {
				break
			}
			o := s.best
			o.Ops = n
			step := fmt.Sprintf("operations %d → %d, cut after the first violation", s.best.Ops, n)
			if kept = s.attempt(o, step, []int64{s.best.Seed}); kept || s.err != nil {
				break
			}
		}
		if !kept {
			return
		}
	}
}

// run makes one run of o and returns its outcome and the operations of its
// history; nil when the run failed to start or the search must stop.
func (s *shrinker) run(o harness.Options) (*harness.Outcome, int) {
	if s.runs >= s.opts.MaxRuns {
		s.err = fmt.Errorf("%w (%d runs)", errBudget, s.runs)
		return nil, 0
	}
	if err := s.ctx.Err(); err != nil {
		s.err = err
		return nil, 0
	}
	s.runs++
	out := harness.Run(s.ctx, o, harness.Env{Out: io.Discard, Args: []string{"torture", "shrink", s.orig}, Bubble: s.opts.Bubble})
	ops, err := countOps(out.RunDir)
	if err != nil && out.RunDir != "" && out.Verdict != "error" {
		out.Verdict, out.Reason = "error", err.Error()
	}
	s.logf("run %d: %s seed=%d: %s, %d operations", s.runs, describe(o), o.Seed, out.Verdict, ops)
	if out.Interrupted || s.ctx.Err() != nil {
		s.remove(out.RunDir)
		s.err = context.Cause(s.ctx)
		if s.err == nil {
			s.err = errors.New("interrupted")
		}
		return nil, 0
	}
	if out.Verdict == "error" {
		// A candidate the harness cannot run is one that does not fail;
		// the reason is worth a line.
		s.logf("run %d: harness error: %s", s.runs, out.Reason)
	}
	if s.seen == nil {
		s.seen = map[string]int{}
	}
	if out.Verdict != string(checker.Invalid) {
		s.seen[out.Verdict]++
	}
	return out, ops
}

// verify reruns the smallest run Tries times, beyond the budget, and
// counts how often it fails again: on a backend that is not deterministic
// the search kept it for one invalid try, which may have been luck.
func (s *shrinker) verify() {
	for i := 0; i < s.opts.Tries && s.ctx.Err() == nil; i++ {
		out := harness.Run(s.ctx, s.best, harness.Env{Out: io.Discard, Args: []string{"torture", "shrink", s.orig}, Bubble: s.opts.Bubble})
		if out.Verdict == string(checker.Invalid) {
			s.reproduced++
		}
		s.logf("verify %d of %d: %s", i+1, s.opts.Tries, out.Verdict)
		s.remove(out.RunDir)
	}
	s.logf("the result failed again in %d of %d reruns", s.reproduced, s.opts.Tries)
}

// accept makes the run in dir the smallest so far.
func (s *shrinker) accept(o harness.Options, dir string, ops int, step string) {
	if s.bestDir != "" {
		s.remove(s.bestDir)
	}
	s.best, s.bestDir, s.bestOps = o, dir, ops
	step = fmt.Sprintf("%s (seed %d, %d operations; run %d)", step, o.Seed, ops, s.runs)
	s.steps = append(s.steps, step)
	s.logf("kept: %s", step)
}

// remove deletes a candidate's run directory; never the original.
func (s *shrinker) remove(dir string) {
	if dir == "" || dir == s.orig {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		s.logf("remove %s: %v", dir, err)
	}
}

// cleanup removes what a search that found nothing left: the test folder
// of the candidates, if empty.
func (s *shrinker) cleanup() {
	if s.bestDir != "" {
		s.remove(s.bestDir)
		s.bestDir = ""
	}
	if s.best.Store != "" && s.best.Name != "" {
		_ = os.Remove(filepath.Join(s.best.Store, s.best.Name)) // only if empty
	}
}

func (s *shrinker) notReproduced() string {
	var parts []string
	for _, v := range []string{"valid", "unknown", "error"} {
		if n := s.seen[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	why := strings.Join(parts, ", ")
	if s.exact {
		why += "; a sim run replays exactly only with the binary that made it (test.json names its version)"
	}
	return why
}

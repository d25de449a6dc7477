// Package simrun runs many seeds of the deterministic simulation backend
// in parallel: the core of `torture sim` and of the nightly's sim cell.
// Every seed is one harness.Run (cluster, workload, faults, check) under
// one test name, so the runs share a folder of the run store; valid runs
// are deleted unless asked to keep them, failing runs are kept, and a
// summary (verdict per seed, failing run directories, timings) is written
// beside them as JSON.
package simrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ares-torture/torture/harness"
)

// MaxSeeds bounds one invocation, so that a slip such as 1..1e12 is an
// error rather than a run that never ends (or a list that fills memory).
const MaxSeeds = 10_000_000

// ParseSeeds parses a seed list: a range "A..B" (both ends included), one
// seed "7", or a comma list of those ("1,5,9..12"). Seeds come back in the
// order given; a seed named twice is an error, since its second run would
// only repeat the first.
func ParseSeeds(s string) ([]int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no seeds (want A..B, N, or a comma list of those)")
	}
	var out []int64
	seen := map[int64]bool{}
	add := func(x int64) error {
		if seen[x] {
			return fmt.Errorf("seed %d given twice", x)
		}
		seen[x] = true
		out = append(out, x)
		if len(out) > MaxSeeds {
			return fmt.Errorf("more than %d seeds", MaxSeeds)
		}
		return nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty item in %q", s)
		}
		lo, hi, isRange := strings.Cut(part, "..")
		a, err := parseSeed(lo, part)
		if err != nil {
			return nil, err
		}
		if !isRange {
			if err := add(a); err != nil {
				return nil, err
			}
			continue
		}
		b, err := parseSeed(hi, part)
		if err != nil {
			return nil, err
		}
		if b < a {
			return nil, fmt.Errorf("range %q ends before it starts", part)
		}
		if uint64(b-a) >= MaxSeeds {
			return nil, fmt.Errorf("range %q: more than %d seeds", part, MaxSeeds)
		}
		for x := a; ; x++ {
			if err := add(x); err != nil {
				return nil, err
			}
			if x == b {
				break
			}
		}
	}
	return out, nil
}

func parseSeed(s, item string) (int64, error) {
	x, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		if strings.TrimSpace(s) == item {
			return 0, fmt.Errorf("%q is not a seed (want an integer)", item)
		}
		return 0, fmt.Errorf("%q: %q is not a seed (want an integer)", item, s)
	}
	return x, nil
}

// Config is what Run needs.
type Config struct {
	// Options are every seed's run options; Seed is replaced per seed.
	// Run validates them, which fills Name, so that every seed's run
	// lands in one test folder.
	Options harness.Options
	Seeds   []int64
	// Workers is how many seeds run at once (0: runtime.GOMAXPROCS(0)).
	Workers int
	// KeepAll keeps the run directories of valid seeds too.
	KeepAll bool
	// Bubble hosts each run's bubble; nil leaves it to the backend
	// (sim.InBubble). A test binary passes sim.TestBubble(t).
	Bubble func(f func())
	// Log receives the runs' warnings; nil discards.
	Log *slog.Logger
	// Args is the command line, recorded in every test.json and the
	// summary.
	Args []string
	// Shape, if set, gives each seed its own options from Options (swarm
	// testing: sim.Swarm); it must set the seed. Nil runs Options with
	// each seed.
	Shape func(harness.Options, int64) harness.Options
	// OnResult, if set, is called as each seed ends, one call at a time,
	// in the order the seeds end.
	OnResult func(SeedResult)
}

// SeedResult is one seed's run.
type SeedResult struct {
	Seed    int64  `json:"seed"`
	Verdict string `json:"verdict"` // valid, invalid, unknown, error
	Exit    int    `json:"exit"`
	Reason  string `json:"reason,omitempty"`
	// RunDir is the run's directory while it exists: empty for a valid
	// run that was deleted (and for a run that failed before it had one).
	RunDir      string  `json:"run_dir,omitempty"`
	Ops         int64   `json:"ops"` // operations with a completion
	Interrupted bool    `json:"interrupted,omitempty"`
	WallSeconds float64 `json:"wall_s"`
}

// Failed reports whether the seed did not come out valid.
func (r SeedResult) Failed() bool { return r.Verdict != "valid" }

// Counts are the seeds by verdict.
type Counts struct {
	Valid   int `json:"valid"`
	Invalid int `json:"invalid"`
	Unknown int `json:"unknown"`
	Error   int `json:"error"`
}

// Summary is the outcome of Run, and the JSON file it writes.
type Summary struct {
	Test  string    `json:"test"`
	Store string    `json:"store"`
	Args  []string  `json:"args,omitempty"`
	Start time.Time `json:"start"`
	// Seeds is how many were asked for; Ran how many ran (fewer after
	// Ctrl-C).
	Seeds       int  `json:"seeds"`
	Ran         int  `json:"ran"`
	Interrupted bool `json:"interrupted,omitempty"`
	Workers     int  `json:"workers"`
	// Cores is runtime.GOMAXPROCS(0), the CPUs the runs could use.
	Cores  int    `json:"cores"`
	Counts Counts `json:"counts"`
	Ops    int64  `json:"ops"`
	// WallSeconds is the whole invocation; CPUSeconds the process's user
	// and system time over it (-1 where the platform does not say).
	WallSeconds          float64 `json:"wall_s"`
	CPUSeconds           float64 `json:"cpu_s"`
	RunsPerSecond        float64 `json:"runs_per_s"`
	RunsPerSecondPerCore float64 `json:"runs_per_s_per_core"`
	// Failing lists the run directories of every seed that was not valid,
	// in the order the seeds were given.
	Failing []string `json:"failing_run_dirs"`
	// Results are every seed that ran, in the order the seeds were given.
	Results []SeedResult `json:"results"`
	// File is where the summary was written (not in the file itself).
	File string `json:"-"`
}

// FailingSeeds returns the results of the seeds that were not valid.
func (s *Summary) FailingSeeds() []SeedResult {
	var out []SeedResult
	for _, r := range s.Results {
		if r.Failed() {
			out = append(out, r)
		}
	}
	return out
}

// Line is the summary on one line.
func (s *Summary) Line() string {
	line := fmt.Sprintf("SIM seeds=%d valid=%d invalid=%d unknown=%d error=%d ops=%d wall=%.1fs runs/s=%.2f runs/s/core=%.2f cores=%d workers=%d",
		s.Ran, s.Counts.Valid, s.Counts.Invalid, s.Counts.Unknown, s.Counts.Error, s.Ops, s.WallSeconds,
		s.RunsPerSecond, s.RunsPerSecondPerCore, s.Cores, s.Workers)
	if s.Interrupted {
		line += fmt.Sprintf(" interrupted=%d/%d", s.Ran, s.Seeds)
	}
	if s.File != "" {
		line += " summary=" + s.File
	}
	return line
}

// SummaryPrefix starts the name of a summary file in the test folder:
// sim-summary-<start>.json.
const SummaryPrefix = "sim-summary-"

// Run runs every seed, cfg.Workers at a time, and writes the summary into
// the test folder. A cancelled ctx starts no further seed; the runs under
// way stop in order and count (as unknown, unless they found a
// violation). The error is for what kept the seeds from running at all
// (bad options) or the summary from being written; a seed's harness
// failure is its verdict, "error".
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	opts := cfg.Options
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Seeds) == 0 {
		return nil, errors.New("no seeds")
	}
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(cfg.Seeds))
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	sum := &Summary{Test: opts.Name, Store: opts.Store, Args: cfg.Args, Start: time.Now(),
		Seeds: len(cfg.Seeds), Workers: workers, Cores: runtime.GOMAXPROCS(0)}
	cpu0 := cpuSeconds()
	results := make([]*SeedResult, len(cfg.Seeds))
	next := make(chan int)
	var mu sync.Mutex // OnResult, one call at a time
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				r := runSeed(ctx, opts, cfg, log, cfg.Seeds[i])
				results[i] = &r
				if cfg.OnResult != nil {
					mu.Lock()
					cfg.OnResult(r)
					mu.Unlock()
				}
			}
		})
	}
feed:
	for i := range cfg.Seeds {
		if ctx.Err() != nil {
			break // select would pick at random between the two
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()

	wall := time.Since(sum.Start)
	sum.WallSeconds = wall.Seconds()
	sum.CPUSeconds = -1
	if c1 := cpuSeconds(); cpu0 >= 0 && c1 >= 0 {
		sum.CPUSeconds = c1 - cpu0
	}
	for _, r := range results {
		if r == nil {
			continue // not started: Ctrl-C came first
		}
		sum.Ran++
		sum.Ops += r.Ops
		switch r.Verdict {
		case "valid":
			sum.Counts.Valid++
		case "invalid":
			sum.Counts.Invalid++
		case "unknown":
			sum.Counts.Unknown++
		default:
			sum.Counts.Error++
		}
		if r.Failed() && r.RunDir != "" {
			sum.Failing = append(sum.Failing, r.RunDir)
		}
		sum.Results = append(sum.Results, *r)
	}
	sum.Interrupted = ctx.Err() != nil
	if wall > 0 {
		sum.RunsPerSecond = float64(sum.Ran) / wall.Seconds()
		sum.RunsPerSecondPerCore = sum.RunsPerSecond / float64(sum.Cores)
	}
	fixLatest(opts.Store, sum.Failing)
	path, err := sum.write(filepath.Join(opts.Store, opts.Name))
	if err != nil {
		return sum, err
	}
	sum.File = path
	return sum, nil
}

// runSeed runs one seed and deletes its run directory when it is valid
// and not to be kept.
func runSeed(ctx context.Context, opts harness.Options, cfg Config, log *slog.Logger, seed int64) SeedResult {
	opts.Seed = seed
	if cfg.Shape != nil {
		opts = cfg.Shape(opts, seed)
	}
	t0 := time.Now()
	out := harness.Run(ctx, opts, harness.Env{Out: io.Discard, Log: log, Args: cfg.Args, Bubble: cfg.Bubble})
	r := SeedResult{Seed: seed, Verdict: out.Verdict, Exit: out.Code, Reason: out.Reason, RunDir: out.RunDir,
		Ops: out.Counts.Completed(), Interrupted: out.Interrupted, WallSeconds: time.Since(t0).Seconds()}
	if r.Verdict == "valid" && !cfg.KeepAll && r.RunDir != "" {
		if err := os.RemoveAll(r.RunDir); err != nil {
			log.Warn("delete valid run", "run", r.RunDir, "err", err)
		} else {
			r.RunDir = ""
		}
	}
	return r
}

// fixLatest keeps STORE/latest from naming a deleted run: it points at the
// first failing run, else it is removed if what it names is gone.
func fixLatest(store string, failing []string) {
	if len(failing) > 0 {
		_ = harness.UpdateLatest(store, failing[0])
		return
	}
	link := filepath.Join(store, harness.LatestLink)
	if _, err := os.Lstat(link); err == nil {
		if _, err := os.Stat(link); errors.Is(err, os.ErrNotExist) {
			_ = os.Remove(link)
		}
	}
}

// write writes the summary as dir/sim-summary-<start>.json (with a numeric
// suffix should that exist) and returns its path.
func (s *Summary) write(dir string) (string, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode sim summary: %w", err)
	}
	b = append(b, '\n')
	path, err := harness.WriteNewFile(dir, SummaryPrefix+s.Start.UTC().Format("20060102T150405"), b)
	if err != nil {
		return "", fmt.Errorf("write sim summary: %w", err)
	}
	return path, nil
}

// ReadSummary reads a summary file written by Run.
func ReadSummary(path string) (*Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sim summary: %w", err)
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse sim summary %s: %w", path, err)
	}
	s.File = path
	return &s, nil
}

// cpuSeconds is the process's user and system CPU time so far, -1 if
// unknown.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

package nightly

// The sim cell: many seeds of the deterministic simulation backend, one
// `torture sim` process (package harness/simrun's seed loop), failing on
// any seed that is not valid. The first few invalid seeds are shrunk
// (`torture shrink`, package shrink), so the nightly hands over small
// failing runs beside the original ones.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ares-torture/torture/harness/junit"
	"github.com/ares-torture/torture/harness/simrun"
)

// SimCellName is the sim cell's test name: its run store folder and JUnit
// case.
const SimCellName = "nightly-sim"

// Defaults of the sim cell.
const (
	DefaultSimSeeds      = "1..1000"
	DefaultSimShrink     = 3
	DefaultSimShrinkRuns = 200
	DefaultSimTimeout    = time.Hour
)

// SimResult is what the sim cell found, beside its Result.
type SimResult struct {
	Seeds string
	// Summary is torture sim's summary file; nil when it left none (it
	// failed before the end, or was stopped).
	Summary *simrun.Summary
	// Failing are the seeds that were not valid, in seed order.
	Failing []simrun.SeedResult
	// Shrunk are the shrinks of the first invalid seeds.
	Shrunk []Shrunk
}

// Shrunk is one failing seed's shrink.
type Shrunk struct {
	Seed int64
	From string // the failing run
	// RunDir is the smallest failing run found, Ops its operations; Err
	// says why there is none.
	RunDir string
	Ops    int
	Err    string
}

// simCell is the sim cell of m.
func (m *Matrix) simCell() Cell {
	seeds, _ := simrun.ParseSeeds(m.SimSeeds) // checked by Validate
	c := Cell{Backend: "sim", DAP: "mixed", Nemesis: "all", SeedKind: m.SimSeeds}
	if len(seeds) > 0 {
		c.Seed = seeds[0]
	}
	return c
}

// hasSimCell reports whether the sim cell is to run: seeds are given and
// the filter, if any, keeps it.
func (m *Matrix) hasSimCell() bool {
	return m.SimSeeds != "" && (m.Filter == "" || strings.Contains(SimCellName, m.Filter))
}

// SimArgs is the sim cell's torture sim command line.
func (m *Matrix) SimArgs() []string {
	// Swarm testing: every seed its own shape, since no one shape is
	// good at every bug (sim.Swarm).
	args := []string{"sim", "--swarm", "--seeds", m.SimSeeds, "--store", filepath.Join(m.Out, "runs"), "--name", SimCellName}
	if m.SimWorkers > 0 {
		args = append(args, "--workers", strconv.Itoa(m.SimWorkers))
	}
	return args
}

// runSim runs the sim cell: torture sim, then torture shrink on the first
// invalid seeds.
func (m *Matrix) runSim(ctx context.Context, log *slog.Logger) Result {
	c := m.simCell()
	timeout := m.SimTimeout
	if timeout <= 0 {
		timeout = DefaultSimTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	out, code, err := m.torture(rctx, m.SimArgs())
	r := Result{Cell: c, Code: code, Sim: &SimResult{Seeds: m.SimSeeds}}
	log.Debug("torture sim", "args", m.SimArgs(), "err", err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	r.Line = lines[len(lines)-1]
	if _, path, ok := strings.Cut(r.Line, " summary="); ok && strings.HasPrefix(r.Line, "SIM ") {
		if s, err := simrun.ReadSummary(path); err == nil {
			r.Sim.Summary = s
		} else {
			log.Warn("sim summary", "err", err)
		}
	}
	r.RunDir = filepath.Join(m.Out, "runs", SimCellName)
	s := r.Sim.Summary
	stopped := rctx.Err() != nil && ctx.Err() == nil
	switch {
	case s == nil:
		r.Verdict = "error"
		r.Reason = fmt.Sprintf("torture sim left no summary (exit %d): %s", code, cut(r.Line, 200))
		if stopped {
			r.Reason = fmt.Sprintf("no summary within %s: %s", timeout, r.Reason)
		}
		r.HarnessError = r.Reason
	default:
		for _, x := range s.Results {
			if x.Failed() {
				r.Sim.Failing = append(r.Sim.Failing, x)
			}
		}
		r.Ops = fmt.Sprintf("ops=%d", s.Ops)
		r.Verdict, r.Reason = simVerdict(s, r.Sim.Failing)
		if r.Verdict == "error" {
			r.HarnessError = r.Reason
		}
		if stopped {
			r.Reason = fmt.Sprintf("stopped after %s: %s", timeout, r.Reason)
		}
	}
	for _, f := range r.Sim.Failing {
		if f.RunDir == "" {
			continue
		}
		if err := copyDir(f.RunDir, filepath.Join(m.Out, "failed", SimCellName, fmt.Sprintf("seed-%d", f.Seed))); err != nil {
			log.Warn("copy failing sim run", "run", f.RunDir, "err", err)
		}
	}
	r.Sim.Shrunk = m.shrinkSeeds(ctx, r.Sim.Failing, log)
	r.Duration = time.Since(t0)
	return r
}

// simVerdict is the sim cell's verdict: invalid if any seed is, else
// error if the harness failed in any, else unknown if any seed is or the
// seeds were not all run, else valid. The reason names the failing seeds.
func simVerdict(s *simrun.Summary, failing []simrun.SeedResult) (verdict, reason string) {
	n := s.Counts
	switch {
	case n.Invalid > 0:
		verdict = "invalid"
	case n.Error > 0:
		verdict = "error"
	case n.Unknown > 0 || s.Interrupted || s.Ran < s.Seeds:
		verdict = "unknown"
	default:
		return "valid", ""
	}
	var parts []string
	for i, f := range failing {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(failing)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("seed %d %s: %s", f.Seed, f.Verdict, cut(f.Reason, 80)))
	}
	reason = fmt.Sprintf("%d of %d seeds not valid (%d invalid, %d unknown, %d harness errors)",
		len(failing), s.Seeds, n.Invalid, n.Unknown, n.Error)
	if s.Ran < s.Seeds {
		reason += fmt.Sprintf("; only %d of %d seeds ran", s.Ran, s.Seeds)
	}
	if len(parts) > 0 {
		reason += ": " + strings.Join(parts, "; ")
	}
	return verdict, reason
}

// shrinkSeeds shrinks the first SimShrink invalid seeds, one torture
// shrink each (only an invalid run can be shrunk: a violation is what
// the search keeps).
func (m *Matrix) shrinkSeeds(ctx context.Context, failing []simrun.SeedResult, log *slog.Logger) []Shrunk {
	var out []Shrunk
	runs := m.SimShrinkRuns
	if runs <= 0 {
		runs = DefaultSimShrinkRuns
	}
	for _, f := range failing {
		if len(out) >= m.SimShrink || ctx.Err() != nil {
			break
		}
		if f.Verdict != "invalid" || f.RunDir == "" {
			continue
		}
		sh := Shrunk{Seed: f.Seed, From: f.RunDir}
		// A shrink's runs are short: a bound keeps a stuck one from
		// holding the nightly.
		sctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		text, code, err := m.torture(sctx, []string{"shrink", "--max-runs", strconv.Itoa(runs), f.RunDir})
		cancel()
		log.Debug("torture shrink", "run", f.RunDir, "exit", code, "err", err)
		lines := strings.Split(strings.TrimSpace(text), "\n")
		last := lines[len(lines)-1]
		if code == 0 && strings.HasPrefix(last, "SHRUNK ") {
			sh.RunDir = field(last, "run=")
			sh.Ops, _ = strconv.Atoi(field(last, "ops="))
			if err := copyDir(sh.RunDir, filepath.Join(m.Out, "failed", SimCellName, fmt.Sprintf("seed-%d-shrunk", f.Seed))); err != nil {
				log.Warn("copy shrunk run", "run", sh.RunDir, "err", err)
			}
		} else {
			sh.Err = fmt.Sprintf("torture shrink exit %d: %s", code, cut(last, 160))
		}
		out = append(out, sh)
	}
	return out
}

// torture runs the torture binary and returns its output (stdout and
// stderr) and exit code (exitHarness when it could not finish). Ending
// ctx interrupts it, so it stops in order; it is killed only if that
// takes too long.
func (m *Matrix) torture(ctx context.Context, args []string) (string, int, error) {
	cmd := exec.CommandContext(ctx, m.Torture, args...)
	// SIGINT first, so that torture stops its cluster and checks what it
	// has; SIGKILL only if it does not finish.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 90 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := exitHarness
	var ee *exec.ExitError
	switch {
	case err == nil:
		code = exitValid
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		code = ee.ExitCode()
	}
	return out.String(), code, err
}

// simJUnit are the sim cell's JUnit cases: one for the cell, one per
// failing seed (with its rerun command and its shrunk run).
func simJUnit(r Result) []junit.Case {
	var out strings.Builder
	fmt.Fprintln(&out, r.Line)
	shrunk := map[int64]Shrunk{}
	for _, s := range r.Sim.Shrunk {
		shrunk[s.Seed] = s
	}
	for _, f := range r.Sim.Failing {
		fmt.Fprintf(&out, "seed %d %s: %s\n", f.Seed, f.Verdict, orNone(f.RunDir))
	}
	for _, s := range r.Sim.Shrunk {
		fmt.Fprintf(&out, "seed %d shrunk: %s\n", s.Seed, shrunkText(s))
	}
	cases := []junit.Case{{Suite: "nightly.sim", Name: SimCellName, Verdict: r.Verdict, Code: r.Code, Reason: r.Reason,
		RunDir: r.RunDir, Seed: r.Cell.Seed, Time: r.Duration, Output: out.String(), HarnessError: r.HarnessError}}
	for _, f := range r.Sim.Failing {
		text := fmt.Sprintf("rerun: torture rerun %s\n", f.RunDir)
		if s, ok := shrunk[f.Seed]; ok {
			text += "shrunk: " + shrunkText(s) + "\n"
		}
		c := junit.Case{Suite: "nightly.sim", Name: fmt.Sprintf("%s-seed-%d", SimCellName, f.Seed), Verdict: f.Verdict,
			Code: f.Exit, Reason: f.Reason, RunDir: f.RunDir, Seed: f.Seed, Time: time.Duration(f.WallSeconds * float64(time.Second)),
			Output: text}
		if f.Verdict == "error" {
			c.HarnessError = f.Reason
		}
		cases = append(cases, c)
	}
	return cases
}

func shrunkText(s Shrunk) string {
	if s.RunDir == "" {
		return "none (" + s.Err + ")"
	}
	return fmt.Sprintf("%s (%d operations; torture rerun %s)", s.RunDir, s.Ops, s.RunDir)
}

func orNone(s string) string {
	if s == "" {
		return "(no run directory)"
	}
	return s
}

// simSection is the sim cell's part of the summary: the figures and every
// failing seed with its run and its shrunk run.
func simSection(r Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### sim: seeds %s: %s\n\n", r.Sim.Seeds, r.verdictLabel())
	s := r.Sim.Summary
	if s == nil {
		fmt.Fprintf(&b, "%s\n", r.Reason)
		return b.String()
	}
	fmt.Fprintf(&b, "%d seeds ran of %d: %d valid, %d invalid, %d unknown, %d harness errors; %d operations; %.0fs wall, %.2f runs/s (%.2f per core, %d workers); summary %s\n",
		s.Ran, s.Seeds, s.Counts.Valid, s.Counts.Invalid, s.Counts.Unknown, s.Counts.Error, s.Ops, s.WallSeconds,
		s.RunsPerSecond, s.RunsPerSecondPerCore, s.Workers, s.File)
	if len(r.Sim.Failing) == 0 {
		return b.String()
	}
	shrunk := map[int64]Shrunk{}
	for _, x := range r.Sim.Shrunk {
		shrunk[x.Seed] = x
	}
	b.WriteString("\n| seed | verdict | reason | run | shrunk |\n|---|---|---|---|---|\n")
	for _, f := range r.Sim.Failing {
		sh := "–"
		if x, ok := shrunk[f.Seed]; ok {
			sh = shrunkText(x)
		}
		fmt.Fprintf(&b, "| %d | **%s** | %s | %s | %s |\n", f.Seed, strings.ToUpper(f.Verdict),
			strings.ReplaceAll(cut(f.Reason, 100), "|", "/"), orNone(f.RunDir), strings.ReplaceAll(sh, "|", "/"))
	}
	if n := len(r.Sim.Failing); n > len(r.Sim.Shrunk) {
		fmt.Fprintf(&b, "\n%d failing seed(s) not shrunk: the nightly shrinks the first few invalid seeds only (an unknown seed has no violation to keep).\n",
			n-len(r.Sim.Shrunk))
	}
	return b.String()
}

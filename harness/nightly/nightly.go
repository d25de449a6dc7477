// Package nightly runs the nightly torture matrix: backend (local, docker) x
// DAP (abd, ec, and mixed by reconfiguration) x nemesis (partition, kill,
// pause, loss, reconfig, all) x seed (a fixed one, so a regression shows as
// a change, and a fresh one, so coverage grows night by night). Every cell
// is one `torture run` process; the matrix writes a JUnit XML file (one test
// case per run, with its verdict and run directory), a summary table (with
// what each run reached, from its results.json), and a copy of every
// failing run's directory for CI to keep as an artifact.
//
// Beside the matrix, the sim cell runs many seeds (Matrix.SimSeeds) of the
// deterministic simulation in one `torture sim` process, fails on any seed
// that is not valid, and shrinks the first invalid ones (sim.go).
//
// A cell fails on a violation, on a harness failure, and on an unknown
// verdict (the check gave up, the floor was missed, the run reached
// nothing its faults aim at, or it was interrupted), unless the matrix
// allows that cell to be unknown, with a reason (Matrix.AllowUnknown).
package nightly

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness/junit"
	"github.com/ares-torture/torture/harness/simrun"
)

// Exit codes of torture run (DESIGN.md).
const (
	exitValid   = 0
	exitInvalid = 1
	exitUnknown = 2
	exitHarness = 3
)

// Matrix says which cells to run and how.
type Matrix struct {
	Backends []string // local, docker
	DAPs     []string // abd, ec, mixed
	Nemeses  []string // a --nemesis value each: partition, kill, ..., all
	// Seeds are "fixed" (FixedSeed) and/or "fresh" (from the clock).
	Seeds     []string
	FixedSeed int64
	// ECK is --ec-k for the ec cells.
	ECK int
	// Time and Interval are --time and --nemesis-interval of every run.
	Time, Interval time.Duration
	// Extra flags for every torture run (e.g. --clients 5); not for the
	// sim cell, which runs the sim's defaults in swarm shapes (--swarm).
	Extra []string
	// Torture is the torture binary.
	Torture string
	// Out is the output directory: runs/, junit.xml, summary.md, failed/.
	Out string
	// Timeout bounds one run beyond its Time (start, heal, check).
	Timeout time.Duration
	// Filter keeps only the cells whose name contains it (empty: all).
	Filter string
	// AllowUnknown lists the cells that may end unknown without failing
	// the nightly; every other cell fails on unknown. It never applies to
	// the sim cell: a simulated run has no excuse to be unknown.
	AllowUnknown []Allowance
	// SimSeeds are the seeds of the sim cell (torture sim --seeds: A..B,
	// N, or a comma list); empty: no sim cell.
	SimSeeds string
	// SimWorkers is torture sim --workers (0: its default, every core).
	SimWorkers int
	// SimShrink is how many invalid sim seeds are shrunk, the first ones
	// in seed order; SimShrinkRuns bounds each shrink's runs (0:
	// DefaultSimShrinkRuns).
	SimShrink, SimShrinkRuns int
	// SimTimeout bounds torture sim (0: DefaultSimTimeout).
	SimTimeout time.Duration
}

// Allowance lets the cells whose name contains Cells end unknown, for
// Reason (shown with the verdict in JUnit and the summary). It exists for
// a cell known to be unable to decide (say, a fault a backend cannot
// apply), so that its unknown stays visible without turning CI red.
type Allowance struct {
	Cells  string `json:"cells"`
	Reason string `json:"reason"`
}

// ParseAllowance parses "CELLS=REASON" (the --allow-unknown flag).
func ParseAllowance(s string) (Allowance, error) {
	cells, reason, ok := strings.Cut(s, "=")
	a := Allowance{Cells: strings.TrimSpace(cells), Reason: strings.TrimSpace(reason)}
	if !ok || a.Cells == "" || a.Reason == "" {
		return Allowance{}, fmt.Errorf("allow unknown %q: want CELLS=REASON (CELLS a part of the cell names)", s)
	}
	return a, nil
}

// Defaults of the nightly matrix.
var (
	AllBackends = []string{"local", "docker"}
	AllDAPs     = []string{"abd", "ec", "mixed"}
	AllNemeses  = []string{"partition", "kill", "pause", "loss", "reconfig", "all"}
	AllSeeds    = []string{"fixed", "fresh"}
)

// Cell is one run of the matrix.
type Cell struct {
	Backend, DAP, Nemesis, SeedKind string
	Seed                            int64
	// AllowUnknown is why this cell may end unknown without failing the
	// nightly (from Matrix.AllowUnknown); empty: an unknown verdict fails.
	AllowUnknown string
}

// Name is the cell's test name: the run store folder and the JUnit case.
func (c Cell) Name() string {
	if c.Backend == "sim" {
		return SimCellName
	}
	return fmt.Sprintf("nightly-%s-%s-%s-%s", c.Backend, c.DAP, strings.ReplaceAll(c.Nemesis, ",", "+"), c.SeedKind)
}

// nemesisFlag is the cell's --nemesis: a mixed cell always reconfigures,
// since that is how a run comes to mix ABD and EC configurations.
func (c Cell) nemesisFlag() string {
	if c.DAP != "mixed" || c.Nemesis == "all" || slices.Contains(strings.Split(c.Nemesis, ","), "reconfig") {
		return c.Nemesis
	}
	return c.Nemesis + ",reconfig"
}

// Args is the cell's torture run command line.
func (m *Matrix) Args(c Cell) []string {
	dap := c.DAP
	if dap == "mixed" {
		dap = "abd" // the reconfigurations pick ABD or EC at random
	}
	args := []string{"run",
		"--backend", c.Backend,
		"--dap", dap,
		"--nemesis", c.nemesisFlag(),
		"--seed", strconv.FormatInt(c.Seed, 10),
		"--time", m.Time.String(),
		"--nemesis-interval", m.Interval.String(),
		"--store", filepath.Join(m.Out, "runs"),
		"--name", c.Name(),
	}
	if dap == "ec" {
		args = append(args, "--ec-k", strconv.Itoa(m.ECK))
	}
	return append(args, m.Extra...)
}

// Cells lists the matrix's cells in order; fresh seeds come from now.
func (m *Matrix) Cells(now time.Time) []Cell {
	var cells []Cell
	fresh := now.UnixNano() % 1_000_000_000
	for _, b := range m.Backends {
		for _, d := range m.DAPs {
			for _, n := range m.Nemeses {
				for _, s := range m.Seeds {
					c := Cell{Backend: b, DAP: d, Nemesis: n, SeedKind: s, Seed: m.FixedSeed}
					if s == "fresh" {
						fresh++
						c.Seed = fresh
					}
					if m.Filter != "" && !strings.Contains(c.Name(), m.Filter) {
						continue
					}
					for _, a := range m.AllowUnknown {
						if strings.Contains(c.Name(), a.Cells) {
							c.AllowUnknown = a.Reason
							break
						}
					}
					cells = append(cells, c)
				}
			}
		}
	}
	return cells
}

// Validate checks the matrix.
func (m *Matrix) Validate() error {
	var errs []error
	check := func(what string, got, known []string) {
		if len(got) == 0 {
			errs = append(errs, fmt.Errorf("no %s", what))
		}
		for _, g := range got {
			if !slices.Contains(known, g) {
				errs = append(errs, fmt.Errorf("unknown %s %q (known: %s)", what, g, strings.Join(known, ", ")))
			}
		}
	}
	check("backend", m.Backends, AllBackends)
	check("dap", m.DAPs, AllDAPs)
	check("seed kind", m.Seeds, AllSeeds)
	if len(m.Nemeses) == 0 {
		errs = append(errs, errors.New("no nemesis"))
	}
	if m.Time <= 0 || m.Interval <= 0 {
		errs = append(errs, errors.New("time and nemesis interval must be > 0"))
	}
	if m.Torture == "" || m.Out == "" {
		errs = append(errs, errors.New("torture binary and output directory are required"))
	}
	if m.ECK < 1 {
		errs = append(errs, fmt.Errorf("ec-k %d: want >= 1", m.ECK))
	}
	for _, a := range m.AllowUnknown {
		if a.Cells == "" || a.Reason == "" {
			errs = append(errs, fmt.Errorf("allow unknown %+v: cells and reason are both required", a))
		}
	}
	if m.SimSeeds != "" {
		if _, err := simrun.ParseSeeds(m.SimSeeds); err != nil {
			errs = append(errs, fmt.Errorf("sim seeds: %w", err))
		}
	}
	if m.SimWorkers < 0 || m.SimShrink < 0 || m.SimShrinkRuns < 0 {
		errs = append(errs, fmt.Errorf("sim workers %d, shrink %d, shrink runs %d: want >= 0", m.SimWorkers, m.SimShrink, m.SimShrinkRuns))
	}
	return errors.Join(errs...)
}

// Result is what one cell's run gave.
type Result struct {
	Cell     Cell
	Code     int    // torture's exit code (exitHarness if it could not finish)
	Verdict  string // valid, invalid, unknown, error
	Reason   string
	RunDir   string
	Line     string // the verdict line
	Ops      string // "ops=... ok=... fail=... info=..."
	Duration time.Duration
	// HarnessError is what failed in the harness beside a verdict (an
	// invalid run whose harness also failed); for verdict "error" it is
	// the Reason.
	HarnessError string
	// Reached is what the run reached, from its results.json; nil when
	// there is none.
	Reached *checker.Reached
	// Sim is the sim cell's seeds and shrinks; nil for a matrix cell.
	Sim *SimResult
}

// Failed reports whether the result fails the nightly: a violation, a
// harness failure, or an unknown verdict the cell does not allow.
func (r Result) Failed() bool {
	switch r.Verdict {
	case "valid":
		return r.Code != exitValid
	case "unknown":
		return r.Cell.AllowUnknown == ""
	default: // invalid, error
		return true
	}
}

// Run runs every cell in order and writes the reports. It returns the
// results; the nightly fails when any result Failed, or err is set.
func Run(ctx context.Context, m *Matrix, progress io.Writer, log *slog.Logger) ([]Result, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.Out, 0o755); err != nil {
		return nil, fmt.Errorf("nightly: %w", err)
	}
	junitPath := filepath.Join(m.Out, "junit.xml")
	_ = os.Remove(junitPath) // a fresh file per nightly
	cells := m.Cells(time.Now())
	fmt.Fprintf(progress, "nightly: %d runs of %s each, output in %s\n", len(cells), m.Time, m.Out)
	if m.hasSimCell() {
		fmt.Fprintf(progress, "nightly: then the sim cell, seeds %s\n", m.SimSeeds)
	}
	t0 := time.Now()
	var results []Result
	for i, c := range cells {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(progress, "[%d/%d] %s seed=%d ... ", i+1, len(cells), c.Name(), c.Seed)
		r := m.runCell(ctx, c, log)
		results = append(results, r)
		fmt.Fprintf(progress, "%s in %s %s\n", r.verdictLabel(), r.Duration.Round(time.Second), r.RunDir)
		if err := junit.Append(junitPath, junit.Case{Suite: "nightly." + c.Backend, Name: c.Name(),
			Verdict: r.Verdict, Code: r.Code, Reason: r.Reason, RunDir: r.RunDir, Seed: c.Seed,
			Time: r.Duration, Output: r.Line, HarnessError: r.HarnessError, AllowUnknown: c.AllowUnknown,
			Reached: r.reachedString()}); err != nil {
			return results, err
		}
		if r.Failed() && r.RunDir != "" {
			if err := copyDir(r.RunDir, filepath.Join(m.Out, "failed", c.Name())); err != nil {
				log.Warn("copy failing run", "run", r.RunDir, "err", err)
			}
		}
	}
	if m.hasSimCell() && ctx.Err() == nil {
		fmt.Fprintf(progress, "[sim] %s seeds=%s ... ", SimCellName, m.SimSeeds)
		r := m.runSim(ctx, log)
		results = append(results, r)
		fmt.Fprintf(progress, "%s in %s %s\n", r.verdictLabel(), r.Duration.Round(time.Second), r.RunDir)
		for _, c := range simJUnit(r) {
			if err := junit.Append(junitPath, c); err != nil {
				return results, err
			}
		}
	}
	summary := Summary(results, time.Since(t0))
	if err := os.WriteFile(filepath.Join(m.Out, "summary.md"), []byte(summary), 0o644); err != nil {
		return results, fmt.Errorf("nightly: %w", err)
	}
	fmt.Fprint(progress, "\n"+summary)
	if ctx.Err() != nil {
		return results, fmt.Errorf("nightly interrupted after %d of %d runs: %w", len(results), len(cells), ctx.Err())
	}
	return results, nil
}

// runCell runs one torture process and reads its verdict from the exit code
// and the last line.
func (m *Matrix) runCell(ctx context.Context, c Cell, log *slog.Logger) Result {
	timeout := m.Time + m.Timeout
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := m.Args(c)
	t0 := time.Now()
	out, code, err := m.torture(rctx, args)
	r := Result{Cell: c, Duration: time.Since(t0), Code: code}
	log.Debug("torture run", "args", args, "err", err)
	r.RunDir, r.Line, r.Reason, r.Ops = parseOutput(out)
	var res *checker.Result
	if r.RunDir != "" {
		if x, err := checker.ReadResult(r.RunDir); err == nil {
			res, r.Reached = x, &x.Reached
		}
	}
	// The verdict line cuts long reasons: the checker's whole reason is in
	// results.json, and a harness error beside the verdict in the log.
	r.HarnessError = harnessError(out, r.Reason)
	if before, _, ok := strings.Cut(r.Reason, "; harness error: "); ok {
		r.Reason = before
	}
	if res != nil && strings.HasSuffix(r.Reason, "...") && strings.HasPrefix(res.Reason, strings.TrimSuffix(r.Reason, "...")) {
		r.Reason = res.Reason
	}
	stopped := rctx.Err() != nil && ctx.Err() == nil
	switch {
	case r.Code == exitValid:
		r.Verdict = "valid"
	case r.Code == exitInvalid || strings.HasPrefix(r.Line, "INVALID "):
		// A violation wins over whatever else went wrong; a harness error
		// is reported beside it.
		r.Verdict = "invalid"
		if r.HarnessError != "" {
			r.Reason += "; harness error: " + r.HarnessError
		}
	case r.Code == exitUnknown:
		r.Verdict = "unknown"
		if stopped {
			r.Reason = fmt.Sprintf("stopped after %s: %s", timeout, r.Reason)
		}
	default:
		r.Verdict = "error"
		if r.Reason == "" {
			r.Reason = fmt.Sprintf("torture exited: %v", err)
		}
		if stopped {
			r.Reason = fmt.Sprintf("no verdict within %s: %s", timeout, r.Reason)
		}
		if r.HarnessError == "" {
			r.HarnessError = r.Reason
		}
	}
	if r.Code != exitValid {
		// Keep the tail of the output with the failure, for the log.
		if r.RunDir != "" {
			_ = os.WriteFile(filepath.Join(r.RunDir, "nightly-output.txt"), []byte(out), 0o644)
		}
	}
	return r
}

// parseOutput finds the run directory, the verdict line and its reason in
// torture's output. The verdict line is the last; the run directory is also
// on the first line ("torture: NAME seed=S run=DIR"), which is all there is
// when a run dies.
func parseOutput(out string) (runDir, line, reason, ops string) {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines []string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "torture: ") {
			if v := field(l, "run="); v != "" {
				runDir = v
			}
		}
	}
	if len(lines) == 0 {
		return runDir, "", "", ""
	}
	line = lines[len(lines)-1]
	if v := field(line, "run="); v != "" && v != "-" {
		runDir = v
	}
	var parts []string
	for _, k := range []string{"ops=", "ok=", "fail=", "info="} {
		if v := field(line, k); v != "" {
			parts = append(parts, k+v)
		}
	}
	ops = strings.Join(parts, " ")
	if i := strings.Index(line, ` reason="`); i >= 0 {
		if s, err := strconv.QuotedPrefix(line[i+len(" reason="):]); err == nil {
			reason, _ = strconv.Unquote(s)
		}
	}
	return runDir, line, reason, ops
}

// harnessError finds the harness failure reported beside a verdict:
// torture logs it in full ("msg=\"harness failed\" err=..."), and appends
// it to an invalid run's reason ("; harness error: ..."), which the verdict
// line may cut.
func harnessError(out, reason string) string {
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, `msg="harness failed"`) {
			continue
		}
		if _, v, ok := strings.Cut(l, " err="); ok {
			if s, err := strconv.QuotedPrefix(v); err == nil {
				if u, err := strconv.Unquote(s); err == nil {
					return u
				}
			}
			if f := strings.Fields(v); len(f) > 0 {
				return f[0]
			}
		}
	}
	if _, v, ok := strings.Cut(reason, "; harness error: "); ok {
		return v
	}
	return ""
}

// verdictLabel is the verdict for people: upper case, and saying when an
// unknown is allowed or a harness error came with the verdict.
func (r Result) verdictLabel() string {
	v := strings.ToUpper(r.Verdict)
	if r.Verdict == "unknown" && r.Cell.AllowUnknown != "" {
		v += " (allowed)"
	}
	if r.HarnessError != "" && r.Verdict != "error" {
		v += " + HARNESS ERROR"
	}
	return v
}

// reachedString is the run's reached counts on one line, or "" when the
// run left no results.json.
func (r Result) reachedString() string {
	if r.Reached == nil {
		return ""
	}
	return r.Reached.String()
}

// field returns the value of a space-separated key=value field.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, key) {
			return strings.TrimPrefix(f, key)
		}
	}
	return ""
}

// Summary renders the results as a Markdown table with totals.
func Summary(results []Result, took time.Duration) string {
	var b strings.Builder
	count := map[string]int{}
	failed := 0
	for _, r := range results {
		count[r.Verdict]++
		if r.Failed() {
			failed++
		}
	}
	fmt.Fprintf(&b, "## ARES torture nightly: %d runs in %s: %d failed; %d valid, %d invalid, %d unknown, %d harness errors\n\n",
		len(results), took.Round(time.Second), failed, count["valid"], count["invalid"], count["unknown"], count["error"])
	b.WriteString("| backend | dap | nemesis | seed | verdict | operations | reached | time | run |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		v := r.verdictLabel()
		if r.Failed() {
			v = "**" + v + "**"
		}
		run := r.RunDir
		var why []string
		// The harness error beside a verdict gets its own place, so that
		// cutting a long reason does not lose it.
		reason, _, _ := strings.Cut(r.Reason, "; harness error: ")
		if reason != "" && r.Verdict != "valid" {
			why = append(why, cut(reason, 100))
		}
		if r.HarnessError != "" && r.Verdict != "error" {
			why = append(why, "harness error: "+cut(r.HarnessError, 100))
		}
		if r.Verdict == "unknown" && r.Cell.AllowUnknown != "" {
			why = append(why, "allowed: "+r.Cell.AllowUnknown)
		}
		if len(why) > 0 {
			run += " (" + strings.Join(why, "; ") + ")"
		}
		reached := r.reachedString()
		if reached == "" {
			reached = "–"
		}
		seed := fmt.Sprintf("%s %d", r.Cell.SeedKind, r.Cell.Seed)
		if r.Sim != nil {
			seed = r.Sim.Seeds // the kind is the seed list
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Cell.Backend, r.Cell.DAP, r.Cell.Nemesis,
			seed, v, r.Ops, reached, r.Duration.Round(time.Second), strings.ReplaceAll(run, "|", "/"))
	}
	for _, r := range results {
		if r.Sim != nil {
			b.WriteString(simSection(r))
		}
	}
	return b.String()
}

// cut shortens s to at most n bytes, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// copyDir copies a run directory (regular files and directories) to dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil // sockets, symlinks: not needed to re-check a run
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

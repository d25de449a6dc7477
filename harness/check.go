package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/history"
)

// ChecksDir is the folder of a run where `torture check` puts each
// re-check's results, one subfolder per check.
const ChecksDir = "checks"

// CheckInput names what CheckRun checks and where it writes.
type CheckInput struct {
	// RunDir is the run whose history is checked; its test.json, if any,
	// names the test in the results.
	RunDir string
	// History is the history file; default RunDir/history.jsonl.
	History string
	// Out is where results.json and the report go; default RunDir. A
	// re-check (torture check) never writes over a run's own results.
	Out string
	// Timeout bounds the linearizability check; default the run default.
	Timeout time.Duration
	// OpenEnded accepts a history without its end-of-run line (one not
	// written by torture).
	OpenEnded bool
}

// CheckRun checks a history, writes results.json and the report, prints
// the report's path and returns the outcome (its Line is not printed). A
// history cut short by a malformed line is checked up to it: a violation
// in that prefix stands, but the outcome (and results.json) is at best
// unknown.
func CheckRun(ctx context.Context, in CheckInput, w io.Writer, log *slog.Logger) *Outcome {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if in.History == "" {
		in.History = filepath.Join(in.RunDir, HistoryFile)
	}
	if in.Out == "" {
		in.Out = in.RunDir
	}
	ops, rerr := history.ReadFile(in.History)
	var pe *history.ParseError
	if rerr != nil && !errors.As(rerr, &pe) {
		return failed(in.RunDir, Counts{}, rerr)
	}
	if pe != nil {
		log.Warn("history has a malformed line; checking the lines before it", "err", pe)
	}
	counts := countOps(ops)
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = DefaultOptions().CheckTimeout.D()
	}
	// The checker's own limits bound the cheap check and each diagnosis;
	// the context is the backstop that really ends it.
	cctx, cancel := context.WithTimeout(ctx, 2*timeout+30*time.Second)
	defer cancel()
	meta := checker.Meta{RunDir: in.RunDir}
	copts := checker.Options{Timeout: timeout, VerboseTimeout: min(timeout, checker.DefaultVerboseTimeout), OpenEnded: in.OpenEnded}
	if ti, err := ReadTestInfo(in.RunDir); err == nil {
		meta.Test = ti.Options.Name
		meta.Options = optionsMap(ti.Options)
		seed := ti.Options.Seed
		meta.Seed = &seed
		meta.Start = ti.Start
		meta.Versions = ti.Versions
		meta.Rerun = RerunCommand(in.RunDir)
		if ares.DAP(ti.Options.DAP) == ares.EC {
			copts.Reach.ECK = ti.Options.ECK // k of the initial configuration; later ones name theirs
		}
	}
	t0 := time.Now()
	// The checking stage on w: the checker can take a minute, and a
	// silent screen looks hung.
	cp := startCheckProgress(w, timeout)
	copts.Progress = cp.setStage
	res := checker.Check(cctx, ops, copts)
	cp.finish()
	if pe != nil {
		res.MarkIncomplete("history truncated: " + pe.Error())
	}
	log.Info("checked", "verdict", res.Verdict, "seconds", time.Since(t0).Seconds(), "ops", len(ops))

	if err := os.MkdirAll(in.Out, 0o755); err != nil {
		return failed(in.RunDir, counts, fmt.Errorf("results folder: %w", err))
	}
	if err := res.Write(in.Out, meta); err != nil {
		return failed(in.RunDir, counts, fmt.Errorf("write results: %w", err))
	}
	out := &Outcome{Code: res.ExitCode(), RunDir: in.RunDir, Verdict: string(res.Verdict), Reason: res.Reason, Counts: counts}
	if line := faultSummary(ops); line != "" {
		fmt.Fprintln(w, line)
	}
	if res.Reason != "" {
		fmt.Fprintf(w, "checker: %s: %s\n", res.Verdict, res.Reason)
	}
	fmt.Fprintf(w, "report: %s\n", filepath.Join(in.Out, ReportFile))
	return out
}

func countOps(ops []history.Op) Counts {
	var c Counts
	for _, o := range ops {
		switch o.Type {
		case history.Invoke:
			c.Invoked++
		case history.Ok:
			c.OK++
		case history.Fail:
			c.Fail++
		case history.Info:
			c.Info++
		}
	}
	return c
}

// optionsMap is o as results.json records it. Numbers stay json.Number:
// a float64 would round seeds beyond 2^53, and a copied seed would then
// rerun another test.
func optionsMap(o Options) map[string]any {
	b, err := json.Marshal(o)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return nil
	}
	return m
}

// RerunCommand is the command that runs the test of runDir again (same
// options and seed): `torture rerun <dir>`, with the directory made
// absolute when it can be and quoted for a POSIX shell when it needs to be.
func RerunCommand(runDir string) string {
	if abs, err := filepath.Abs(runDir); err == nil {
		runDir = abs
	}
	return "torture rerun " + posixQuote(runDir)
}

// posixQuote quotes s for a POSIX shell unless it is plain.
func posixQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:+=@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

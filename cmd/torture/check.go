package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/foreign"
	"github.com/ares-torture/torture/harness"
)

// cmdCheck is torture check: re-check a stored history, or (--format
// jepsen|porcupine-kv) convert a foreign history into a new run-like
// folder and check it there.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer, log *slog.Logger) int {
	fs := flag.NewFlagSet("torture check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := harness.DefaultOptions().CheckTimeout
	fs.Var(&timeout, "check-timeout", "time limit of the linearizability check")
	outDir := fs.String("out", "", "write results.json and the report here (default RUN_DIR/checks/TIME, or FILE's folder/checks/TIME); never over existing results")
	openEnded := fs.Bool("open-ended", false, "the history has no end-of-run line (it was not written by torture)")
	format := fs.String("format", string(foreign.Torture), "the history's format: torture (history.jsonl), jepsen (EDN register or cas-register history, plain or independent keys) or porcupine-kv (Porcupine's key-value log)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: torture check [--check-timeout 60s] [--out DIR] RUN_DIR|HISTORY.jsonl\n"+
			"       torture check --format jepsen|porcupine-kv [--out DIR] FILE\n\n"+
			"Re-checks a stored history without a cluster. The results go to a new folder,\n"+
			"RUN_DIR/checks/TIME (or --out DIR); the run's own results are never overwritten.\n"+
			"A foreign history (--format) is converted into that folder's history.jsonl, with\n"+
			"conversion.txt listing what was left out, and checked as with --open-ended.\n"+
			"Exit codes: 0 valid, 1 violation, 2 unknown, 3 harness failure.\n")
		fs.PrintDefaults()
	}
	// Flags may follow the run directory.
	if err := parseInterspersed(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return usageError(stdout, err.Error())
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return usageError(stdout, "check needs one RUN_DIR or history file")
	}
	if timeout <= 0 {
		// 0 would give up at once: every check unknown.
		return usageError(stdout, fmt.Sprintf("--check-timeout %v: want > 0", timeout))
	}
	f, err := foreign.ParseFormat(*format)
	if err != nil {
		return usageError(stdout, err.Error())
	}
	if f != foreign.Torture {
		return checkForeign(ctx, f, fs.Arg(0), *outDir, timeout.D(), stdout, log)
	}
	in := harness.CheckInput{RunDir: fs.Arg(0), Timeout: timeout.D(), OpenEnded: *openEnded}
	st, err := os.Stat(in.RunDir)
	if err != nil {
		return usageError(stdout, err.Error())
	}
	if !st.IsDir() {
		in.History, in.RunDir = in.RunDir, filepath.Dir(in.RunDir)
	}
	if resolved, err := filepath.EvalSymlinks(in.RunDir); err == nil {
		in.RunDir = resolved // runs/latest names the run it points at
	}
	in.Out = *outDir
	if in.Out == "" {
		in.Out = filepath.Join(in.RunDir, harness.ChecksDir, time.Now().UTC().Format("20060102T150405.000"))
	}
	if _, err := os.Stat(filepath.Join(in.Out, checker.ResultsFile)); err == nil {
		return usageError(stdout, fmt.Sprintf("--out %s already holds results; give a new folder", in.Out))
	}
	out := harness.CheckRun(ctx, in, stdout, log)
	fmt.Fprintln(stdout, out.Line())
	return out.Code
}

// checkForeign converts and checks the foreign history file.
func checkForeign(ctx context.Context, f foreign.Format, file, outDir string, timeout time.Duration, stdout io.Writer, log *slog.Logger) int {
	st, err := os.Stat(file)
	if err != nil {
		return usageError(stdout, err.Error())
	}
	if st.IsDir() {
		return usageError(stdout, fmt.Sprintf("--format %s needs a history file, and %s is a folder", f, file))
	}
	out := foreign.CheckFile(ctx, foreign.CheckInput{Format: f, File: file, Out: outDir, Timeout: timeout}, stdout, log)
	fmt.Fprintln(stdout, out.Line())
	return out.Code
}

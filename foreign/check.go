package foreign

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
)

// NotesFile is the file of a converted run that says where the history
// came from and lists every operation left out, with the reason.
const NotesFile = "conversion.txt"

// WriteRun writes the converted history as dir/history.jsonl and the
// conversion's notes as dir/conversion.txt, creating dir. It never
// overwrites: a dir that already holds a history, notes or results is
// refused.
func (c *Conversion) WriteRun(dir string) error {
	for _, name := range []string{harness.HistoryFile, NotesFile, checker.ResultsFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("%s already holds %s; give a new folder", dir, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var h strings.Builder
	enc := json.NewEncoder(&h)
	for _, o := range c.Ops {
		if err := enc.Encode(o); err != nil {
			return err
		}
	}
	if err := writeNew(filepath.Join(dir, harness.HistoryFile), h.String()); err != nil {
		return err
	}
	return writeNew(filepath.Join(dir, NotesFile), c.NotesText())
}

// writeNew creates path (refusing an existing file) with content s.
func writeNew(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Summary is the conversion in one line.
func (c *Conversion) Summary() string {
	src := c.Source
	if src == "" {
		src = "input"
	}
	client, nemesis := 0, 0
	for _, s := range c.Skipped {
		if s.Client {
			client++
		} else {
			nemesis++
		}
	}
	keys := map[string]bool{}
	for _, o := range c.Ops {
		if o.Key != "" {
			keys[o.Key] = true
		}
	}
	s := fmt.Sprintf("converted %s (%s): %d operations on %d keys", src, c.Format, c.Converted, len(keys))
	if client > 0 {
		s += fmt.Sprintf("; %d client lines left out, not checked", client)
	}
	if nemesis > 0 {
		s += fmt.Sprintf("; %d nemesis lines left out", nemesis)
	}
	return s
}

// NotesText is the text of conversion.txt: the source, the summary, the
// notes, why the check cannot be valid (if so) and every line left out.
func (c *Conversion) NotesText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "format: %s\nsource: %s\n%s\n", c.Format, c.Source, c.Summary())
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	if len(c.Ops) > 0 {
		if e := c.Ops[len(c.Ops)-1].Error; e != "" {
			fmt.Fprintf(&b, "not checked, so the verdict is at best unknown: %s\n", e)
		}
	}
	if len(c.Skipped) > 0 {
		fmt.Fprintf(&b, "\nleft out (%d lines):\n", len(c.Skipped))
		for _, s := range c.Skipped {
			fmt.Fprintf(&b, "line %d: %s\n    %s\n", s.Line, s.Reason, s.Op)
		}
	}
	return b.String()
}

// CheckInput names the foreign history CheckFile checks and where it
// writes.
type CheckInput struct {
	Format Format
	// File is the foreign history.
	File string
	// Out is the new run-like folder of the converted history, its notes,
	// results.json and the report; default FILE's folder/checks/TIME.
	Out string
	// Timeout bounds the linearizability check; default the run default.
	Timeout time.Duration
}

// CheckFile converts the foreign history in.File, writes it into the new
// folder in.Out (history.jsonl and conversion.txt) and checks it there
// as `torture check --open-ended` would, writing results.json, the report
// and the visualizations. It prints the conversion's summary and the
// report's path to w and returns the outcome (its Line is not printed).
// A history that cannot be converted is a harness error (exit 3) whose
// reason names the lines; nothing is written then.
func CheckFile(ctx context.Context, in CheckInput, w io.Writer, log *slog.Logger) *harness.Outcome {
	fail := func(dir string, err error) *harness.Outcome {
		return &harness.Outcome{Code: harness.ExitHarness, RunDir: dir, Verdict: "error", Reason: err.Error(), Err: err}
	}
	if in.Out == "" {
		in.Out = DefaultOut(in.File)
	}
	c, err := ConvertFile(in.Format, in.File)
	if err != nil {
		// Every problem on its own line: the verdict line cuts its reason.
		var fe *Error
		if errors.As(err, &fe) {
			fmt.Fprintf(w, "cannot convert %s as a %s history (nothing was checked):\n", in.File, in.Format)
			for _, e := range fe.Errs {
				fmt.Fprintf(w, "  %v\n", e)
			}
		} else {
			fmt.Fprintf(w, "cannot convert %s: %v\n", in.File, err)
		}
		return fail(in.File, err)
	}
	if err := c.WriteRun(in.Out); err != nil {
		fmt.Fprintf(w, "cannot write the converted history: %v\n", err)
		return fail(in.Out, err)
	}
	fmt.Fprintln(w, c.Summary())
	for _, n := range c.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "converted history: %s (left out: %s)\n", filepath.Join(in.Out, harness.HistoryFile), filepath.Join(in.Out, NotesFile))
	return harness.CheckRun(ctx, harness.CheckInput{RunDir: in.Out, Out: in.Out, Timeout: in.Timeout, OpenEnded: true}, w, log)
}

// DefaultOut is where a check of the foreign history file puts its run:
// FILE's folder/checks/TIME.
func DefaultOut(file string) string {
	return filepath.Join(filepath.Dir(file), harness.ChecksDir, time.Now().UTC().Format("20060102T150405.000"))
}

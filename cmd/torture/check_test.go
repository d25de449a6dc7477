package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/history"
)

// validOps is a valid history of 40 operations on one key, with its
// final read and its end line when whole.
func validOps(whole bool) []history.Op {
	var ops []history.Op
	t := int64(0)
	add := func(o history.Op) { t += 10; o.Time = t; ops = append(ops, o) }
	for i := 0; i < 20; i++ {
		v := fmt.Sprintf("v%d", i)
		add(history.Op{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "k", Value: v})
		add(history.Op{Type: history.Ok, Process: 0, F: history.FWrite, Key: "k", Value: v})
		add(history.Op{Type: history.Invoke, Process: 1, F: history.FRead, Key: "k"})
		add(history.Op{Type: history.Ok, Process: 1, F: history.FRead, Key: "k", Value: v})
	}
	if whole {
		add(history.Op{Type: history.End})
	}
	return ops
}

func writeRun(t *testing.T, ops []history.Op, tail string) string {
	t.Helper()
	dir := t.TempDir()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, o := range ops {
		if err := enc.Encode(o); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString(tail)
	if err := os.WriteFile(filepath.Join(dir, harness.HistoryFile), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// The run's own results, which a re-check must leave alone.
	if err := os.WriteFile(filepath.Join(dir, harness.ResultsFile), []byte(`{"verdict":"invalid"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkResults runs torture check and returns its exit code, output and
// the verdict its results.json gives.
func checkResults(t *testing.T, args ...string) (int, string, checker.Verdict) {
	t.Helper()
	var out bytes.Buffer
	code := Main(append([]string{"check"}, args...), &out, &out)
	var report string
	for _, l := range strings.Split(out.String(), "\n") {
		if r, ok := strings.CutPrefix(l, "report: "); ok {
			report = r
		}
	}
	if report == "" {
		return code, out.String(), ""
	}
	res, err := checker.ReadResult(filepath.Dir(report))
	if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), res.Verdict
}

func TestCheckWritesANewFolder(t *testing.T) {
	dir := writeRun(t, validOps(true), "")
	code, out, v := checkResults(t, dir)
	if code != harness.ExitValid || v != checker.Valid {
		t.Fatalf("exit %d verdict %s\n%s", code, v, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, harness.ResultsFile)); string(b) != `{"verdict":"invalid"}` {
		t.Fatalf("the run's results.json was overwritten: %s", b)
	}
	checks, _ := filepath.Glob(filepath.Join(dir, harness.ChecksDir, "*", harness.ResultsFile))
	if len(checks) != 1 {
		t.Fatalf("results of the re-check: %v\n%s", checks, out)
	}
	// --out: there, once; a second time into the same folder is refused.
	o := filepath.Join(t.TempDir(), "recheck")
	if code, out, v := checkResults(t, "--out", o, filepath.Join(dir, harness.HistoryFile)); code != 0 || v != checker.Valid {
		t.Fatalf("--out: exit %d verdict %s\n%s", code, v, out)
	}
	if code, out, _ := checkResults(t, dir, "--out", o); code != harness.ExitHarness || !strings.Contains(out, "already holds results") {
		t.Fatalf("--out over results: exit %d\n%s", code, out)
	}
}

func TestCheckTruncatedIsNeverValid(t *testing.T) {
	// A damaged last line: the prefix is valid, but not the whole history.
	dir := writeRun(t, validOps(true), `{"type":"ok","process":`+"\n")
	code, out, v := checkResults(t, dir)
	if code != harness.ExitUnknown || v != checker.Unknown || !strings.Contains(out, "truncated") {
		t.Fatalf("exit %d results %s\n%s", code, v, out)
	}
	// No end line: cut short.
	dir = writeRun(t, validOps(false), "")
	if code, out, v := checkResults(t, dir); code != harness.ExitUnknown || v != checker.Unknown || !strings.Contains(out, "end-of-run") {
		t.Fatalf("no end line: exit %d results %s\n%s", code, v, out)
	}
	if code, out, _ := checkResults(t, "--open-ended", dir); code != harness.ExitValid {
		t.Fatalf("--open-ended: exit %d\n%s", code, out)
	}
	// Pending operations and no final reads.
	ops := validOps(false)
	ops = append(ops,
		history.Op{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "k", Value: "late", Time: 1000},
		history.Op{Type: history.Invoke, Process: 1, F: history.FRead, Key: "k", Time: 1001},
		history.Op{Type: history.End, Time: 1002})
	dir = writeRun(t, ops, "")
	if code, out, v := checkResults(t, dir); code != harness.ExitUnknown || v != checker.Unknown || !strings.Contains(out, "no completion") {
		t.Fatalf("pending: exit %d results %s\n%s", code, v, out)
	}
}

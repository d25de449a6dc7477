package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{4}, 4, true},
		{[]float64{3, 1, 2}, 2, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
		{[]float64{5, 5, 1, 9, 7}, 5, true},
	} {
		in := append([]float64(nil), c.in...)
		got, ok := median(in)
		if got != c.want || ok != c.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Errorf("median sorted its argument: %v", in)
				break
			}
		}
	}
}

func ns(v int64) *int64 { return &v }

func TestFirstViolation(t *testing.T) {
	lin := func(invoke int64, complete *int64) checker.Anomaly {
		return checker.Anomaly{Checker: checker.CheckLinearizability, Key: "k", Op: &checker.OpRef{Invoke: invoke, Complete: complete}}
	}
	dur := func(invoke int64, complete *int64) checker.Anomaly {
		return checker.Anomaly{Checker: checker.CheckDurability, Key: "k", Op: &checker.OpRef{Invoke: invoke, Complete: complete}}
	}
	for _, c := range []struct {
		name string
		as   []checker.Anomaly
		want int64
		by   string
		ok   bool
	}{
		{"none", nil, 0, "", false},
		{"completion, not invocation", []checker.Anomaly{lin(100, ns(900))}, 900, checker.CheckLinearizability, true},
		{"smallest of several keys", []checker.Anomaly{lin(100, ns(900)), lin(200, ns(300)), lin(50, ns(700))},
			300, checker.CheckLinearizability, true},
		{"pending op: its invocation", []checker.Anomaly{lin(100, ns(900)), lin(400, nil)}, 400, checker.CheckLinearizability, true},
		// A durability anomaly names the final read; linearizability
		// pins the real point, so it wins even when later.
		{"linearizability before durability", []checker.Anomaly{dur(10, ns(20)), lin(100, ns(900))},
			900, checker.CheckLinearizability, true},
		{"durability fallback", []checker.Anomaly{{Checker: checker.CheckLinearizability, Key: "k"}, dur(10, ns(20)), dur(5, ns(30))},
			20, checker.CheckDurability, true},
		{"anomalies without an op", []checker.Anomaly{{Checker: checker.CheckLinearizability}, {Checker: checker.CheckDurability}},
			0, "", false},
		{"other checkers ignored", []checker.Anomaly{{Checker: checker.CheckHistory, Op: &checker.OpRef{Invoke: 1}}}, 0, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, by, upper, ok := firstViolation(&checker.Result{Verdict: checker.Invalid, Anomalies: c.as})
			if got != c.want || by != c.by || ok != c.ok || upper {
				t.Fatalf("got %d %q upper=%v %v; want %d %q exact %v", got, by, upper, ok, c.want, c.by, c.ok)
			}
		})
	}
	if _, _, _, ok := firstViolation(nil); ok {
		t.Fatal("nil result has a violation")
	}
}

// TestFirstViolationUpperBound: a key whose search ran out makes the time
// an upper bound, even when another key's exact time is the smallest (the
// key that ran out may have failed earlier still).
func TestFirstViolationUpperBound(t *testing.T) {
	at := func(n int64) *checker.OpRef { return &checker.OpRef{Invoke: n - 1, Complete: &n} }
	exact := checker.Anomaly{Checker: checker.CheckLinearizability, Key: "a", Op: at(300)}
	bound := checker.Anomaly{Checker: checker.CheckLinearizability, Key: "b", Op: at(900), OpUpperBound: true}
	for _, c := range []struct {
		name  string
		as    []checker.Anomaly
		want  int64
		upper bool
	}{
		{"exact only", []checker.Anomaly{exact}, 300, false},
		{"bound only", []checker.Anomaly{bound}, 900, true},
		{"exact smaller, bound elsewhere", []checker.Anomaly{bound, exact}, 300, true},
	} {
		got, _, upper, ok := firstViolation(&checker.Result{Anomalies: c.as})
		if !ok || got != c.want || upper != c.upper {
			t.Errorf("%s: got %d upper=%v ok=%v; want %d upper=%v", c.name, got, upper, ok, c.want, c.upper)
		}
	}
	runs := []bugRun{
		{Bug: "x", Outcome: outFound, FirstViolationNS: ptr(int64(2e9)), FirstViolationUpperBound: true},
		{Bug: "x", Outcome: outFound, FirstViolationNS: ptr(int64(1e9))},
	}
	sums := summarizeBugs([]ares.Bug{"x"}, runs)
	var b strings.Builder
	printBugTable(&b, sums)
	if sums[0].UpperBounds != 1 || !strings.Contains(b.String(), "2/2 (1 time(s) upper bounds)") {
		t.Fatalf("summary %+v; table:\n%s", sums[0], b.String())
	}
}

// TestBugTableConflictSizes: a run's smallest minimal conflict is its
// figure, and the table spreads them over the found runs that had one.
func TestBugTableConflictSizes(t *testing.T) {
	ops := func(n int) *checker.Conflict { return &checker.Conflict{Ops: make([]checker.ConflictOp, n)} }
	res := &checker.Result{Anomalies: []checker.Anomaly{{Conflict: ops(5)}, {}, {Conflict: ops(3)}, {Conflict: &checker.Conflict{Note: "no time"}}}}
	if n := smallestConflict(res); n == nil || *n != 3 {
		t.Fatalf("smallest conflict %v, want 3", n)
	}
	if n := smallestConflict(&checker.Result{Anomalies: []checker.Anomaly{{Checker: checker.CheckDurability}}}); n != nil {
		t.Fatalf("a run without conflicts has size %d", *n)
	}
	runs := []bugRun{
		{Bug: "x", Outcome: outFound, ConflictOps: ptr(4)},
		{Bug: "x", Outcome: outFound, ConflictOps: ptr(2)},
		{Bug: "x", Outcome: outFound},
		{Bug: "x", Outcome: outNotFound},
	}
	var b strings.Builder
	printBugTable(&b, summarizeBugs([]ares.Bug{"x"}, runs))
	if !strings.Contains(b.String(), "2/3/4 (2 of 3)") {
		t.Fatalf("table:\n%s", b.String())
	}
}

// TestFirstViolationFromResultsJSON: the extraction works on what
// checker.ReadResult gives back from a stored results.json.
func TestFirstViolationFromResultsJSON(t *testing.T) {
	dir := t.TempDir()
	res := `{"verdict":"invalid","reason":"x","checkers":{},"anomalies":[
		{"checker":"durability","key":"k1","description":"lost","op":{"line":90,"invoke_ns":5000,"complete_ns":6000}},
		{"checker":"linearizability","key":"k0","description":"stale","op":{"line":7,"invoke_ns":1500000000,"complete_ns":1750000000}}]}`
	if err := os.WriteFile(filepath.Join(dir, harness.ResultsFile), []byte(res), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := checker.ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, by, _, ok := firstViolation(r); !ok || got != 1750000000 || by != checker.CheckLinearizability {
		t.Fatalf("got %d %q %v", got, by, ok)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		code        int
		interrupted bool
		want        string
	}{
		{harness.ExitValid, false, outNotFound},
		{harness.ExitInvalid, false, outFound},
		{harness.ExitUnknown, false, outUnknown},
		{harness.ExitHarness, false, outHarness},
		{harness.ExitInvalid, true, outFound}, // a violation is definitive
		{harness.ExitUnknown, true, outInterrupted},
		{harness.ExitValid, true, outInterrupted},
		{harness.ExitHarness, true, outHarness},
	} {
		if got := classify(c.code, c.interrupted); got != c.want {
			t.Errorf("classify(%d, %v) = %q, want %q", c.code, c.interrupted, got, c.want)
		}
	}
}

func TestSummarizeBugs(t *testing.T) {
	sec := func(s float64) *int64 { return ns(int64(s * float64(time.Second))) }
	runs := []bugRun{
		{Bug: "a", Outcome: outFound, FirstViolationNS: sec(4), WallSeconds: 30},
		{Bug: "a", Outcome: outNotFound, WallSeconds: 20},
		{Bug: "a", Outcome: outFound, FirstViolationNS: sec(1), WallSeconds: 31},
		{Bug: "a", Outcome: outHarness, WallSeconds: 1}, // out of k/N and of the wall median
		{Bug: "a", Outcome: outFound, FirstViolationNS: sec(9), WallSeconds: 29},
		{Bug: "a", Outcome: outFound, WallSeconds: 40}, // found, no time: counted, no spread
		{Bug: "a", Outcome: outUnknown, WallSeconds: 50},
		{Bug: "b", Outcome: outNotFound, WallSeconds: 10},
		{Bug: "b", Outcome: outInterrupted, WallSeconds: 2},
	}
	sums := summarizeBugs([]ares.Bug{"a", "b", "c"}, runs)
	if len(sums) != 2 {
		t.Fatalf("%d summaries, want 2 (c never ran): %+v", len(sums), sums)
	}
	a, b := sums[0], sums[1]
	if a.Bug != "a" || a.Found != 4 || a.Runs != 6 || a.Unknown != 1 || a.HarnessFailures != 1 || a.Interrupted != 0 {
		t.Errorf("a: %+v", a)
	}
	if f := a.FirstViolationS; f == nil || f.Min != 1 || f.Median != 4 || f.Max != 9 {
		t.Errorf("a: first violation %+v, want 1/4/9", f)
	}
	// Walls 30 20 31 29 40 50: median (30+31)/2.
	if a.WallMedianS == nil || *a.WallMedianS != 30.5 {
		t.Errorf("a: wall median %v, want 30.5", a.WallMedianS)
	}
	if b.Found != 0 || b.Runs != 1 || b.Interrupted != 1 || b.FirstViolationS != nil || *b.WallMedianS != 10 {
		t.Errorf("b: %+v", b)
	}

	var out bytes.Buffer
	printBugTable(&out, sums)
	table := out.String()
	for _, want := range []string{"4/6 (1 unknown)", "1.0s", "4.0s", "9.0s", "30.5s", "1 harness failure(s)", "0/1", "1 interrupted"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestSummarizeOverhead(t *testing.T) {
	ms := []measurement{
		{Round: 1, Mode: modeHarness, OpsPerSec: 800},
		{Round: 1, Mode: modeDirect, OpsPerSec: 1000},
		{Round: 2, Mode: modeHarness, OpsPerSec: 600},
		{Round: 2, Mode: modeDirect, OpsPerSec: 1200},
		{Round: 3, Mode: modeHarness, OpsPerSec: 700}, // b cut short by Ctrl-C
	}
	s := summarizeOverhead(ms)
	if len(s.Rounds) != 3 {
		t.Fatalf("rounds %+v", s.Rounds)
	}
	if r := s.Rounds[0]; r.Round != 1 || *r.A != 800 || *r.B != 1000 || math.Abs(*r.Ratio-0.8) > 1e-9 {
		t.Errorf("round 1: %+v", r)
	}
	if r := s.Rounds[1]; r.Round != 2 || math.Abs(*r.Ratio-0.5) > 1e-9 {
		t.Errorf("round 2: %+v", r)
	}
	if r := s.Rounds[2]; r.Round != 3 || r.B != nil || r.Ratio != nil {
		t.Errorf("round 3: %+v", r)
	}
	// Medians over every measurement: a of 800 600 700, b of 1000 1200.
	if *s.MedianA != 700 || *s.MedianB != 1100 || math.Abs(*s.Ratio-700.0/1100) > 1e-9 {
		t.Errorf("medians %v %v ratio %v", *s.MedianA, *s.MedianB, *s.Ratio)
	}
	if e := summarizeOverhead(nil); e.MedianA != nil || e.Ratio != nil || len(e.Rounds) != 0 {
		t.Errorf("empty: %+v", e)
	}
	var out bytes.Buffer
	printOverheadTable(&out, s)
	if !strings.Contains(out.String(), "0.64") || !strings.Contains(out.String(), "median") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestBenchFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "bench needs a suite"},
		{[]string{"bench", "nope"}, `unknown bench suite "nope"`},
		{[]string{"bench", "bugs", "--seeds", "0"}, "--seeds 0: want at least 1"},
		{[]string{"bench", "bugs", "--bug", "nope"}, `--bug: unknown bug "nope"`},
		{[]string{"bench", "bugs", "--bug", ""}, "--bug: empty"},
		{[]string{"bench", "bugs", "--time", "0s"}, "--time 0s: want > 0"},
		{[]string{"bench", "bugs", "--time", "soon"}, `bad duration "soon"`},
		{[]string{"bench", "bugs", "--store", ""}, "--store: empty"},
		{[]string{"bench", "bugs", "--nope"}, "flag provided but not defined: -nope"},
		{[]string{"bench", "bugs", "extra"}, `unexpected argument "extra"`},
		{[]string{"bench", "bugs", "--server-bin", "/nonexistent/ares-server"}, "--server-bin"},
		{[]string{"bench", "overhead", "--rounds", "0"}, "--rounds 0: want at least 1"},
		{[]string{"bench", "overhead", "--clients", "0"}, "--clients 0: want at least 1"},
		{[]string{"bench", "overhead", "--servers", "-1"}, "--servers -1: want at least 1"},
		{[]string{"bench", "overhead", "--keys", "0"}, "--keys 0: want at least 1"},
		{[]string{"bench", "overhead", "--time", "-1s"}, "--time -1s: want > 0"},
		{[]string{"bench", "overhead", "--store", ""}, "--store: empty"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(c.args, &stdout, &stderr)
			if code != harness.ExitHarness {
				t.Fatalf("exit %d, want %d\n%s", code, harness.ExitHarness, stdout.String())
			}
			// One line on stdout: the verdict, with the reason.
			out := strings.TrimSpace(stdout.String())
			_, quoted, _ := strings.Cut(out, " reason=")
			reason, err := strconv.Unquote(quoted)
			if strings.Contains(out, "\n") || !strings.HasPrefix(out, "ERROR run=-") || err != nil || !strings.Contains(reason, c.want) {
				t.Fatalf("stdout %q, want one ERROR line whose reason contains %q", out, c.want)
			}
		})
	}
	for _, args := range [][]string{{"bench", "--help"}, {"bench", "bugs", "--help"}, {"bench", "overhead", "-h"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(args, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "usage: torture bench") {
			t.Errorf("%v: exit %d\n%s", args, code, stdout.String())
		}
	}
}

func TestWriteBenchFile(t *testing.T) {
	store := t.TempDir()
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	p1, err := writeBenchFile(store, "bugs", start, map[string]int{"n": 1})
	if err != nil {
		t.Fatal(err)
	}
	p2, err := writeBenchFile(store, "bugs", start, map[string]int{"n": 2})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(store, "bench", "bugs-20250102T030405.json"); p1 != want {
		t.Errorf("first file %s, want %s", p1, want)
	}
	if p2 == p1 || !strings.HasPrefix(filepath.Base(p2), "bugs-20250102T030405.") {
		t.Errorf("second file %s overwrote or misnamed (first %s)", p2, p1)
	}
	var v map[string]int
	if b, err := os.ReadFile(p1); err != nil || json.Unmarshal(b, &v) != nil || v["n"] != 1 {
		t.Errorf("first file: %s %v", b, err)
	}
}

// TestBenchOverhead: one short round of both modes on real servers.
func TestBenchOverhead(t *testing.T) {
	needBinaries(t)
	store := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main([]string{"bench", "overhead", "--time", "2s", "--rounds", "1", "--clients", "4", "--servers", "3",
		"--store", store, "--server-bin", filepath.Join(binDir, "ares-server")}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var f overheadFile
	readBenchFile(t, store, "overhead-", &f)
	if len(f.Measurements) != 2 || f.Measurements[0].Mode != modeHarness || f.Measurements[1].Mode != modeDirect {
		t.Fatalf("measurements %+v", f.Measurements)
	}
	for _, m := range f.Measurements {
		if m.Ops < 1 || m.OpsPerSec <= 0 || m.Seconds < 2 {
			t.Errorf("measurement %+v", m)
		}
	}
	if f.Summary.Ratio == nil {
		t.Errorf("no ratio: %+v", f.Summary)
	}
	// The clusters' work tree is gone; only the figures stay.
	if ents, _ := os.ReadDir(filepath.Join(store, BenchDir)); len(ents) != 1 {
		t.Errorf("bench dir holds %d entries, want the figures only", len(ents))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "BENCH overhead a/b=") {
		t.Errorf("last line %q", last)
	}
}

// TestBenchBugs: one run of one bug, its figures read back from the run.
// Whether seed 1 finds the bug is not asserted (TestBugsFound is about
// that); the run must reach a verdict and, if found, have a time.
func TestBenchBugs(t *testing.T) {
	needBinaries(t)
	store := t.TempDir()
	var stdout, stderr bytes.Buffer
	// --time overrides the shape's 20 s: a short run keeps CI short.
	code := Main([]string{"bench", "bugs", "--bug", "volatile", "--seeds", "1", "--time", "5s", "--store", store,
		"--server-bin", filepath.Join(binDir, "ares-server")}, &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var f bugsFile
	readBenchFile(t, store, "bugs-", &f)
	if len(f.Runs) != 1 || len(f.Summary) != 1 {
		t.Fatalf("runs %+v summary %+v", f.Runs, f.Summary)
	}
	r := f.Runs[0]
	assertNothingLeft(t, r.RunDir, 0)
	if r.Bug != "volatile" || r.Seed != 1 || r.WallSeconds <= 0 || r.RunTimeSeconds != 5 {
		t.Errorf("run %+v", r)
	}
	switch r.Outcome {
	case outFound:
		if r.FirstViolationNS == nil || *r.FirstViolationNS <= 0 || r.Exit != harness.ExitInvalid {
			t.Errorf("found without a time: %+v", r)
		}
	case outNotFound, outUnknown:
	default:
		t.Fatalf("outcome %q: %s", r.Outcome, r.Reason)
	}
	if s := f.Summary[0]; s.Runs != 1 || (s.Found == 1) != (r.Outcome == outFound) {
		t.Errorf("summary %+v", s)
	}
	if b, err := os.ReadFile(filepath.Join(r.RunDir, benchOutFile)); err != nil || !strings.Contains(string(b), "run="+r.RunDir) {
		t.Errorf("%s: %v\n%s", benchOutFile, err, b)
	}
}

// readBenchFile decodes the one STORE/bench/<prefix>*.json into v.
func readBenchFile(t *testing.T, store, prefix string, v any) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(store, BenchDir, prefix+"*.json"))
	if len(files) != 1 {
		t.Fatalf("bench files %v, want one %s*.json", files, prefix)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", files[0], err)
	}
}

func ptr[T any](v T) *T { return &v }

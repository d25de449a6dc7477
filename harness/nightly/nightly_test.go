package nightly

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/harness/junit"
)

func TestParseOutput(t *testing.T) {
	out := `torture: nightly-local-abd-kill-fixed seed=1 run=runs/x/20260101T000000-1
[8s/8s running] ops=10
checker: invalid: ...
INVALID run=runs/x/20260101T000000-1 ops=100 ok=90 fail=5 info=5 reason="linearizability: 1 of 1 keys not linearizable: \"k0\""
`
	dir, line, reason, ops := parseOutput(out)
	if dir != "runs/x/20260101T000000-1" || !strings.HasPrefix(line, "INVALID") {
		t.Errorf("dir %q line %q", dir, line)
	}
	if reason != `linearizability: 1 of 1 keys not linearizable: "k0"` {
		t.Errorf("reason %q", reason)
	}
	if ops != "ops=100 ok=90 fail=5 info=5" {
		t.Errorf("ops %q", ops)
	}
	// A run that died after its first line still names its directory.
	if dir, _, _, _ := parseOutput("torture: n seed=2 run=runs/y/2\npanic: boom\n"); dir != "runs/y/2" {
		t.Errorf("dir of a dead run: %q", dir)
	}
	if dir, _, _, _ := parseOutput(""); dir != "" {
		t.Errorf("dir of no output: %q", dir)
	}
}

func testMatrix(out string) *Matrix {
	return &Matrix{Backends: []string{"local", "docker"}, DAPs: AllDAPs, Nemeses: AllNemeses, Seeds: AllSeeds,
		FixedSeed: 7, ECK: 3, Time: 10 * time.Second, Interval: 2 * time.Second, Torture: "torture", Out: out,
		Timeout: time.Minute}
}

func TestCellsAndArgs(t *testing.T) {
	m := testMatrix("out")
	cells := m.Cells(time.Unix(1000, 0))
	if len(cells) != 2*3*6*2 {
		t.Fatalf("%d cells, want 72", len(cells))
	}
	names := map[string]bool{}
	for _, c := range cells {
		if names[c.Name()] {
			t.Errorf("duplicate cell name %s", c.Name())
		}
		names[c.Name()] = true
		if c.SeedKind == "fixed" && c.Seed != 7 {
			t.Errorf("fixed seed %d", c.Seed)
		}
	}
	mixed := Cell{Backend: "docker", DAP: "mixed", Nemesis: "partition", SeedKind: "fixed", Seed: 7}
	args := strings.Join(m.Args(mixed), " ")
	for _, want := range []string{"--backend docker", "--dap abd", "--nemesis partition,reconfig", "--seed 7", "--time 10s", "--name nightly-docker-mixed-partition-fixed"} {
		if !strings.Contains(args, want) {
			t.Errorf("mixed args lack %q: %s", want, args)
		}
	}
	ec := Cell{Backend: "local", DAP: "ec", Nemesis: "all", SeedKind: "fresh", Seed: 9}
	if args := m.Args(ec); !slices.Contains(args, "--ec-k") || !slices.Contains(args, "all") {
		t.Errorf("ec args: %v", args)
	}
	m.Filter = "docker-ec-"
	for _, c := range m.Cells(time.Now()) {
		if c.Backend != "docker" || c.DAP != "ec" {
			t.Errorf("filter kept %s", c.Name())
		}
	}
	bad := testMatrix("out")
	bad.Backends = []string{"kubernetes"}
	if bad.Validate() == nil {
		t.Error("unknown backend accepted")
	}
}

// fakeTorture plays torture by cell name: partition is valid and leaves a
// results.json with reached counts, kill is invalid, pause and loss are
// unknown (pause with a reason the verdict line cut), reconfig is invalid with a harness error beside it.
const fakeTorture = `#!/bin/sh
name=; seed=; store=
while [ $# -gt 0 ]; do case "$1" in --name) name=$2; shift;; --seed) seed=$2; shift;; --store) store=$2; shift;; esac; shift; done
run="$store/$name/r-$seed"; mkdir -p "$run"; echo history > "$run/history.jsonl"
echo "torture: $name seed=$seed run=$run"
case "$name" in
  *partition*)
    echo '{"verdict":"valid","reason":"ok","checkers":{},"reached":{"writes_behind":3,"reads_across_restart":2,"ec_reads_at_k":-1,"protocol_fields":true}}' > "$run/results.json"
    echo "VALID run=$run ops=3 ok=3 fail=0 info=0"; exit 0;;
  *kill*) echo "INVALID run=$run ops=3 ok=3 fail=0 info=0 reason=\"bad\""; exit 1;;
  *pause*)
    echo '{"verdict":"unknown","reason":"reached: vacuous: nothing reached (faults: pause)","checkers":{},"reached":{"faults":["pause"],"protocol_fields":true}}' > "$run/results.json"
    echo "UNKNOWN run=$run ops=9 ok=9 fail=0 info=0 reason=\"reached: vacuous: nothing...\""; exit 2;;
  *loss*) echo "UNKNOWN run=$run ops=0 ok=0 fail=0 info=0 reason=\"gave up\""; exit 2;;
  *reconfig*)
    echo 'time=x level=ERROR msg="harness failed" err="stop cluster: boom"' >&2
    echo "INVALID run=$run ops=3 ok=3 fail=0 info=0 reason=\"lost; harness error: stop cl...\""; exit 1;;
esac
`

// TestRunWithFakeTorture runs a matrix against a shell script that plays
// torture: the exit codes become verdicts, JUnit cases, a summary with the
// reached counts, and the failing runs are copied. Unknown fails unless
// the cell allows it; invalid with a harness error fails, naming both.
func TestRunWithFakeTorture(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "torture")
	if err := os.WriteFile(fake, []byte(fakeTorture), 0o755); err != nil {
		t.Fatal(err)
	}
	m := testMatrix(filepath.Join(dir, "out"))
	m.Torture = fake
	m.Backends, m.DAPs, m.Seeds = []string{"local"}, []string{"abd"}, []string{"fixed"}
	m.Nemeses = []string{"partition", "kill", "pause", "loss", "reconfig"}
	m.AllowUnknown = []Allowance{{Cells: "-loss-", Reason: "loss starves the floor by design"}}
	var progress strings.Builder
	results, err := Run(context.Background(), m, &progress, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var verdicts, failed []string
	for _, r := range results {
		verdicts = append(verdicts, r.Verdict)
		if r.Failed() {
			failed = append(failed, r.Cell.Nemesis)
		}
	}
	if strings.Join(verdicts, ",") != "valid,invalid,unknown,unknown,invalid" || strings.Join(failed, ",") != "kill,pause,reconfig" {
		t.Fatalf("verdicts %v, failed %v", verdicts, failed)
	}
	if r := results[0]; r.Reached == nil || r.Reached.WritesBehind != 3 || r.Reached.ReadsAcrossRestart != 2 {
		t.Errorf("reached of the valid run: %+v", r.Reached)
	}
	if r := results[4]; r.HarnessError != "stop cluster: boom" {
		t.Errorf("harness error %q", r.HarnessError)
	}

	f, err := os.Open(filepath.Join(m.Out, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := junit.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 5 || doc.Failures != 3 || doc.Skipped != 1 || doc.Errors != 0 {
		t.Errorf("junit totals: tests %d failures %d skipped %d errors %d", doc.Tests, doc.Failures, doc.Skipped, doc.Errors)
	}
	byName := map[string]junit.TestCase{}
	for _, s := range doc.Suites {
		for _, tc := range s.Cases {
			byName[tc.Name] = tc
		}
	}
	if tc := byName["nightly-local-abd-pause-fixed"]; tc.Failure == nil || tc.Failure.Message != "unknown: reached: vacuous: nothing reached (faults: pause)" {
		t.Errorf("unknown cell: %+v", tc.Failure)
	}
	if tc := byName["nightly-local-abd-loss-fixed"]; tc.Skipped == nil || tc.Failure != nil ||
		tc.Skipped.Message != "unknown (allowed: loss starves the floor by design): gave up" {
		t.Errorf("allowed unknown cell: skipped %+v failure %+v", tc.Skipped, tc.Failure)
	}
	if tc := byName["nightly-local-abd-reconfig-fixed"]; tc.Failure == nil || tc.Failure.Type != "invalid" ||
		!strings.Contains(tc.Failure.Message, "harness error: stop cluster: boom") {
		t.Errorf("invalid with harness error: %+v", tc.Failure)
	}
	if tc := byName["nightly-local-abd-partition-fixed"]; !slices.Contains(tc.Properties, junit.Property{Name: "reached",
		Value: "reconfig-reads=0 later-config=0 ec-at-k=? behind=3 multi-config=0 across-restart=2 info-read=0"}) {
		t.Errorf("valid cell properties: %+v", tc.Properties)
	}

	for _, name := range []string{"nightly-local-abd-kill-fixed", "nightly-local-abd-pause-fixed"} {
		if _, err := os.Stat(filepath.Join(m.Out, "failed", name, "history.jsonl")); err != nil {
			t.Errorf("failing run not copied: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(m.Out, "failed", "nightly-local-abd-loss-fixed")); err == nil {
		t.Error("an allowed unknown run was copied as failing")
	}
	sum, err := os.ReadFile(filepath.Join(m.Out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"5 runs", "3 failed", "**INVALID**", "**UNKNOWN**", "| UNKNOWN (allowed) |",
		"allowed: loss starves the floor by design", "**INVALID + HARNESS ERROR**", "harness error: stop cluster: boom",
		"| reached |", "behind=3", "across-restart=2"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

func TestFailed(t *testing.T) {
	allowed := Cell{AllowUnknown: "why"}
	for _, c := range []struct {
		r    Result
		want bool
	}{
		{Result{Verdict: "valid", Code: exitValid}, false},
		{Result{Verdict: "invalid", Code: exitInvalid}, true},
		{Result{Verdict: "invalid", Code: exitInvalid, HarnessError: "boom"}, true},
		{Result{Verdict: "unknown", Code: exitUnknown}, true},
		{Result{Verdict: "unknown", Code: exitUnknown, Cell: allowed}, false},
		{Result{Verdict: "error", Code: exitHarness, Cell: allowed}, true},
	} {
		if got := c.r.Failed(); got != c.want {
			t.Errorf("%+v: failed %v, want %v", c.r, got, c.want)
		}
	}
}

func TestAllowUnknown(t *testing.T) {
	if _, err := ParseAllowance("docker-ec"); err == nil {
		t.Error("allowance without a reason accepted")
	}
	a, err := ParseAllowance(" docker-ec- = no netem on these kernels ")
	if err != nil || a != (Allowance{"docker-ec-", "no netem on these kernels"}) {
		t.Fatalf("%+v %v", a, err)
	}
	m := testMatrix("out")
	m.AllowUnknown = []Allowance{a}
	n := 0
	for _, c := range m.Cells(time.Now()) {
		want := c.Backend == "docker" && c.DAP == "ec"
		if (c.AllowUnknown != "") != want {
			t.Errorf("%s: allow %q", c.Name(), c.AllowUnknown)
		}
		if want {
			n++
		}
	}
	if n != 12 {
		t.Errorf("%d cells allowed, want 12", n)
	}
	m.AllowUnknown = []Allowance{{Cells: "x"}}
	if m.Validate() == nil {
		t.Error("allowance without a reason validated")
	}
}

func TestHarnessError(t *testing.T) {
	out := "torture: n seed=1 run=r\ntime=t level=ERROR msg=\"harness failed\" err=\"stop cluster: a \\\"b\\\"\"\nINVALID run=r"
	if got := harnessError(out, ""); got != `stop cluster: a "b"` {
		t.Errorf("from the log: %q", got)
	}
	if got := harnessError("", "lost; harness error: boom"); got != "boom" {
		t.Errorf("from the reason: %q", got)
	}
	if got := harnessError("INVALID run=r", "lost"); got != "" {
		t.Errorf("none: %q", got)
	}
}

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

// TestRunWithFakeTorture runs a matrix against a shell script that plays
// torture: the exit codes become verdicts, JUnit cases, a summary, and the
// failing run is copied.
func TestRunWithFakeTorture(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "torture")
	script := `#!/bin/sh
name=; seed=; store=
while [ $# -gt 0 ]; do case "$1" in --name) name=$2; shift;; --seed) seed=$2; shift;; --store) store=$2; shift;; esac; shift; done
run="$store/$name/r-$seed"; mkdir -p "$run"; echo history > "$run/history.jsonl"
echo "torture: $name seed=$seed run=$run"
case "$name" in
  *kill*) echo "INVALID run=$run ops=3 ok=3 fail=0 info=0 reason=\"bad\""; exit 1;;
  *pause*) echo "UNKNOWN run=$run ops=0 ok=0 fail=0 info=0 reason=\"gave up\""; exit 2;;
  *) echo "VALID run=$run ops=3 ok=3 fail=0 info=0"; exit 0;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	m := testMatrix(filepath.Join(dir, "out"))
	m.Torture = fake
	m.Backends, m.DAPs, m.Seeds = []string{"local"}, []string{"abd"}, []string{"fixed"}
	m.Nemeses = []string{"partition", "kill", "pause"}
	var progress strings.Builder
	results, err := Run(context.Background(), m, &progress, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var verdicts []string
	failed := 0
	for _, r := range results {
		verdicts = append(verdicts, r.Verdict)
		if r.Failed() {
			failed++
		}
	}
	if strings.Join(verdicts, ",") != "valid,invalid,unknown" || failed != 1 {
		t.Fatalf("verdicts %v, %d failed", verdicts, failed)
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
	if doc.Tests != 3 || doc.Failures != 1 || doc.Skipped != 1 {
		t.Errorf("junit totals: tests %d failures %d skipped %d", doc.Tests, doc.Failures, doc.Skipped)
	}
	if _, err := os.Stat(filepath.Join(m.Out, "failed", "nightly-local-abd-kill-fixed", "history.jsonl")); err != nil {
		t.Errorf("failing run not copied: %v", err)
	}
	sum, err := os.ReadFile(filepath.Join(m.Out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sum), "3 runs") || !strings.Contains(string(sum), "**INVALID**") {
		t.Errorf("summary:\n%s", sum)
	}
}

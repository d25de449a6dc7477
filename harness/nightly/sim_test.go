package nightly

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/harness/junit"
)

// fakeSimTorture plays torture sim and torture shrink: seeds 1..4 of
// which 2 and 4 are invalid and 3 unknown, each failing run kept; a
// shrink of seed 2's run succeeds, of seed 4's fails.
const fakeSimTorture = `#!/bin/sh
cmd=$1; shift
case "$cmd" in
sim)
  store=; name=
  while [ $# -gt 0 ]; do case "$1" in --store) store=$2; shift;; --name) name=$2; shift;; esac; shift; done
  dir="$store/$name"; mkdir -p "$dir/r-2" "$dir/r-3" "$dir/r-4"
  for s in 2 3 4; do echo history > "$dir/r-$s/history.jsonl"; done
  cat > "$dir/sim-summary-x.json" <<JSON
{"test":"$name","store":"$store","seeds":4,"ran":4,"workers":2,"cores":2,
 "counts":{"valid":1,"invalid":2,"unknown":1,"error":0},"ops":4000,"wall_s":2,"runs_per_s":2,"runs_per_s_per_core":1,
 "failing_run_dirs":["$dir/r-2","$dir/r-3","$dir/r-4"],
 "results":[{"seed":1,"verdict":"valid","exit":0,"ops":1000,"wall_s":0.5},
  {"seed":2,"verdict":"invalid","exit":1,"reason":"linearizability: k0","run_dir":"$dir/r-2","ops":1000,"wall_s":0.5},
  {"seed":3,"verdict":"unknown","exit":2,"reason":"gave up","run_dir":"$dir/r-3","ops":1000,"wall_s":0.5},
  {"seed":4,"verdict":"invalid","exit":1,"reason":"durability: k1","run_dir":"$dir/r-4","ops":1000,"wall_s":0.5}]}
JSON
  echo "seed 2 INVALID ..."
  echo "SIM seeds=4 valid=1 invalid=2 unknown=1 error=0 ops=4000 wall=2.0s summary=$dir/sim-summary-x.json"
  exit 1;;
shrink)
  run=; while [ $# -gt 0 ]; do case "$1" in --max-runs) shift;; *) run=$1;; esac; shift; done
  case "$run" in
  *r-2) mkdir -p "$run-shrunk"; echo small > "$run-shrunk/history.jsonl"; echo "SHRUNK run=$run-shrunk ops=12 runs=40"; exit 0;;
  *) echo "ERROR run=$run ops=0 ok=0 fail=0 info=0 reason=\"does not fail again\""; exit 3;;
  esac;;
esac
exit 3
`

func TestSimCell(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "torture")
	if err := os.WriteFile(fake, []byte(fakeSimTorture), 0o755); err != nil {
		t.Fatal(err)
	}
	m := testMatrix(filepath.Join(dir, "out"))
	m.Torture = fake
	// No matrix cells: only the sim cell matches the filter.
	m.Filter, m.SimSeeds, m.SimShrink = "nightly-sim", "1..4", 3
	m.AllowUnknown = []Allowance{{Cells: "sim", Reason: "never for the sim cell"}}
	var progress strings.Builder
	results, err := Run(context.Background(), m, &progress, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Sim == nil {
		t.Fatalf("results %+v; want the sim cell alone", results)
	}
	r := results[0]
	if r.Verdict != "invalid" || !r.Failed() || r.Cell.Name() != SimCellName {
		t.Errorf("sim cell %s verdict %s failed %v; want invalid, failed", r.Cell.Name(), r.Verdict, r.Failed())
	}
	if !strings.Contains(r.Reason, "3 of 4 seeds not valid") || !strings.Contains(r.Reason, "seed 2 invalid") {
		t.Errorf("reason %q", r.Reason)
	}
	if len(r.Sim.Failing) != 3 {
		t.Fatalf("failing %+v", r.Sim.Failing)
	}
	// Seeds 2 and 4 are invalid, and shrunk; 3 is unknown, not shrunk.
	if sh := r.Sim.Shrunk; len(sh) != 2 || sh[0].Seed != 2 || sh[0].Ops != 12 || sh[0].RunDir == "" ||
		sh[1].Seed != 4 || sh[1].RunDir != "" || !strings.Contains(sh[1].Err, "does not fail again") {
		t.Errorf("shrunk %+v", sh)
	}
	for _, name := range []string{"seed-2", "seed-3", "seed-4", "seed-2-shrunk"} {
		if _, err := os.Stat(filepath.Join(m.Out, "failed", SimCellName, name, "history.jsonl")); err != nil {
			t.Errorf("failed/%s/%s not copied: %v", SimCellName, name, err)
		}
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
	// The cell and its three failing seeds, every one a failure.
	if doc.Tests != 4 || doc.Failures != 4 {
		t.Errorf("junit: tests %d failures %d; want 4 and 4", doc.Tests, doc.Failures)
	}
	sum, err := os.ReadFile(filepath.Join(m.Out, "summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| sim | mixed | all | 1..4 | **INVALID** |", "### sim: seeds 1..4", "4 seeds ran of 4",
		"| 2 | **INVALID** | linearizability: k0 |", "r-2-shrunk (12 operations; torture rerun ", "| 3 | **UNKNOWN** |",
		"none (torture shrink exit 3", "1 failing seed(s) not shrunk"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
}

func TestSimCellValidate(t *testing.T) {
	m := testMatrix("out")
	m.SimSeeds = "5..1"
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "sim seeds") {
		t.Errorf("bad sim seeds: %v", err)
	}
	m.SimSeeds = "1..1000"
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
	if args := strings.Join(m.SimArgs(), " "); !strings.Contains(args, "sim --swarm --seeds 1..1000 --store out/runs --name nightly-sim") {
		t.Errorf("sim args %s", args)
	}
}

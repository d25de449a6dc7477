package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/bench"
	"github.com/ares-torture/torture/sim"
)

// TestBenchAllQuick runs `bench all --quick --no-docker --json` against
// this build as its own baseline, and checks what it prints: every row,
// a measured figure above zero in each that is not skipped, none failed
// in the harness, and the baseline's figures beside the rows it can
// measure. Speeds are not asserted: pass or fail of a limit depends on
// the machine, the structure does not.
func TestBenchAllQuick(t *testing.T) {
	needBinaries(t)
	simBubble = sim.TestBubble(t)
	t.Cleanup(func() { simBubble = nil })
	store := t.TempDir()
	var stdout, stderr bytes.Buffer
	bugs := []string{"no-tag-check", "volatile"}
	code := Main([]string{"bench", "all", "--quick", "--no-docker", "--json", "--store", store,
		"--server-bin", filepath.Join(binDir, "ares-server"), "--baseline-bin", binDir,
		"--bugs", strings.Join(bugs, ","), "--history-time", "5s"}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("exit %d; stdout:\n%s", code, stdout.String())
	}
	var f benchAllFile
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("stdout is not the rows' JSON: %v\n%s", err, stdout.String())
	}
	want := []string{bench.RowABDWrite, bench.RowABDRead, bench.RowECWrite, bench.RowECRead, bench.RowWire, bench.RowLarge, bench.RowPending,
		bench.RowRecorded, bench.RowOpsRun, bench.RowOpsDirect, bench.RowCheck}
	for _, b := range bugs {
		want = append(want, bench.RowBugPrefix+b)
	}
	want = append(want, bench.RowDocker)
	if len(f.Rows) != len(want) {
		t.Errorf("%d rows, want %d", len(f.Rows), len(want))
	}
	for i, id := range want {
		if i >= len(f.Rows) {
			t.Fatalf("row %s missing", id)
		}
		r := f.Rows[i]
		if r.ID != id || r.Name == "" {
			t.Errorf("row %d: id %q name %q, want id %q", i, r.ID, r.Name, id)
			continue
		}
		switch {
		case id == bench.RowDocker:
			if r.Status != bench.Skipped || !strings.Contains(r.Note, "--no-docker") || r.Value != nil {
				t.Errorf("docker row %+v: want skipped for --no-docker", r)
			}
		case strings.HasPrefix(id, bench.RowBugPrefix):
			// The sim is deterministic but other code may change which
			// seed finds a bug: found with a time, or not found.
			if !(r.Status == bench.Pass && r.Value != nil && *r.Value > 0) &&
				!(r.Status == bench.Fail && r.Value == nil && strings.Contains(r.Note, "not found")) {
				t.Errorf("bug row %+v", r)
			}
		default:
			if r.Status != bench.Pass && r.Status != bench.Fail {
				t.Errorf("row %s: status %q (%s), want pass or fail", id, r.Status, r.Note)
			}
			if r.Value == nil || *r.Value <= 0 {
				t.Errorf("row %s: value %v", id, r.Value)
			}
			if r.LimitText == "" && r.Limit == nil {
				t.Errorf("row %s has no limit", id)
			}
		}
		// The baseline (this build's binaries) measures throughput, the
		// read after pending configurations, the check and the bugs.
		switch {
		case id == bench.RowRecorded, id == bench.RowOpsRun, id == bench.RowOpsDirect, id == bench.RowCheck, id == bench.RowPending:
			if r.Baseline == nil || *r.Baseline <= 0 || r.VsBaseline == nil || *r.VsBaseline <= 0 {
				t.Errorf("row %s: baseline %v, vs baseline %v", id, r.Baseline, r.VsBaseline)
			}
		case strings.HasPrefix(id, bench.RowBugPrefix):
			if !strings.Contains(r.Detail, "baseline found") {
				t.Errorf("row %s: no baseline in %q", id, r.Detail)
			}
		}
	}
	if f.Latency == nil || f.Latency.ABD.RTT <= 0 || f.Latency.EC.WireBytesPerWrite <= 0 {
		t.Errorf("latency figures %+v", f.Latency)
	}
	if !f.Quick || f.Baseline == "" || f.Counts[bench.Error] != 0 || f.File == "" {
		t.Errorf("quick %v baseline %q counts %v file %q", f.Quick, f.Baseline, f.Counts, f.File)
	}
	if _, err := os.Stat(f.File); err != nil {
		t.Errorf("figures file: %v", err)
	}
	// The work tree is gone: only the figures stay.
	if ents, _ := os.ReadDir(filepath.Join(store, BenchDir)); len(ents) != 1 {
		t.Errorf("bench dir holds %d entries, want the figures only", len(ents))
	}
	for _, h := range []string{"figure", "measured", "limit", "baseline build", "BENCH all pass="} {
		if !strings.Contains(stderr.String(), h) {
			t.Errorf("table (stderr) lacks %q", h)
		}
	}
}

// TestBenchAllUsage: bad flags are usage errors before anything runs.
func TestBenchAllUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bugs", "no-such-bug"}, "--bugs"},
		{[]string{"--baseline-bin", "/nonexistent"}, "--baseline-bin"},
		{[]string{"--seeds", "-1"}, "--seeds"},
		{[]string{"--server-bin", "/nonexistent/ares-server"}, "--server-bin"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"bench", "all", "--store", t.TempDir()}, c.args...), &stdout, &stderr)
		if code != 3 || !strings.Contains(stdout.String(), c.want) {
			t.Errorf("%v: exit %d, stdout %q", c.args, code, stdout.String())
		}
	}
}

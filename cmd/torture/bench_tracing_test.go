package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarizeTracing(t *testing.T) {
	s := summarizeTracing([]tracingRun{
		{Round: 1, Mode: modeTraceOn, OpsPerSec: 90},
		{Round: 1, Mode: modeTraceOff, OpsPerSec: 100},
		{Round: 2, Mode: modeTraceOff, OpsPerSec: 200},
		{Round: 2, Mode: modeTraceOn, OpsPerSec: 100},
		{Round: 3, Mode: modeTraceOn, OpsPerSec: 80}, // its off run never ran
	})
	if s.OnRuns != 3 || s.OffRuns != 2 {
		t.Errorf("runs on %d off %d, want 3 and 2", s.OnRuns, s.OffRuns)
	}
	if s.On == nil || s.On.Median != 90 || s.On.Min != 80 || s.On.Max != 100 {
		t.Errorf("on: %+v", s.On)
	}
	if s.Off == nil || s.Off.Median != 150 {
		t.Errorf("off: %+v", s.Off)
	}
	if s.Ratio == nil || *s.Ratio != 90.0/150 || s.Cost == nil || *s.Cost != 1-90.0/150 {
		t.Errorf("ratio %v cost %v", s.Ratio, s.Cost)
	}
	if len(s.RoundRatios) != 2 || s.RoundRatios[0] != 0.9 || s.RoundRatios[1] != 0.5 {
		t.Errorf("round ratios %v, want [0.9 0.5]", s.RoundRatios)
	}
	if s.RatioSpread == nil || s.RatioSpread.Min != 0.5 || s.RatioSpread.Max != 0.9 {
		t.Errorf("ratio spread %+v", s.RatioSpread)
	}
	if e := summarizeTracing(nil); e.On != nil || e.Ratio != nil || e.RatioSpread != nil {
		t.Errorf("no runs: %+v", e)
	}
}

// TestBenchTracingTiny runs the bench at its smallest and checks the shape
// of what it prints and writes, not its figures.
func TestBenchTracingTiny(t *testing.T) {
	needBinaries(t)
	store := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main([]string{"bench", "tracing", "--time", "1s", "--rounds", "1", "--clients", "2", "--servers", "3",
		"--keys", "2", "--json", "--store", store, "--server-bin", filepath.Join(binDir, "ares-server")}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("exit %d; stdout:\n%s", code, stdout.String())
	}
	for _, want := range []string{"round 1 tracing on", "round 1 tracing off", "ops/s tracing on", "ops/s tracing off", "on/off = ", "BENCH tracing on/off="} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("progress and table (stderr) lack %q", want)
		}
	}
	var f tracingFile
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("stdout is not the figures' JSON: %v\n%s", err, stdout.String())
	}
	if f.Suite != "tracing" || f.Rounds != 1 || len(f.Runs) != 2 {
		t.Fatalf("suite %q, rounds %d, runs %d", f.Suite, f.Rounds, len(f.Runs))
	}
	modes := map[string]tracingRun{}
	for _, r := range f.Runs {
		modes[r.Mode] = r
		if r.Round != 1 || r.Verdict != "valid" || r.Ops <= 0 || r.OpsPerSec <= 0 || r.RunDir != "" {
			t.Errorf("run %+v", r)
		}
	}
	if on, ok := modes[modeTraceOn]; !ok || on.SpanBytes <= 0 {
		t.Errorf("tracing on: %+v (want spans written)", on)
	}
	if off, ok := modes[modeTraceOff]; !ok || off.SpanBytes != 0 {
		t.Errorf("tracing off: %+v (want no spans)", off)
	}
	s := f.Summary
	if s.On == nil || s.Off == nil || s.Ratio == nil || s.Cost == nil || len(s.RoundRatios) != 1 || s.RatioSpread == nil {
		t.Errorf("summary lacks figures: %+v", s)
	}
	if f.File == "" {
		t.Fatal("no figures file named")
	}
	if _, err := os.Stat(f.File); err != nil {
		t.Errorf("figures file: %v", err)
	}
	// Valid runs leave nothing behind but the figures.
	if ents, _ := filepath.Glob(filepath.Join(store, "bench-tracing*")); len(ents) > 0 {
		if runs, _ := filepath.Glob(filepath.Join(ents[0], "*")); len(runs) > 0 {
			t.Errorf("run directories left: %v", runs)
		}
	}
}

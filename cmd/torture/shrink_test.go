package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/harness"
)

// TestShrinkRefusesValidRun: a run that is not invalid has nothing to
// keep while shrinking; shrink says so and exits 3 before any run.
func TestShrinkRefusesValidRun(t *testing.T) {
	store := t.TempDir()
	dir := filepath.Join(store, "t", "20261202T000000-1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	o := harness.DefaultOptions()
	o.Backend, o.Name, o.Seed = "sim", "t", 1
	if err := harness.WriteTestInfo(dir, &harness.TestInfo{Options: o, Seed: 1, RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, harness.ResultsFile), []byte(`{"verdict":"valid"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"shrink", dir}, &stdout, &stderr); code != harness.ExitHarness {
		t.Fatalf("exit %d, want 3\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "not an invalid run") || !strings.HasPrefix(shrinkLastLine(stdout.String()), "ERROR ") {
		t.Errorf("want the reason and an ERROR verdict line:\n%s%s", stdout.String(), stderr.String())
	}
	if entries, _ := os.ReadDir(store); len(entries) != 1 {
		t.Errorf("store has %d entries, want only the original's test folder", len(entries))
	}
	stdout.Reset()
	if code := Main([]string{"shrink"}, &stdout, &stderr); code != harness.ExitHarness {
		t.Errorf("shrink without RUN_DIR: exit %d, want 3", code)
	}
}

func shrinkLastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

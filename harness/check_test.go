package harness

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

// TestCheckKeepsLargeSeeds: a clock seed beyond 2^53 reaches results.json
// and the report exactly, so that copying it reruns the same test.
func TestCheckKeepsLargeSeeds(t *testing.T) {
	dir := t.TempDir()
	o := DefaultOptions()
	o.Seed = 1<<62 + 1
	if err := WriteTestInfo(dir, &TestInfo{Options: o, Seed: o.Seed}); err != nil {
		t.Fatal(err)
	}
	hw, err := history.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []history.Op{
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "k", Value: "a", Time: 1},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: "k", Value: "a", Time: 2},
		{Type: history.End, Time: 3},
	} {
		if err := hw.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := hw.Close(); err != nil {
		t.Fatal(err)
	}
	CheckRun(context.Background(), CheckInput{RunDir: dir, Timeout: time.Minute}, &bytes.Buffer{}, nil)
	for _, f := range []string{ResultsFile, ReportFile} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "4611686018427387905") {
			t.Errorf("%s does not carry the seed 4611686018427387905 exactly", f)
		}
	}
}

func TestVersionsNameTheStampedController(t *testing.T) {
	old := ControllerVersion
	defer func() { ControllerVersion = old }()
	ControllerVersion = "v1.2.3-4-gabcdef"
	if v := Versions(context.Background(), "")["torture"]; v != "v1.2.3-4-gabcdef" {
		t.Fatalf("torture version %q", v)
	}
}

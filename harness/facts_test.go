package harness

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

// factsRun is a run directory with test.json and a history whose read of
// k at 250–260 ms is stale, during a partition.
func factsRun(t *testing.T, seed int64) string {
	t.Helper()
	dir := t.TempDir()
	o := DefaultOptions()
	o.Seed = seed
	ti := &TestInfo{Options: o, Seed: seed, Start: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC), RunDir: dir,
		Versions: map[string]string{"torture": "v9.9.9-test", "go": "go1.x"}}
	if err := WriteTestInfo(dir, ti); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, LogFile), []byte("log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, NodesDir, "s1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, NodesDir, "s1", "server.log"), []byte("s1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hw, err := history.Create(filepath.Join(dir, HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	ms := int64(time.Millisecond)
	for _, op := range []history.Op{
		{Type: history.Nemesis, F: history.FStart, Fault: "partition", Value: "[s1] [s2 s3]", ID: 1, Time: 150 * ms},
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "k", Value: "a", Time: 200 * ms},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: "k", Value: "a", Time: 210 * ms},
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "k", Value: "b", Time: 220 * ms},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: "k", Value: "b", Time: 230 * ms},
		{Type: history.Invoke, Process: 1, F: history.FRead, Key: "k", Time: 250 * ms},
		{Type: history.Ok, Process: 1, F: history.FRead, Key: "k", Value: "a", Time: 260 * ms},
		{Type: history.Nemesis, F: history.FStop, Fault: "partition", ID: 1, Time: 400 * ms},
		{Type: history.End, Fault: "partition", Time: 500 * ms},
	} {
		if err := hw.Append(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := hw.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCheckRunReportFacts: results.json and the report of a checked run
// carry its seed exactly (2^53+1, which a float64 rounds), its start, its
// versions and the command that reruns it; the report marks the
// violation and links the run's files.
func TestCheckRunReportFacts(t *testing.T) {
	const seed = 9007199254740993
	dir := factsRun(t, seed)
	out := CheckRun(context.Background(), CheckInput{RunDir: dir, Timeout: time.Minute}, &bytes.Buffer{}, nil)
	if out.Code != ExitInvalid {
		t.Fatalf("outcome %+v", out)
	}
	res, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"seed": 9007199254740993`, `"rerun": "` + RerunCommand(dir) + `"`, `"torture": "v9.9.9-test"`, `"start": "2025-03-04T05:06:07Z"`} {
		if !strings.Contains(string(res), want) {
			t.Errorf("results.json lacks %s", want)
		}
	}
	if strings.Contains(string(res), "9007199254740992") || strings.Contains(string(rep), "9007199254740992") {
		t.Errorf("a rounded seed was written")
	}
	abs, _ := filepath.Abs(dir)
	for _, want := range []string{
		"9007199254740993", "torture rerun " + abs, "v9.9.9-test", "2025-03-04 05:06:07",
		`class="violation"`, "k at 0.260s: partition [s1] [s2 s3]",
		`href="history.jsonl"`, `href="results.json"`, `href="test.json"`, `href="` + LogFile + `"`, `href="nodes/s1/server.log"`,
		`href="linearizability/k.html"`,
	} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("report lacks %q", want)
		}
	}

	// A re-check into checks/<n>/ links the run's files from there.
	recheck := filepath.Join(dir, ChecksDir, "1")
	CheckRun(context.Background(), CheckInput{RunDir: dir, Out: recheck, Timeout: time.Minute}, &bytes.Buffer{}, nil)
	rep, err = os.ReadFile(filepath.Join(recheck, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`href="../../history.jsonl"`, `href="../../test.json"`, `href="results.json"`, `href="../../report.html"`, "torture rerun " + abs} {
		if !strings.Contains(string(rep), want) {
			t.Errorf("re-check report lacks %q", want)
		}
	}
}

func TestRerunCommandQuotes(t *testing.T) {
	if got := RerunCommand("/runs/a b/it's"); got != `torture rerun '/runs/a b/it'\''s'` {
		t.Fatalf("rerun command %s", got)
	}
	if got := RerunCommand("/runs/t/20250101T000000-42"); got != "torture rerun /runs/t/20250101T000000-42" {
		t.Fatalf("rerun command %s", got)
	}
}

// TestBuildVersion: without the Makefile's stamp, test.json names the
// VCS revision and whether the checkout was modified, or says that the
// build recorded neither, never a bare "(devel)".
func TestBuildVersion(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs", Value: "git"},
		{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
		{Key: "vcs.time", Value: "2025-03-04T05:06:07Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	if got, want := buildVersion(bi, true), "(devel) (vcs.revision 0123456789abcdef0123456789abcdef01234567, modified, committed 2025-03-04T05:06:07Z)"; got != want {
		t.Errorf("version %q, want %q", got, want)
	}
	bi.Settings[3].Value = "false"
	bi.Main.Version = "v0.0.0-20250304050607-0123456789ab"
	if got := buildVersion(bi, true); !strings.HasPrefix(got, "v0.0.0-20250304050607-0123456789ab (vcs.revision 0123456789abcdef0123456789abcdef01234567, clean") {
		t.Errorf("version %q", got)
	}
	if got := buildVersion(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true); !strings.Contains(got, "unstamped") {
		t.Errorf("version without VCS facts %q", got)
	}
	if got := buildVersion(nil, false); got == "" {
		t.Errorf("no version without build info")
	}
	// This test binary has no stamp (go test records no VCS facts).
	old := ControllerVersion
	defer func() { ControllerVersion = old }()
	ControllerVersion = ""
	if v := Versions(context.Background(), "")["torture"]; v == "(devel)" || v == "" {
		t.Errorf("unstamped controller recorded as %q", v)
	}
}

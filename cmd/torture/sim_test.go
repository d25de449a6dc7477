package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/harness/simrun"
	"github.com/ares-torture/torture/sim"
)

// runSimCmd runs `torture sim ARGS` in this process, its bubbles under t.
func runSimCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	simBubble = sim.TestBubble(t)
	t.Cleanup(func() { simBubble = nil })
	var stdout, stderr bytes.Buffer
	code := Main(append([]string{"sim"}, args...), &stdout, &stderr)
	t.Logf("torture sim %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
	return code, stdout.String()
}

// summaryOf reads the summary file the last line names.
func summaryOf(t *testing.T, out string) *simrun.Summary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	_, path, ok := strings.Cut(last, " summary=")
	if !strings.HasPrefix(last, "SIM ") || !ok {
		t.Fatalf("last line %q: want the SIM summary line with summary=PATH", last)
	}
	s, err := simrun.ReadSummary(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSimFindsBug(t *testing.T) {
	store := t.TempDir()
	code, out := runSimCmd(t, "--seeds", "1..3", "--workers", "2", "--ops", "300", "--store", store,
		"--server-bug", "short-quorum")
	if code != harness.ExitInvalid {
		t.Fatalf("exit %d; want %d (invalid)", code, harness.ExitInvalid)
	}
	s := summaryOf(t, out)
	if s.Ran != 3 || s.Counts.Invalid == 0 || s.Counts.Invalid+s.Counts.Valid != 3 {
		t.Fatalf("summary counts %+v of %d seeds; want some invalid, the rest valid", s.Counts, s.Ran)
	}
	if len(s.Failing) != s.Counts.Invalid {
		t.Errorf("failing run dirs %v; want %d", s.Failing, s.Counts.Invalid)
	}
	for _, r := range s.Results {
		if !r.Failed() {
			continue
		}
		// Each failing seed has its line, naming how to replay it, and
		// its run directory is kept.
		if !strings.Contains(out, "torture rerun "+r.RunDir) {
			t.Errorf("seed %d: no rerun line for %s", r.Seed, r.RunDir)
		}
		if _, err := os.Stat(filepath.Join(r.RunDir, harness.HistoryFile)); err != nil {
			t.Errorf("seed %d: failing run not kept: %v", r.Seed, err)
		}
	}
	if !strings.Contains(out, "invalid="+strconv.Itoa(s.Counts.Invalid)) {
		t.Errorf("summary line does not give invalid=%d", s.Counts.Invalid)
	}
}

func TestSimValidSeedsLeaveOnlyTheSummary(t *testing.T) {
	store := t.TempDir()
	code, out := runSimCmd(t, "--seeds", "1,2", "--ops", "200", "--store", store, "--name", "simtest")
	if code != harness.ExitValid {
		t.Fatalf("exit %d; want 0", code)
	}
	s := summaryOf(t, out)
	if s.Counts.Valid != 2 || s.Test != "simtest" || s.Ops < 400 {
		t.Fatalf("summary %+v", s)
	}
	left, _ := os.ReadDir(filepath.Join(store, "simtest"))
	if len(left) != 1 || !strings.HasPrefix(left[0].Name(), simrun.SummaryPrefix) {
		t.Errorf("test folder holds %v; want only the summary", left)
	}

	code, out = runSimCmd(t, "--seeds", "3", "--ops", "200", "--store", store, "--name", "simtest", "--keep-all")
	if code != harness.ExitValid {
		t.Fatalf("--keep-all: exit %d; want 0", code)
	}
	if r := summaryOf(t, out).Results; len(r) != 1 || r[0].RunDir == "" {
		t.Fatalf("--keep-all: results %+v; want the valid run kept", r)
	}
}

func TestSimUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--seeds", "3..1"},
		{"--seeds", "a..b"},
		{"--seeds", "1,1"},
		{"--seeds", "1", "--backend", "local"},
		{"--seeds", "1", "--seed", "4"},
		{"--seeds", "1", "--workers", "0"},
		{"--seeds", "1", "extra"},
	} {
		code, out := runSimCmd(t, args...)
		if code != harness.ExitHarness || !strings.HasPrefix(out, "ERROR ") || !strings.Contains(out, "usage: ") {
			t.Errorf("torture sim %q: exit %d, %q; want 3 and a usage verdict", args, code, out)
		}
	}
	code, out := runSimCmd(t, "--help")
	if code != 0 || !strings.Contains(out, "--seeds") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
}

// TestSimTwoProcesses runs the built torture binary twice on the same
// seeds: every history must be the same byte for byte across processes,
// which one process's runs cannot show (map iteration, addresses and
// goroutine ids differ between processes).
func TestSimTwoProcesses(t *testing.T) {
	needBinaries(t)
	seeds := "1..4"
	var hist [2]map[int64][]byte
	for i := range hist {
		store := t.TempDir()
		cmd := exec.Command(filepath.Join(binDir, "torture"), "sim", "--seeds", seeds, "--keep-all",
			"--ops", "500", "--store", store)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("process %d: %v\n%s", i, err, out)
		}
		s := summaryOf(t, string(out))
		hist[i] = map[int64][]byte{}
		for _, r := range s.Results {
			b, err := os.ReadFile(filepath.Join(r.RunDir, harness.HistoryFile))
			if err != nil {
				t.Fatal(err)
			}
			hist[i][r.Seed] = b
		}
	}
	if len(hist[0]) != 4 {
		t.Fatalf("%d histories; want 4", len(hist[0]))
	}
	for seed, a := range hist[0] {
		if !bytes.Equal(a, hist[1][seed]) {
			t.Errorf("seed %d: the two processes' histories differ", seed)
		}
	}
}

// TestRerunSimIsExact: torture rerun of a sim run (here a swarm seed with
// racing reconfigurers and a bug) makes the same history and the same
// scheduler decisions, in another process.
func TestRerunSimIsExact(t *testing.T) {
	needBinaries(t)
	store := t.TempDir()
	bin := filepath.Join(binDir, "torture")
	out, err := exec.Command(bin, "sim", "--seeds", "3", "--swarm", "--keep-all", "--ops", "400",
		"--server-bug", "no-write-back", "--store", store).Output()
	if code := exitCode(err); code != harness.ExitValid && code != harness.ExitInvalid {
		t.Fatalf("torture sim: %v\n%s", err, out)
	}
	s := summaryOf(t, string(out))
	orig := s.Results[0].RunDir
	out, err = exec.Command(bin, "rerun", orig).CombinedOutput()
	if code := exitCode(err); code != s.Results[0].Exit {
		t.Fatalf("rerun exit %d, the run's %d\n%s", code, s.Results[0].Exit, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	again := strings.Fields(lines[len(lines)-1])[1]
	again = strings.TrimPrefix(again, "run=")
	for _, f := range []string{harness.HistoryFile, sim.SimFile} {
		a, err := os.ReadFile(filepath.Join(orig, f))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(again, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s of the rerun %s differs from %s's", f, again, orig)
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBenchBugsSim(t *testing.T) {
	simBubble = sim.TestBubble(t)
	t.Cleanup(func() { simBubble = nil })
	store := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main([]string{"bench", "bugs", "--backend", "sim", "--bug", "reuse-tag", "--seeds", "2", "--store", store}, &stdout, &stderr)
	out := stdout.String()
	t.Logf("exit %d\n%s%s", code, out, stderr.String())
	if code != 0 {
		t.Fatalf("exit %d; want 0", code)
	}
	// reuse-tag shows in every seed of the sim defaults, so the first run
	// finds it, and each run has a minimal conflict (of 3 operations,
	// two writes of one tag and a read).
	if !strings.Contains(out, "2/2") || !regexpMatch(`reuse-tag\s+2/2\s.*\s1\s+\d+(ms|\.\ds)\s+\d+/[\d.]+/\d+ \(2 of 2\)\s+-`, out) {
		t.Errorf("table does not say 2/2 found, the first at run 1, with a conflict in each:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(store, BenchDir, "bugs-*.json"))
	if len(files) != 1 {
		t.Fatalf("bench files %v", files)
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), `"backend": "sim"`) || !strings.Contains(string(b), `"runs_to_first_found": 1`) {
		t.Errorf("bench file lacks the backend or runs to first found:\n%s", b)
	}
}

func TestBenchSim(t *testing.T) {
	simBubble = sim.TestBubble(t)
	t.Cleanup(func() { simBubble = nil })
	store := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := Main([]string{"bench", "sim", "--runs", "2", "--local-time", "0", "--store", store}, &stdout, &stderr)
	out := stdout.String()
	t.Logf("exit %d\n%s%s", code, out, stderr.String())
	if code != 0 {
		t.Fatalf("exit %d; want 0", code)
	}
	for _, want := range []string{"sim:   2 runs in", "runs/s per core", "local: skipped (--local-time 0)", "BENCH sim runs/s="} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, args := range [][]string{
		{"bench", "sim", "--runs", "0"},
		{"bench", "sim", "--workers", "0"},
		{"bench", "sim", "--local-time", "-1s"},
		{"bench", "bugs", "--backend", "docker"},
	} {
		var o bytes.Buffer
		if code := Main(args, &o, io.Discard); code != harness.ExitHarness || !strings.Contains(o.String(), "usage: ") {
			t.Errorf("%q: exit %d, %q; want a usage error", args, code, o.String())
		}
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func TestBackendArg(t *testing.T) {
	for args, want := range map[string]string{
		"--backend sim --ops 5": "sim", "-backend=sim": "sim", "--time 1s --backend=docker": "docker",
		"--ops 5": "", "--backend": "", "sim --backend-x sim": "",
	} {
		if got := backendArg(strings.Fields(args)); got != want {
			t.Errorf("backendArg(%q) = %q, want %q", args, got, want)
		}
	}
}

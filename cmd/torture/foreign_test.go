package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/foreign"
	"github.com/ares-torture/torture/harness"
)

// copyForeign copies a foreign history of ../../foreign/testdata into a
// new folder (a check writes next to its file) and returns its path.
func copyForeign(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "foreign", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), filepath.Base(name))
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckForeignFormats: torture check --format jepsen|porcupine-kv
// converts and checks foreign histories to their verdicts and exit codes.
func TestCheckForeignFormats(t *testing.T) {
	for _, tc := range []struct {
		format, file string
		code         int
		want         checker.Verdict
		say          string // in the output
	}{
		{"jepsen", "jepsen/register-valid.edn", harness.ExitValid, checker.Valid, "4 nemesis lines left out"},
		{"jepsen", "jepsen/register-invalid.edn", harness.ExitInvalid, checker.Invalid, "linearizability"},
		{"jepsen", "jepsen/cas-register-valid.edn", harness.ExitValid, checker.Valid, "12 operations on 1 keys"},
		{"jepsen", "jepsen/cas-register-invalid.edn", harness.ExitInvalid, checker.Invalid, "linearizability"},
		{"jepsen", "jepsen/independent.edn", harness.ExitValid, checker.Valid, "13 operations on 2 keys"},
		{"porcupine-kv", "porcupine-kv/getput-bad.txt", harness.ExitInvalid, checker.Invalid, "linearizability"},
		{"porcupine-kv", "porcupine-kv/c01-bad.txt", harness.ExitUnknown, checker.Unknown, "torture's models have no append"},
	} {
		file := copyForeign(t, tc.file)
		code, out, v := checkResults(t, "--format", tc.format, file)
		if code != tc.code || v != tc.want || !strings.Contains(out, tc.say) {
			t.Errorf("%s: exit %d verdict %s, want %d %s and %q\n%s", tc.file, code, v, tc.code, tc.want, tc.say, out)
			continue
		}
		// Into FILE's folder/checks/TIME, with the converted history.
		hs, _ := filepath.Glob(filepath.Join(filepath.Dir(file), harness.ChecksDir, "*", harness.HistoryFile))
		notes, _ := filepath.Glob(filepath.Join(filepath.Dir(file), harness.ChecksDir, "*", foreign.NotesFile))
		if len(hs) != 1 || len(notes) != 1 {
			t.Errorf("%s: converted histories %v, notes %v", tc.file, hs, notes)
		}
	}
}

func TestCheckForeignOutAndErrors(t *testing.T) {
	file := copyForeign(t, "jepsen/register-valid.edn")
	o := filepath.Join(t.TempDir(), "conv")
	if code, out, v := checkResults(t, file, "--out", o, "--format", "jepsen"); code != harness.ExitValid || v != checker.Valid {
		t.Fatalf("--out: exit %d verdict %s\n%s", code, v, out)
	}
	// The converted history re-checks as torture's own.
	if code, out, v := checkResults(t, o, "--out", filepath.Join(o, "again")); code != harness.ExitValid || v != checker.Valid {
		t.Fatalf("re-check of the converted run: exit %d verdict %s\n%s", code, v, out)
	}
	// Never into a folder that holds a history.
	if code, out, _ := checkResults(t, "--format", "jepsen", "--out", o, file); code != harness.ExitHarness || !strings.Contains(out, "already holds") {
		t.Fatalf("--out over a converted run: exit %d\n%s", code, out)
	}
	// Bad input: the line is named, and nothing is checked.
	bad := filepath.Join(t.TempDir(), "bad.edn")
	if err := os.WriteFile(bad, []byte("{:type :invoke, :f :read, :value nil, :process 0}\n{:type :ok, :f :read, :value 1 :process 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := checkResults(t, "--format", "jepsen", bad); code != harness.ExitHarness || !strings.Contains(out, `line 3, column 1: unexpected end of input: "{" opened on line 2 is not closed`) {
		t.Fatalf("bad input: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(bad), harness.ChecksDir)); err == nil {
		t.Fatal("bad input left a checks folder")
	}
	for _, args := range [][]string{{"--format", "knossos", file}, {"--format", "jepsen", filepath.Dir(file)}} {
		if code, out, _ := checkResults(t, args...); code != harness.ExitHarness || !strings.Contains(out, "usage:") {
			t.Fatalf("%v: exit %d\n%s", args, code, out)
		}
	}
}

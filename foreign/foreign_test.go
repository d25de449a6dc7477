package foreign

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ares-torture/torture/checker"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/history"
)

func TestReadEDN(t *testing.T) {
	src := `; a comment
{:a 1, :b "x\"y\n", :c nil, :d [1 -2 3.5 4N], :e (true false), :f #{:s}} #_ {:skipped 1}
#inst "2024-01-01" [:k/w sym \a]`
	forms, err := ReadEDN(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(forms) != 3 || forms[0].Line != 2 || forms[1].Line != 3 || forms[2].Line != 3 {
		t.Fatalf("forms %+v", forms)
	}
	m := forms[0].Value.(*Map)
	want := []any{Number("1"), "x\"y\n", nil, Vector{Number("1"), Number("-2"), Number("3.5"), Number("4")},
		List{true, false}, Set{Keyword("s")}}
	if !reflect.DeepEqual(m.Vals, want) {
		t.Fatalf("map values %#v", m.Vals)
	}
	if v, ok := m.Get("c"); !ok || v != nil {
		t.Fatalf(":c = %v %v", v, ok)
	}
	if forms[1].Value != "2024-01-01" {
		t.Fatalf("tagged literal %#v", forms[1].Value)
	}
	if !reflect.DeepEqual(forms[2].Value, Vector{Keyword("k/w"), Symbol("sym"), Char("a")}) {
		t.Fatalf("vector %#v", forms[2].Value)
	}
	for src, want := range map[string]string{
		"{:a 1}\n{:a 1, :b}":      "line 2, column 11: map with an odd number",
		"{:a 1}\n{:a [1 2}":       "line 2, column 9: unexpected '}'",
		"{:a 1}\n\n{:a \"open":    "line 3, column 10: unterminated string",
		"[{:a 1}\n {:b 2}":        `line 2, column 8: unexpected end of input: "[" opened on line 1 is not closed`,
		"{:a 12x}":                `line 1, column 8: malformed number "12x"`,
		"{:a \"\\q\"}":            `unknown string escape \q`,
		"{:a 1}\n{:process 0 :f}": "line 2, column 16: map with an odd number",
	} {
		_, err := ReadEDN(src)
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}

// clientOps drops the end line.
func clientOps(ops []history.Op) []history.Op {
	if n := len(ops); n > 0 && ops[n-1].Type == history.End {
		return ops[:n-1]
	}
	return ops
}

func TestConvertJepsenRegister(t *testing.T) {
	c, err := ConvertFile(Jepsen, "testdata/jepsen/register-valid.edn")
	if err != nil {
		t.Fatal(err)
	}
	ops := clientOps(c.Ops)
	if len(ops) != 26 || c.Converted != 13 {
		t.Fatalf("%d lines, %d operations: %+v", len(ops), c.Converted, ops)
	}
	if end := c.Ops[len(c.Ops)-1]; end.Type != history.End || end.Error != "" || end.Time != 250 {
		t.Fatalf("end line %+v", end)
	}
	if len(c.Skipped) != 4 || c.Skipped[0].Client || c.Skipped[0].Line != 11 {
		t.Fatalf("skipped %+v", c.Skipped)
	}
	if !strings.Contains(c.NotesText(), "4 nemesis operations left out") {
		t.Fatalf("notes:\n%s", c.NotesText())
	}
	// The info write keeps its value and error; the crashed process's
	// successor keeps its number; a read's nil is the initial value.
	want := history.Op{Type: history.Info, Process: 2, F: history.FWrite, Key: plainKey, Value: "2", Time: 60, Error: ":timeout"}
	if ops[7] != want {
		t.Fatalf("info write %+v", ops[7])
	}
	if ops[1] != (history.Op{Type: history.Ok, Process: 3, F: history.FRead, Key: plainKey, Time: 5}) {
		t.Fatalf("first read %+v", ops[1])
	}
	if ops[13].Process != 5 || ops[13].Value != "2" {
		t.Fatalf("read of process 5 %+v", ops[13])
	}

	// No :time: positions; a vector of maps; a pending invocation is
	// closed as info.
	c, err = Convert(Jepsen, `[{:type :invoke, :f :write, :value 1, :process 0}
	 {:type :invoke, :f :cas, :value [1 2], :process 1}
	 {:type :ok, :f :write, :value 1, :process 0}]`)
	if err != nil {
		t.Fatal(err)
	}
	want2 := []history.Op{
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: plainKey, Value: "1", Time: 1},
		{Type: history.Invoke, Process: 1, F: history.FCAS, Key: plainKey, Value: "2", BaseValue: "1", Time: 2},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: plainKey, Value: "1", Time: 3},
		{Type: history.Info, Process: 1, F: history.FCAS, Key: plainKey, Value: "2", BaseValue: "1", Time: 3, Error: "no completion in the foreign history"},
		{Type: history.End, Time: 3},
	}
	if !reflect.DeepEqual(c.Ops, want2) {
		t.Fatalf("ops %+v", c.Ops)
	}
	if len(c.Notes) != 2 {
		t.Fatalf("notes %q", c.Notes)
	}
}

func TestConvertJepsenIndependent(t *testing.T) {
	c, err := ConvertFile(Jepsen, "testdata/jepsen/independent.edn")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, o := range clientOps(c.Ops) {
		keys[o.Key]++
	}
	if !reflect.DeepEqual(keys, map[string]int{"1": 10, "2": 16}) {
		t.Fatalf("keys %v", keys)
	}
	cas := c.Ops[4]
	if cas.F != history.FCAS || cas.Key != "1" || cas.BaseValue != "0" || cas.Value != "3" {
		t.Fatalf("cas %+v", cas)
	}
	if r := c.Ops[7]; r.Type != history.Ok || r.Key != "2" || r.Value != "5" {
		t.Fatalf("read %+v", r)
	}
}

func TestConvertPorcupineKV(t *testing.T) {
	c, err := ConvertFile(PorcupineKV, "testdata/porcupine-kv/c01-ok.txt")
	if err != nil {
		t.Fatal(err)
	}
	// Every key has appends: nothing is left to check.
	if len(c.Ops) != 1 || c.Converted != 0 || len(c.Unchecked) != 10 {
		t.Fatalf("ops %+v, converted %d, unchecked %q", c.Ops, c.Converted, c.Unchecked)
	}
	if len(c.Skipped) != 116 {
		t.Fatalf("%d lines left out, want all 116", len(c.Skipped))
	}
	end := c.Ops[0].Error
	for _, w := range []string{"31 append operations on 10 keys", "torture's models have no append", "the 27 other operations"} {
		if !strings.Contains(end, w) {
			t.Fatalf("end error %q lacks %q", end, w)
		}
	}

	c, err = ConvertFile(PorcupineKV, "testdata/porcupine-kv/getput-ok.txt")
	if err != nil {
		t.Fatal(err)
	}
	if c.Converted != 11 || len(c.Skipped) != 0 || c.Ops[len(c.Ops)-1].Error != "" {
		t.Fatalf("%d ops, skipped %+v, end %+v", c.Converted, c.Skipped, c.Ops[len(c.Ops)-1])
	}
	if o := c.Ops[2]; o.Type != history.Ok || o.F != history.FRead || o.Key != "a" || o.Value != "" {
		t.Fatalf("get of the initial value %+v", o)
	}
	if o := c.Ops[1]; o.F != history.FWrite || o.Value != "x 1 0 y" {
		t.Fatalf("put %+v", o)
	}
}

func TestConvertErrorsNameTheLines(t *testing.T) {
	for _, tc := range []struct {
		f        Format
		src      string
		want     []string
		problems int
	}{
		{Jepsen, "{:type :ok, :f :read, :value 1, :process 0}", []string{"line 1: :ok completion of process 0, which has no invocation in flight"}, 1},
		{Jepsen, "{:type :invoke, :f :read, :process 0}\n{:type :invoke, :f :write, :value 1, :process 0}",
			[]string{"line 2: process 0 invokes :write while its :read from line 1 has not completed"}, 1},
		{Jepsen, "{:type :invoke, :f :write, :value [1 2], :process 0}\n{:type :invoke, :f :write, :value 3, :process 1}",
			[]string{"line 2: :write 3 is a plain register operation, but line 1 is an independent-keys operation"}, 1},
		{Jepsen, "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :write, :process 0}\n{:type :invoke, :f :cas, :value 3, :process 1}\n{:type :bogus, :f :read, :process 2}\n{:f :read}",
			[]string{"line 2: process 0 completes :write but invoked :read on line 1", "line 3: :cas value 3 is not [old new]",
				"line 4: unknown :type :bogus", "line 5: operation without a keyword :type"}, 4},
		{Jepsen, "{:type :invoke, :f :write, :value 1, :process 0, :time 50}\n{:type :ok, :f :write, :value 1, :process 0, :time 40}",
			[]string{"line 2: process 0 completes at 40, before its invocation at 50 on line 1"}, 1},
		{Jepsen, "{:type :invoke, :f :write, :value {:a 1}, :process 0}", []string{"line 1: :write of {:a 1}: {:a 1} is not a scalar value"}, 1},
		{Jepsen, "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :value 1, :process 0\n", []string{`line 3, column 1: unexpected end of input: "{" opened on line 2 is not closed`}, 1},
		{Jepsen, "[{:type :invoke, :f :read, :process 0} 7]", []string{"line 1: item 2 of the history is 7, not an operation map"}, 1},
		{PorcupineKV, `{:process 0, :type :invoke, :f :get, :value nil}`, []string{"line 1: :get without a :key"}, 1},
		{PorcupineKV, `{:process :x, :type :invoke, :f :get, :key "1"}`, []string{"line 1: :process :x is not an integer"}, 1},
	} {
		c, err := Convert(tc.f, tc.src)
		var fe *Error
		if c != nil || !errors.As(err, &fe) || len(fe.Errs) != tc.problems {
			t.Errorf("%q: conversion %v, error %v", tc.src, c, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", tc.src, err, w)
			}
		}
	}
}

func TestUnsupportedFunctionsAreListed(t *testing.T) {
	c, err := Convert(Jepsen, `{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :add, :value 1, :process 1}
{:type :ok, :f :add, :value 1, :process 1}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Skipped) != 2 || c.Skipped[0].Line != 3 || c.Skipped[1].Line != 4 || !c.Skipped[0].Client {
		t.Fatalf("skipped %+v", c.Skipped)
	}
	if e := c.Ops[len(c.Ops)-1].Error; !strings.Contains(e, "functions torture cannot check are left out: :add ×1") {
		t.Fatalf("end error %q", e)
	}
}

// checked runs CheckFile on file into a new folder and returns the
// outcome, the folder and what it printed.
func checked(t *testing.T, f Format, file string) (*harness.Outcome, string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "check")
	var w bytes.Buffer
	o := CheckFile(context.Background(), CheckInput{Format: f, File: file, Out: out}, &w, nil)
	return o, out, w.String()
}

func TestCheckFileVerdicts(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		file string
		want checker.Verdict
		why  string // in the reason
	}{
		{Jepsen, "jepsen/register-valid.edn", checker.Valid, ""},
		{Jepsen, "jepsen/register-invalid.edn", checker.Invalid, "linearizability"},
		{Jepsen, "jepsen/cas-register-valid.edn", checker.Valid, ""},
		{Jepsen, "jepsen/cas-register-invalid.edn", checker.Invalid, "linearizability"},
		{Jepsen, "jepsen/independent.edn", checker.Valid, ""},
		{PorcupineKV, "porcupine-kv/getput-ok.txt", checker.Valid, ""},
		{PorcupineKV, "porcupine-kv/getput-bad.txt", checker.Invalid, "linearizability"},
		// Porcupine: c01-ok linearizable, c01-bad not; all their keys have
		// appends, which torture cannot check.
		{PorcupineKV, "porcupine-kv/c01-ok.txt", checker.Unknown, "no append"},
		{PorcupineKV, "porcupine-kv/c01-bad.txt", checker.Unknown, "no append"},
	} {
		o, dir, out := checked(t, tc.f, filepath.Join("testdata", tc.file))
		res, err := checker.ReadResult(dir)
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.file, err, out)
		}
		if res.Verdict != tc.want || o.Verdict != string(tc.want) || !strings.Contains(res.Reason, tc.why) {
			t.Errorf("%s: verdict %s (outcome %s), reason %q; want %s (%q)\n%s", tc.file, res.Verdict, o.Verdict, res.Reason, tc.want, tc.why, out)
		}
		for _, name := range []string{harness.HistoryFile, NotesFile, harness.ReportFile} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("%s: %v", tc.file, err)
			}
		}
		if tc.want == checker.Invalid {
			if vis, _ := filepath.Glob(filepath.Join(dir, "linearizability", "*.html")); len(vis) == 0 {
				t.Errorf("%s: no visualization", tc.file)
			}
		}
		// The converted history re-checks alike with torture's own format.
		if tc.want != checker.Unknown {
			re := harness.CheckRun(context.Background(), harness.CheckInput{RunDir: dir, Out: filepath.Join(t.TempDir(), "re")}, &bytes.Buffer{}, nil)
			if re.Verdict != string(tc.want) {
				t.Errorf("%s: re-check of the converted history: %s %s", tc.file, re.Verdict, re.Reason)
			}
		}
	}
}

// TestAppendKeysDoNotHideViolations: keys with appends are left out, the
// verdict is unknown for them, but a violation on another key stands.
func TestAppendKeysDoNotHideViolations(t *testing.T) {
	bad, err := os.ReadFile("testdata/porcupine-kv/getput-bad.txt")
	if err != nil {
		t.Fatal(err)
	}
	ok, err := os.ReadFile("testdata/porcupine-kv/getput-ok.txt")
	if err != nil {
		t.Fatal(err)
	}
	appends := `{:process 7, :type :invoke, :f :append, :key "z", :value "x 7 0 y"}
{:process 7, :type :ok, :f :append, :key "z", :value "x 7 0 y"}
{:process 7, :type :invoke, :f :get, :key "z", :value nil}
{:process 7, :type :ok, :f :get, :key "z", :value "x 7 0 y"}
`
	for _, tc := range []struct {
		src  []byte
		want checker.Verdict
	}{{ok, checker.Unknown}, {bad, checker.Invalid}} {
		file := filepath.Join(t.TempDir(), "kv.txt")
		if err := os.WriteFile(file, append([]byte(appends), tc.src...), 0o644); err != nil {
			t.Fatal(err)
		}
		o, dir, out := checked(t, PorcupineKV, file)
		if o.Verdict != string(tc.want) {
			t.Fatalf("verdict %s, want %s: %s\n%s", o.Verdict, tc.want, o.Reason, out)
		}
		notes, _ := os.ReadFile(filepath.Join(dir, NotesFile))
		for _, w := range []string{`line 1: append on key "z": torture's models have no append`,
			`line 3: key "z" has append operations: none of its operations is checked`,
			`1 append operations on 1 keys ("z")`} {
			if !strings.Contains(string(notes), w) {
				t.Fatalf("%s lacks %q:\n%s", NotesFile, w, notes)
			}
		}
		if tc.want == checker.Unknown && !strings.Contains(o.Reason, "cannot be checked") {
			t.Fatalf("reason %q", o.Reason)
		}
	}
}

func TestCheckFileNeverOverwrites(t *testing.T) {
	out := filepath.Join(t.TempDir(), "check")
	in := CheckInput{Format: Jepsen, File: "testdata/jepsen/register-valid.edn", Out: out}
	if o := CheckFile(context.Background(), in, &bytes.Buffer{}, nil); o.Code != harness.ExitValid {
		t.Fatalf("first check: %+v", o)
	}
	before, _ := os.ReadFile(filepath.Join(out, checker.ResultsFile))
	o := CheckFile(context.Background(), in, &bytes.Buffer{}, nil)
	if o.Code != harness.ExitHarness || !strings.Contains(o.Reason, "already holds") {
		t.Fatalf("second check into the same folder: %+v", o)
	}
	if after, _ := os.ReadFile(filepath.Join(out, checker.ResultsFile)); !bytes.Equal(before, after) {
		t.Fatal("results overwritten")
	}
	// Bad input: an error naming the line, and no folder.
	bad := filepath.Join(t.TempDir(), "bad.edn")
	os.WriteFile(bad, []byte("{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :value 1, :process 1}\n"), 0o644)
	out2 := filepath.Join(t.TempDir(), "check")
	o = CheckFile(context.Background(), CheckInput{Format: Jepsen, File: bad, Out: out2}, &bytes.Buffer{}, nil)
	if o.Code != harness.ExitHarness || !strings.Contains(o.Reason, bad+" is not a jepsen history") || !strings.Contains(o.Reason, "line 2: :ok completion of process 1") {
		t.Fatalf("bad input: %+v", o)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Fatal("a folder was written for bad input")
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("porcupine-kv"); err != nil || f != PorcupineKV {
		t.Fatal(f, err)
	}
	if _, err := ParseFormat("knossos"); err == nil || !strings.Contains(err.Error(), "torture, jepsen, porcupine-kv") {
		t.Fatal(err)
	}
}

package checker

import (
	"strings"
	"testing"

	"github.com/ares-torture/torture/history"
)

// usePorcupineOnly makes the test's checks skip the tag witness and the
// read-mapping check, to exercise Porcupine's path.
func usePorcupineOnly(t *testing.T) {
	porcupineOnly = true
	t.Cleanup(func() { porcupineOnly = false })
}

// The histories that Porcupine cannot decide in time are decided at once
// by the read-mapping check.
func TestReadMappingDecidesHardHistories(t *testing.T) {
	res := check(t, hardHistory(28), lenient)
	wantVerdict(t, res, Invalid)
	if m := res.Keys[0].Method; m != MethodReadMapping {
		t.Fatalf("method %q", m)
	}
	a := findAnomaly(t, res, CheckLinearizability)
	if a.Op == nil || a.Op.F != history.FRead || a.Op.Value != "w2" {
		t.Fatalf("failing op %+v", a.Op)
	}
	ops := synthetic(3, 2000, 1, 10)
	res = check(t, ops, Options{MemoryLimit: 64 << 10})
	wantVerdict(t, res, Valid)
	if m := res.Keys[0].Method; m != MethodReadMapping {
		t.Fatalf("method %q", m)
	}
}

// A duplicate written value leaves the read-mapping check undecided;
// Porcupine decides.
func TestDuplicateValueFallsBackToPorcupine(t *testing.T) {
	res := check(t, build([]top{
		w(0, "x", "a", 0, 10),
		w(0, "x", "a", 20, 30),
		r(1, "x", "a", 40, 50),
	}), lenient)
	wantVerdict(t, res, Valid)
	if m := res.Keys[0].Method; m != MethodPorcupine {
		t.Fatalf("method %q", m)
	}
}

func TestReadMappingNamesTheStaleRead(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(0, "x", "b", 20, 30),
		r(1, "x", "a", 40, 50),
		r(1, "x", "b", 60, 70),
	})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	a := findAnomaly(t, res, CheckLinearizability)
	if a.Op == nil || a.Op.Value != "a" || a.Op.F != history.FRead || a.LinearizablePrefix != 2 {
		t.Fatalf("anomaly %+v", a)
	}
	if res.Keys[0].Method != MethodReadMapping {
		t.Fatalf("method %q", res.Keys[0].Method)
	}
	if !strings.Contains(a.Note, "read-mapping") {
		t.Fatalf("note %q", a.Note)
	}
}

// A stale read in a tagged history: the tag order fails, the read-mapping
// check decides, and the anomaly names the operations by tag and
// configuration.
func TestTaggedStaleReadIsExplainedInProtocolTerms(t *testing.T) {
	cfg := uint64(1)
	tag := func(ts uint64, wid string) *history.Tag { return &history.Tag{TS: ts, WID: wid} }
	ops := []history.Op{
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "x", Value: "v7", Time: 0},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: "x", Value: "v7", Time: 10, Tag: tag(5, "c2-ab"), Config: &cfg},
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "x", Value: "v9", Time: 20},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: "x", Value: "v9", Time: 30, Tag: tag(6, "c3-cd"), Config: &cfg},
		{Type: history.Invoke, Process: 1, F: history.FRead, Key: "x", Time: 40},
		{Type: history.Ok, Process: 1, F: history.FRead, Key: "x", Value: "v7", Time: 50, Tag: tag(5, "c2-ab"), Config: &cfg},
		{Type: history.End, Time: 60},
	}
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	if m := res.Keys[0].Method; m != MethodReadMapping {
		t.Fatalf("method %q", m)
	}
	a := findAnomaly(t, res, CheckLinearizability)
	for _, want := range []string{`read -> "v7" returned tag ⟨5,c2-ab⟩ in config 1`, `write "v9" ⟨6,c3-cd⟩ (config 1)`, "tag ⟨5,c2-ab⟩, config 1"} {
		if !strings.Contains(a.Description, want) {
			t.Errorf("description lacks %q:\n%s", want, a.Description)
		}
	}
	t.Log(a.Description)
}

// Two values under one tag (the tag-reuse bug) that happen to be
// linearizable: valid, with a note naming the reuse.
func TestDuplicateTagIsNotedOnAValidKey(t *testing.T) {
	tg := &history.Tag{TS: 1, WID: "c1"}
	ops := []history.Op{
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "x", Value: "a", Time: 0},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: "x", Value: "a", Time: 10, Tag: tg},
		{Type: history.Invoke, Process: 0, F: history.FWrite, Key: "x", Value: "b", Time: 20},
		{Type: history.Ok, Process: 0, F: history.FWrite, Key: "x", Value: "b", Time: 30, Tag: tg},
		{Type: history.Invoke, Process: 1, F: history.FRead, Key: "x", Time: 40},
		{Type: history.Ok, Process: 1, F: history.FRead, Key: "x", Value: "b", Time: 50, Tag: tg},
		{Type: history.End, Time: 60},
	}
	res := check(t, ops, lenient)
	if v := res.Checkers[CheckLinearizability].Verdict; v != Valid {
		t.Fatalf("linearizability %s", v)
	}
	if len(res.Notes) == 0 || !strings.Contains(strings.Join(res.Notes, "\n"), "tag reuse") {
		t.Fatalf("notes %q", res.Notes)
	}
}

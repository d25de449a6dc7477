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

package checker

import (
	"strings"
	"testing"

	"github.com/ares-torture/torture/history"
)

// withTags sets the tag of each ok completion from tags, by value
// (reads and writes of one value share its tag), unless the line's
// process has its own entry in byProc.
func withTags(ops []history.Op, tags map[string]history.Tag, byProc map[int]history.Tag) []history.Op {
	for i := range ops {
		o := &ops[i]
		if o.Type != history.Ok {
			continue
		}
		t, ok := byProc[o.Process]
		if !ok {
			t, ok = tags[o.Value]
		}
		if ok {
			o.Tag = &t
		}
	}
	return ops
}

func TestTagsNameOneValue(t *testing.T) {
	t1 := history.Tag{TS: 1, WID: "c0"}
	t2 := history.Tag{TS: 2, WID: "c1"}
	ops := []top{
		w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30),
		w(0, "x", "b", 40, 50), r(1, "x", "b", 60, 70),
		r(2, "x", "b", 80, 90),
	}
	res := check(t, withTags(build(ops), map[string]history.Tag{"a": t1, "b": t2}, nil), lenient)
	wantVerdict(t, res, Valid)
	if c := res.Checkers[CheckTags]; c.Verdict != Valid || !strings.Contains(c.Reason, "5 tagged") {
		t.Fatalf("tags %+v", c)
	}

	// The retry-same-tag schedule: write b reuses a's tag (a timed out
	// after reaching one server), and one read still sees a. The reads
	// happen to linearize (a's write is indeterminate), but a tag names
	// two values.
	ops = []top{
		top{p: 0, f: history.FWrite, key: "x", v: "a", call: 0, ret: 10, typ: history.Info},
		w(3, "x", "b", 40, 50), r(1, "x", "b", 60, 70), r(2, "x", "a", 80, 90),
	}
	res = check(t, withTags(build(ops), map[string]history.Tag{"a": t1, "b": t1}, nil), lenient)
	wantVerdict(t, res, Invalid)
	if res.Checkers[CheckLinearizability].Verdict != Valid || res.Checkers[CheckTags].Verdict != Invalid {
		t.Fatalf("checkers %+v", res.Checkers)
	}
	if len(res.Anomalies) != 1 || !strings.Contains(res.Anomalies[0].Description, "two values under one tag ⟨1,c0⟩") {
		t.Fatalf("anomalies %+v", res.Anomalies)
	}

	// A value under the initial tag.
	ops = []top{w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30)}
	res = check(t, withTags(build(ops), map[string]history.Tag{"a": t1}, map[int]history.Tag{1: {}}), lenient)
	wantVerdict(t, res, Invalid)

	// No tags: not judged.
	res = check(t, build(ops), lenient)
	wantVerdict(t, res, Valid)
	if c := res.Checkers[CheckTags]; c.Reason != "no tags recorded" {
		t.Fatalf("tags %+v", c)
	}
}

func TestValueUnderTwoTags(t *testing.T) {
	ops := []top{r(2, "x", "", 0, 10), w(0, "x", "a", 20, 30), r(1, "x", "a", 40, 50)}
	t1, t2 := history.Tag{TS: 1, WID: "c0"}, history.Tag{TS: 2, WID: "c9"}
	res := check(t, withTags(build(ops), map[string]history.Tag{"a": t1, "": {}}, map[int]history.Tag{1: t2}), lenient)
	wantVerdict(t, res, Invalid)
	if res.Checkers[CheckLinearizability].Verdict != Valid || len(res.Anomalies) != 1 ||
		!strings.Contains(res.Anomalies[0].Description, "one value under two tags") {
		t.Fatalf("checkers %+v anomalies %+v", res.Checkers, res.Anomalies)
	}
	// The initial value under a write's tag.
	res = check(t, withTags(build(ops), map[string]history.Tag{"a": t1}, map[int]history.Tag{2: t2}), lenient)
	if res.Checkers[CheckTags].Verdict != Invalid {
		t.Fatalf("tags %+v", res.Checkers[CheckTags])
	}
}

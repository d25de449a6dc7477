package checker

import (
	"context"
	"strings"
	"testing"

	"github.com/ares-torture/torture/history"
)

func fileOp(p int, f, file, v string, call, ret int64, typ history.Type) []history.Op {
	inv := history.Op{Type: history.Invoke, Process: p, F: f, Key: file, Time: call}
	if f == history.FWriteFile {
		inv.Value = v
	}
	done := history.Op{Type: typ, Process: p, F: f, Key: file, Value: v, Time: ret}
	return []history.Op{inv, done}
}

func filesVerdict(t *testing.T, parts ...[]history.Op) CheckerResult {
	t.Helper()
	var ops []history.Op
	for _, p := range parts {
		ops = append(ops, p...)
	}
	sortByTime(ops)
	res := Check(context.Background(), ops, Options{OpenEnded: true, MinOK: -1, MinOKShare: -1})
	return res.Checkers[CheckFiles]
}

func TestFilesCheck(t *testing.T) {
	wf := func(p int, v string, call, ret int64) []history.Op {
		return fileOp(p, history.FWriteFile, "f0", v, call, ret, history.Ok)
	}
	rf := func(p int, v string, call, ret int64) []history.Op {
		return fileOp(p, history.FReadFile, "f0", v, call, ret, history.Ok)
	}
	cases := []struct {
		name  string
		ops   [][]history.Op
		want  Verdict
		judge bool
	}{
		{"empty before any write", [][]history.Op{rf(1, "", 0, 5), wf(0, "A", 10, 20)}, Valid, true},
		{"after a write", [][]history.Op{wf(0, "A", 0, 10), rf(1, "A", 20, 30)}, Valid, true},
		{"old or new during one write", [][]history.Op{wf(0, "A", 0, 10), wf(0, "B", 20, 40), rf(1, "A", 25, 30), rf(2, "B", 25, 30)}, Valid, true},
		{"superseded content", [][]history.Op{wf(0, "A", 0, 10), wf(0, "B", 20, 30), rf(1, "A", 40, 50)}, Invalid, true},
		{"a file no write produced", [][]history.Op{wf(0, "A", 0, 10), wf(0, "B", 20, 40), rf(1, "A-truncated", 25, 30)}, Invalid, true},
		{"a mix over two writes is not judged", [][]history.Op{wf(0, "A", 0, 10), wf(0, "B", 20, 30), rf(1, "mix", 5, 25), rf(1, "B", 40, 50)}, Valid, false},
		{"after an unknown write and another", [][]history.Op{fileOp(0, history.FWriteFile, "f0", "A", 0, 10, history.Info), wf(3, "B", 20, 30), rf(1, "mix", 40, 50)}, Unknown, false},
		{"an unknown write may show", [][]history.Op{wf(0, "A", 0, 10), fileOp(0, history.FWriteFile, "f0", "B", 20, 30, history.Info), rf(1, "B", 40, 50), rf(1, "A", 60, 70)}, Valid, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := filesVerdict(t, c.ops...)
			if got.Verdict != c.want {
				t.Fatalf("verdict %s (%s), want %s", got.Verdict, got.Reason, c.want)
			}
			if skipped := !strings.Contains(got.Reason, " 0 overlapped"); skipped == c.judge {
				t.Errorf("judged %v, want %v: %s", !skipped, c.judge, got.Reason)
			}
		})
	}
}

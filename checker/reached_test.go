package checker

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/history"
)

// facts sets protocol facts on the completion line of process p (each
// process of these tests runs one operation).
func facts(t *testing.T, ops []history.Op, p int, set func(*history.Op)) {
	t.Helper()
	for i := range ops {
		if ops[i].Process == p && ops[i].IsClient() && ops[i].Type != history.Invoke {
			set(&ops[i])
			return
		}
	}
	t.Fatalf("no completion for process %d", p)
}

func inConfig(c uint64) func(*history.Op) {
	// One tag per value: a tag that named two values would be a violation.
	return func(o *history.Op) { o.Config = &c; o.Tag = &history.Tag{TS: 1, WID: "w" + o.Value} }
}

func reachedOf(t *testing.T, ops []history.Op, opts ReachOptions) Reached {
	t.Helper()
	h, err := prepare(ops)
	if err != nil {
		t.Fatal(err)
	}
	return countReached(h, opts)
}

// insertBeforeEnd adds lines before the history's end-of-run line.
func insertBeforeEnd(ops []history.Op, lines ...history.Op) []history.Op {
	end := ops[len(ops)-1]
	return append(append(ops[:len(ops)-1:len(ops)-1], lines...), end)
}

func TestReachedReadsDuringReconfig(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "a", 50, 150),  // overlaps the start
		r(2, "x", "a", 120, 130), // inside
		r(3, "x", "a", 190, 260), // overlaps the end
		r(4, "x", "a", 210, 220), // after
		r(5, "x", "a", 20, 40),   // before
	}, nem{fault: "reconfig", value: "s1 s2 s3 abd", id: 1, start: 100, stop: 200})
	// A reconfiguration that was never applied overlaps nothing.
	ops = insertBeforeEnd(ops,
		history.Op{Type: history.Nemesis, F: history.FStart, Fault: "reconfig", ID: 2, Time: 215, Error: "no quorum"},
		history.Op{Type: history.Nemesis, F: history.FStop, Fault: "reconfig", ID: 2, Time: 215})
	rc := reachedOf(t, ops, ReachOptions{})
	if rc.ReadsDuringReconfig != 3 {
		t.Fatalf("reads during reconfig %d, want 3", rc.ReadsDuringReconfig)
	}
	if rc.ProtocolFields || rc.Total() != 3 || strings.Join(rc.Faults, ",") != "reconfig" {
		t.Fatalf("%+v", rc)
	}
}

func TestReachedReadsInLaterConfig(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 0, 10),
		r(2, "x", "a", 20, 30), // c2 > c1: counted
		r(3, "x", "a", 20, 30), // same configuration
		r(4, "x", "b", 20, 30), // the write's configuration is unknown
		r(5, "y", "", 20, 30),  // the initial value
	})
	facts(t, ops, 0, inConfig(1))
	facts(t, ops, 2, inConfig(2))
	facts(t, ops, 3, inConfig(1))
	facts(t, ops, 4, inConfig(3))
	facts(t, ops, 5, inConfig(3))
	rc := reachedOf(t, ops, ReachOptions{})
	if !rc.ProtocolFields || rc.ReadsInLaterConfig != 1 {
		t.Fatalf("%+v", rc)
	}
}

func TestReachedECReadsAtK(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "a", 20, 30), // c0, 3 elements: k of c0 is 3
		r(2, "x", "a", 20, 30), // c0, 4 elements
		r(3, "x", "a", 40, 50), // c1, 2 elements: k of c1 is 2
		r(4, "x", "a", 40, 50), // c1, 3 elements
		r(5, "x", "a", 40, 50), // c7, k unknown
		r(6, "x", "a", 40, 50), // ABD: no elements
	}, nem{fault: "reconfig", value: "s1 s2 s3 s4 s5 ec k=2 → c1[s1,s2,s3,s4,s5 ec(5,2)]", id: 1, start: 32, stop: 35})
	set := func(p int, c uint64, e int) {
		facts(t, ops, p, func(o *history.Op) { inConfig(c)(o); o.Elements = e })
	}
	set(1, 0, 3)
	set(2, 0, 4)
	set(3, 1, 2)
	set(4, 1, 3)
	set(5, 7, 3)
	facts(t, ops, 6, inConfig(1))
	rc := reachedOf(t, ops, ReachOptions{ECK: 3})
	if rc.ECReads != 5 || rc.ECReadsAtK != 2 {
		t.Fatalf("ec reads %d at k %d, want 5 and 2", rc.ECReads, rc.ECReadsAtK)
	}
	// Without the initial k, c1's k still comes from the history.
	if rc := reachedOf(t, ops, ReachOptions{}); rc.ECReadsAtK != 1 {
		t.Fatalf("without ECK: at k %d, want 1", rc.ECReadsAtK)
	}

	// No k known for any EC read: -1, shown as not countable.
	one := build([]top{w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30)})
	facts(t, one, 1, func(o *history.Op) { inConfig(0)(o); o.Elements = 3 })
	rc = reachedOf(t, one, ReachOptions{})
	if rc.ECReadsAtK != -1 || !strings.Contains(rc.String(), "ec-at-k=?") || rc.Total() != 0 {
		t.Fatalf("k unknown: %+v %s", rc, rc)
	}
}

func TestReachedWritesBehind(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 0, 10).as(history.Info),
		w(2, "x", "c", 0, 10).as(history.Fail),
		w(3, "x", "d", 0, 10),
		r(4, "x", "d", 20, 30),
	})
	behind := func(o *history.Op) { o.Behind = true }
	facts(t, ops, 0, behind)
	facts(t, ops, 1, behind)
	facts(t, ops, 2, behind)
	facts(t, ops, 3, inConfig(0))
	rc := reachedOf(t, ops, ReachOptions{})
	if rc.WritesBehind != 2 {
		t.Fatalf("writes behind %d, want 2", rc.WritesBehind)
	}
}

func TestReachedMultiConfigOps(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 0, 10).as(history.Info),
		r(2, "x", "a", 20, 30),
	})
	facts(t, ops, 0, func(o *history.Op) { inConfig(0)(o); o.Configs = 1 })
	facts(t, ops, 1, func(o *history.Op) { o.Configs = 3 })
	facts(t, ops, 2, func(o *history.Op) { inConfig(1)(o); o.Configs = 2 })
	if rc := reachedOf(t, ops, ReachOptions{}); rc.MultiConfigOps != 2 {
		t.Fatalf("multi-config ops %d, want 2", rc.MultiConfigOps)
	}
}

func TestReachedReadsAcrossRestart(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 15, 25), // acknowledged after the kill began
		r(2, "x", "a", 40, 50), // counted
		r(3, "x", "a", 22, 28), // completed before the restart
		r(4, "x", "b", 40, 50),
		r(5, "y", "", 40, 50),
		w(6, "z", "c", 0, 5),
		r(7, "z", "c", 200, 210), // after the second kill's restart
	}, nem{fault: "kill", value: "s1", id: 1, start: 20, stop: 30},
		nem{fault: "kill", value: "s2", id: 2, start: 60, stop: 190},
		nem{fault: "partition", value: "s1|s2 s3", id: 3, start: 32, stop: 35})
	rc := reachedOf(t, ops, ReachOptions{})
	if rc.ReadsAcrossRestart != 2 {
		t.Fatalf("reads across restart %d, want 2", rc.ReadsAcrossRestart)
	}
	if strings.Join(rc.Faults, ",") != "kill,partition" {
		t.Fatalf("faults %v", rc.Faults)
	}
}

func TestReachedInfoWritesRead(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10).as(history.Info),
		w(1, "x", "b", 0, -1), // pending
		w(2, "x", "c", 0, 10).as(history.Info),
		r(3, "x", "a", 20, 30),
		r(4, "x", "b", 40, 50),
	})
	if rc := reachedOf(t, ops, ReachOptions{}); rc.InfoWritesRead != 2 {
		t.Fatalf("info writes read %d, want 2", rc.InfoWritesRead)
	}
}

// warm is a history that passes the other checkers: ok writes and reads
// before and after a partition that the protocol facts show reached
// nothing (every operation in configuration 0, nobody behind).
func warm(t *testing.T, extra ...top) []history.Op {
	ops := []top{
		w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30),
		w(2, "x", "b", 40, 50), r(3, "x", "b", 60, 70),
		w(4, "x", "c", 200, 210), r(5, "x", "c", 220, 230),
	}
	h := build(append(ops, extra...), nem{fault: "partition", value: "s1|s2 s3", id: 1, start: 100, stop: 150})
	for p := range 6 {
		facts(t, h, p, inConfig(0))
	}
	return h
}

var reachOpts = Options{MinOK: 1, MinOKShare: -1}

func TestVacuousRunIsUnknown(t *testing.T) {
	res := Check(context.Background(), warm(t), reachOpts)
	c := res.Checkers[CheckReached]
	if c.Verdict != Unknown || c.Reason != "vacuous: nothing reached (faults: partition)" {
		t.Fatalf("reached %+v", c)
	}
	if res.Verdict != Unknown || !strings.Contains(res.Reason, "reached: vacuous") {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	if res.ExitCode() != 2 {
		t.Fatalf("exit code %d", res.ExitCode())
	}

	// One write behind is enough.
	ops := warm(t)
	facts(t, ops, 2, func(o *history.Op) { o.Behind = true })
	res = Check(context.Background(), ops, reachOpts)
	if c := res.Checkers[CheckReached]; c.Verdict != Valid || !strings.Contains(c.Reason, "behind=1") {
		t.Fatalf("reached %+v", c)
	}
}

func TestRunWithoutFaultsIsNotJudged(t *testing.T) {
	ops := build([]top{w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30)})
	facts(t, ops, 0, inConfig(0))
	res := Check(context.Background(), ops, reachOpts)
	if c := res.Checkers[CheckReached]; c.Verdict != Valid || c.Reason != "no faults" {
		t.Fatalf("reached %+v", c)
	}
}

func TestForeignHistoryIsNotVacuous(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10), r(1, "x", "a", 20, 30),
		w(2, "x", "b", 200, 210), r(3, "x", "b", 220, 230),
	}, nem{fault: "partition", id: 1, start: 100, stop: 150})
	res := Check(context.Background(), ops, reachOpts)
	c := res.Checkers[CheckReached]
	if c.Verdict != Valid || !strings.Contains(c.Reason, "nothing countable") {
		t.Fatalf("reached %+v", c)
	}
	note := false
	for _, n := range res.Notes {
		note = note || strings.Contains(n, "no tags or configurations")
	}
	if !note {
		t.Fatalf("no note: %v", res.Notes)
	}
	if got := res.Reached.String(); !strings.Contains(got, "later-config=?") || !strings.Contains(got, "info-read=0") {
		t.Fatalf("counts %s", got)
	}
}

func TestInvalidWinsOverVacuous(t *testing.T) {
	// A stale read after the partition: b was acknowledged before it.
	ops := warm(t, r(6, "x", "b", 240, 250))
	facts(t, ops, 6, inConfig(0))
	res := Check(context.Background(), ops, reachOpts)
	if res.Checkers[CheckReached].Verdict != Unknown {
		t.Fatalf("reached %+v", res.Checkers[CheckReached])
	}
	if res.Verdict != Invalid || res.ExitCode() != 1 {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
}

func TestReachedInResultsAndReport(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10), r(1, "x", "a", 40, 50),
		w(2, "x", "b", 60, 70), r(3, "x", "b", 80, 90),
	}, nem{fault: "kill", value: "s1", id: 1, start: 20, stop: 30})
	res := Check(context.Background(), ops, reachOpts)
	if res.Reached.ReadsAcrossRestart != 1 {
		t.Fatalf("%+v", res.Reached)
	}
	dir := t.TempDir()
	if err := res.Write(dir, Meta{Test: "t"}); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Reached.ReadsAcrossRestart != 1 || strings.Join(back.Reached.Faults, ",") != "kill" {
		t.Fatalf("read back %+v", back.Reached)
	}
	b, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<h2>Reached</h2>", "<code>across-restart</code>", `<td class="n">1</td>`, "<td class=\"n\">–</td>"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %s", want)
		}
	}
}

// TestReachedNoRestartWithoutOne: a client crash restarts no server, and
// a power loss the backend could not apply (its start says "not applied",
// its stop comes a little later on a real clock) reached nothing.
func TestReachedNoRestartWithoutOne(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "a", 40, 50),
	}, nem{fault: "crash", value: "c3", id: 1, start: 20, stop: 20})
	ops = insertBeforeEnd(ops,
		history.Op{Type: history.Nemesis, F: history.FStart, Fault: "power", ID: 2, Time: 21, Error: "not applied: unsupported: no power switch"},
		history.Op{Type: history.Nemesis, F: history.FStop, Fault: "power", ID: 2, Time: 22})
	if rc := reachedOf(t, ops, ReachOptions{}); rc.ReadsAcrossRestart != 0 {
		t.Fatalf("reads across restart %d, want 0: no server restarted", rc.ReadsAcrossRestart)
	}
}

package checker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/history"
)

// timelineOf extracts the data of a timeline page.
func timelineOf(t *testing.T, page string) tlData {
	t.Helper()
	_, rest, ok := strings.Cut(page, "const data = ")
	line, _, _ := strings.Cut(rest, "\n")
	if !ok {
		t.Fatal("timeline has no data")
	}
	var d tlData
	if err := json.Unmarshal([]byte(line), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func laneNames(ls []tlLane) string {
	var n []string
	for _, l := range ls {
		n = append(n, l.Name)
	}
	return strings.Join(n, ",")
}

func TestTimeline(t *testing.T) {
	const ms = 1_000_000
	ops := build([]top{
		w(3, "k0", "a", 1*ms, 2*ms),
		w(1, "k0", "b", 3*ms, 9*ms),
		r(2, "k0", "a", 10*ms, 11*ms),
		w(1, "k0", "c", 12*ms, 13*ms).as(history.Info),
	},
		nem{fault: "kill", value: "s2 s10", id: 1, start: 2 * ms, stop: 4 * ms},
		nem{fault: "partition", value: "bridge s0 {c0 c1 | s1} {c2 | s2}", id: 2, start: 5 * ms, stop: 8 * ms},
		nem{fault: "crash", value: "c1", id: 3, start: 6 * ms, stop: 6 * ms},
		nem{fault: "reconfig", value: "s0 s1 s2 abd", id: 4, start: 3 * ms, stop: 7 * ms},
	)
	for i := range ops {
		if ops[i].Type == history.Ok {
			c := uint64(0)
			if ops[i].Time > 7*ms {
				c = 1
			}
			ops[i].Config = &c
		}
	}
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	dir := t.TempDir()
	if err := res.Write(dir, Meta{Test: "unit", RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := res.WriteTimeline(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, TimelineFile))
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	if !strings.Contains(page, "<title>unit "+dir+" — timeline</title>") {
		t.Errorf("title does not name the run")
	}
	d := timelineOf(t, page)
	if got := laneNames(d.Servers); got != "s0,s1,s2,s10,other faults" {
		t.Errorf("server lanes %s", got)
	}
	for _, l := range d.Servers {
		if l.Name == "s2" && len(l.Spans) != 2 {
			t.Errorf("s2 has %d faults, want kill and partition", len(l.Spans))
		}
	}
	if got := laneNames(d.Epochs); got != "config,reconfig" {
		t.Errorf("epoch lanes %s", got)
	}
	if n := len(d.Epochs[0].Spans); n != 2 || d.Epochs[0].Spans[1].Text != "c1" {
		t.Errorf("configuration epochs %+v", d.Epochs[0].Spans)
	}
	if strings.Join(d.Procs, ",") != "p1,p2,p3" || len(d.Ops) != 4 {
		t.Errorf("processes %v, %d ops", d.Procs, len(d.Ops))
	}
	kinds := map[string]bool{}
	bad := 0
	for _, o := range d.Ops {
		kinds[o.F+"/"+o.T] = true
		if o.Bad {
			bad++
		}
	}
	if !kinds["read/ok"] || !kinds["write/ok"] || !kinds["write/info"] {
		t.Errorf("op kinds %v", kinds)
	}
	// The stale read is both the linearizability and the durability
	// anomaly.
	if bad != 1 || len(d.Marks) == 0 || d.Marks[0].T != 11*ms {
		t.Errorf("violations: %d ops marked, marks %+v", bad, d.Marks)
	}
	if d.Notice != "" {
		t.Errorf("notice on a small run: %s", d.Notice)
	}
}

func TestTimelineCap(t *testing.T) {
	ops := synthetic(1, MaxTimelineOps+500, 3, 5)
	h, err := prepare(ops)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := renderTimeline(&b, h, nil); err != nil {
		t.Fatal(err)
	}
	d := timelineOf(t, b.String())
	if len(d.Ops) != MaxTimelineOps || !strings.Contains(d.Notice, "the first 10000") {
		t.Fatalf("%d ops, notice %q", len(d.Ops), d.Notice)
	}
	if !strings.Contains(b.String(), "over the timeline&#39;s limit of 10000") {
		t.Errorf("notice not in the page")
	}

	// A violation: the window is around it.
	mid := h.ops[len(h.ops)-300]
	r := &Result{Anomalies: []Anomaly{{Checker: CheckLinearizability, Key: mid.key, Description: "stale read", Op: mid.ref()}}}
	b.Reset()
	if err := renderTimeline(&b, h, r); err != nil {
		t.Fatal(err)
	}
	d = timelineOf(t, b.String())
	if len(d.Ops) != MaxTimelineOps || !strings.Contains(d.Notice, "around the first violation") {
		t.Fatalf("%d ops, notice %q", len(d.Ops), d.Notice)
	}
	found := false
	for _, o := range d.Ops {
		found = found || o.Bad
	}
	if !found {
		t.Errorf("the violation is not in the window")
	}
}

func TestTimelineWithoutHistory(t *testing.T) {
	dir := t.TempDir()
	r := &Result{}
	if err := r.WriteTimeline(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, TimelineFile)); !os.IsNotExist(err) {
		t.Fatalf("timeline written without a history: %v", err)
	}
}

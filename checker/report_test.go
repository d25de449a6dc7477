package checker

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

// reportRun writes a small run directory (the files a run leaves besides
// the checker's) and checks a history into it: a stale read of key k at
// 250–260 ms, during a partition from 150 ms to 400 ms, with the first
// operation 200 ms after the recorder started.
func reportRun(t *testing.T, meta Meta) (string, *Result) {
	t.Helper()
	ms := int64(time.Millisecond)
	ops := build([]top{
		w(0, "k", "a", 200*ms, 210*ms),
		w(0, "k", "b", 220*ms, 230*ms),
		r(1, "k", "a", 250*ms, 260*ms),
		w(2, "ok", "c", 300*ms, 310*ms).as(history.Info),
		r(2, "ok", "", 320*ms, 330*ms).as(history.Fail),
		r(3, "ok", "c", 340*ms, 1300*ms),
	}, nem{"partition", "[s1] [s2 s3]", 1, 150 * ms, 400 * ms})
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	dir := filepath.Join(t.TempDir(), "run")
	for name, body := range map[string]string{
		"history.jsonl":                "{}\n",
		"test.json":                    "{}\n",
		"torture.log":                  "log\n",
		"nodes/s1/server.log":          "s1\n",
		"nodes/s2/agent.log":           "s2\n",
		"traces/s1.json":               "{}\n",
		"timeline.html":                "<html></html>\n",
		"checks/20250101/report.html":  "<html></html>\n",
		"checks/20250101/results.json": "{}\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if meta.RunDir == "" {
		meta.RunDir = dir
	}
	if err := res.Write(dir, meta); err != nil {
		t.Fatal(err)
	}
	return dir, res
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReportNamesTheRun: the report of an invalid history marks the
// violation on the plots with the faults active then, links every file
// of the run, and gives the start, the versions and the rerun command.
func TestReportNamesTheRun(t *testing.T) {
	start := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	seed := int64(42)
	dir, res := reportRun(t, Meta{Test: "unit", Seed: &seed, Start: start, Rerun: "torture rerun /runs/unit/x",
		Versions: map[string]string{"torture": "v1.2.3 (vcs.revision abc, modified)", "ares-server": "ares 0.9"}})
	rep := readFile(t, filepath.Join(dir, ReportFile))
	for _, want := range []string{
		`class="violation"`,
		"✖ k at 0.260s: partition [s1] [s2 s3]",
		"torture rerun /runs/unit/x",
		"2025-03-04 05:06:07.000 &#43;0000", // html/template escapes the +
		"v1.2.3 (vcs.revision abc, modified)", "ares 0.9",
		`href="history.jsonl"`, `href="results.json"`, `href="test.json"`, `href="torture.log"`,
		`href="nodes/s1/server.log"`, `href="nodes/s2/agent.log"`, `href="traces/s1.json"`,
		`href="timeline.html"`, `href="linearizability/k.html"`, `href="checks/20250101/report.html"`,
		"ok reads", "ok writes", ">p50<", ">p99<",
		readColor, writeColor,
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{`href="report.html"`, `href="checks/20250101/results.json"`, ".tmp"} {
		if strings.Contains(rep, bad) {
			t.Errorf("report has %q", bad)
		}
	}
	// Plots scale with the window: a viewBox, the page's width, no fixed
	// height.
	var svgs []string
	for _, s := range regexp.MustCompile(`<svg [^>]*>`).FindAllString(rep, -1) {
		if !strings.Contains(s, `minimal conflict`) { // the minimal conflicts' diagrams
			svgs = append(svgs, s)
		}
	}
	if len(svgs) != 2 {
		t.Fatalf("%d plots, want the timeline and the rate", len(svgs))
	}
	for _, s := range svgs {
		if !strings.Contains(s, `viewBox="0 0 `) || !strings.Contains(s, `width="100%"`) || strings.Contains(s, "height=") {
			t.Errorf("plot does not scale: %s", s)
		}
	}
	// Self-contained.
	for _, ext := range []string{"<script src", "<link ", "@import", "url("} {
		if strings.Contains(rep, ext) {
			t.Errorf("report loads an external asset (%q)", ext)
		}
	}
	_ = res
}

// TestReportTimesAgree: the report counts time from the run's start
// (history time 0), as the anomaly descriptions and history.jsonl do,
// not from the first operation.
func TestReportTimesAgree(t *testing.T) {
	dir, res := reportRun(t, Meta{})
	if res.Stats.Origin != 0 {
		t.Fatalf("origin %d, want 0", res.Stats.Origin)
	}
	a := findAnomaly(t, res, CheckLinearizability)
	if a.Op == nil || a.Op.Complete == nil {
		t.Fatalf("anomaly without its operation: %+v", a)
	}
	at := fmtNS(*a.Op.Complete)
	if at != "0.260s" || !strings.Contains(a.Description, at) {
		t.Fatalf("anomaly at %s, description %q", at, a.Description)
	}
	rep := readFile(t, filepath.Join(dir, ReportFile))
	for _, want := range []string{
		`<span class="viol">0.260s</span>`, // the anomalies table
		"k at 0.260s",                      // the markers
		">0.150s<", ">0.400s<",             // the partition in the nemesis table
		"partition [s1] [s2 s3]: 0.150s – 0.400s", // its band
		"0.250s–0.260s", // the read's point
	} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The rate series starts at time 0 too: nothing completed in the
	// first 200 ms, everything but the slow read in the first second.
	if len(res.Stats.Rate) != 2 || res.Stats.Rate[0].OK != 3 || res.Stats.Rate[0].ReadOK != 1 || res.Stats.Rate[0].WriteOK != 2 ||
		res.Stats.Rate[0].Info != 1 || res.Stats.Rate[0].Fail != 1 || res.Stats.Rate[1].ReadOK != 1 {
		t.Fatalf("rate %+v", res.Stats.Rate)
	}
	if q := res.Stats.Rate[1]; q.P50 != 960 || q.P99 != 960 {
		t.Fatalf("quantiles of the second bin %+v", q)
	}
}

// TestReportKeepsLargeSeeds: a seed beyond 2^53 (clock seeds are) reaches
// results.json and the report exactly, and survives a result read back and
// written again.
func TestReportKeepsLargeSeeds(t *testing.T) {
	const want = "9007199254740993" // 2^53+1: a float64 makes it ...992
	seed := int64(9007199254740993)
	dir, _ := reportRun(t, Meta{Seed: &seed, Options: map[string]any{"seed": json.Number(want), "servers": json.Number("5")}})
	check := func(dir string) {
		t.Helper()
		for _, f := range []string{ResultsFile, ReportFile} {
			s := readFile(t, filepath.Join(dir, f))
			if n := strings.Count(s, want); n < 2 {
				t.Errorf("%s carries the seed %s %d times, want the meta's and the options'", f, want, n)
			}
			if strings.Contains(s, "9007199254740992") || strings.Contains(s, "e+15") {
				t.Errorf("%s carries a rounded seed", f)
			}
		}
	}
	check(dir)
	back, err := ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Meta == nil || back.Meta.Seed == nil || *back.Meta.Seed != seed {
		t.Fatalf("meta read back %+v", back.Meta)
	}
	again := t.TempDir()
	if err := back.Write(again, *back.Meta); err != nil {
		t.Fatal(err)
	}
	check(again)
	// A result read back has no history but keeps its markers and times.
	rep := readFile(t, filepath.Join(again, ReportFile))
	if !strings.Contains(rep, "k at 0.260s: partition") {
		t.Errorf("report of a result read back lacks the violation marker")
	}
}

// TestReportLinksFromARecheck: a re-check's report (in checks/<n>/)
// links its own results and the run's files relative to itself.
func TestReportLinksFromARecheck(t *testing.T) {
	dir, res := reportRun(t, Meta{})
	out := filepath.Join(dir, "checks", "again")
	if err := res.Write(out, Meta{RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	rep := readFile(t, filepath.Join(out, ReportFile))
	for _, want := range []string{`href="results.json"`, `href="linearizability/k.html"`, `href="../../history.jsonl"`,
		`href="../../nodes/s1/server.log"`, `href="../../report.html"`, `href="../20250101/report.html"`} {
		if !strings.Contains(rep, want) {
			t.Errorf("re-check report lacks %q", want)
		}
	}
	if !strings.Contains(rep, `href="../../results.json"`) {
		t.Errorf("re-check report does not link the run's own results")
	}
}

// TestReportSizeBounded: the report of a 50,000-operation run with faults
// stays one small file.
func TestReportSizeBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("large history")
	}
	ms := int64(time.Millisecond)
	var ops []top
	for i := int64(0); i < 25000; i++ {
		key := fmt.Sprintf("k%d", i%100)
		p := int(i % 100)
		t0 := 100*ms + i*4*ms
		ops = append(ops, w(p, key, fmt.Sprintf("v%d", i), t0, t0+ms+i%7*ms))
		rc := t0 + 8*ms + i%3*ms
		o := r(p+100, key, fmt.Sprintf("v%d", i), rc, rc+ms+i%11*ms)
		if i%50 == 0 {
			o = o.as(history.Info)
		}
		ops = append(ops, o)
	}
	var nems []nem
	for i := int64(0); i < 40; i++ {
		nems = append(nems, nem{[]string{"partition", "kill", "pause"}[i%3], "s1", int(i), i * 2500 * ms, i*2500*ms + 1000*ms})
	}
	res := check(t, build(ops, nems...), lenient)
	if c := res.Checkers[CheckLinearizability]; c.Verdict != Valid {
		t.Fatalf("linearizability %+v", c)
	}
	dir := t.TempDir()
	if err := res.Write(dir, Meta{Test: "big"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report of %d operations: %d bytes", len(ops), fi.Size())
	if !strings.Contains(readFile(t, filepath.Join(dir, ReportFile)), "4000 of 50000 operations drawn") {
		t.Errorf("the timeline is not sampled")
	}
	if fi.Size() > 5<<20 {
		t.Fatalf("report is %d bytes", fi.Size())
	}
}

// TestReportCapsFailureHeavyParts: tens of thousands of anomalies and
// faults (a reused tag makes an anomaly of nearly every read) give a
// bounded anomalies table, a few conflict diagrams, a capped fault table
// and merged fault bands, each saying what it left out.
func TestReportCapsFailureHeavyParts(t *testing.T) {
	var rows []anomRow
	for i := range 20000 {
		c := []string{CheckTags, CheckDurability}[i%2]
		rows = append(rows, anomRow{Anomaly: Anomaly{Checker: c, Key: fmt.Sprintf("k%d", i%7)}})
	}
	kept, more := capAnomalies(rows)
	if len(kept) != 2*maxAnomRows {
		t.Errorf("%d rows kept, want %d", len(kept), 2*maxAnomRows)
	}
	for _, want := range []string{"20000 in all", fmt.Sprintf("%d more %s anomalies", 10000-maxAnomRows, CheckTags), "results.json"} {
		if !strings.Contains(more, want) {
			t.Errorf("note %q lacks %q", more, want)
		}
	}
	if _, more := capAnomalies(rows[:10]); more != "" {
		t.Errorf("a short table says %q", more)
	}

	// 5,000 faults of two kinds, 10 ms apart over 50 s, on a 1,000-unit
	// axis: the bands merge to at most one per unit and kind.
	ms := int64(time.Millisecond)
	var nem []interval
	for i := range int64(5000) {
		nem = append(nem, interval{Fault: []string{"kill", "pause"}[i%2], Value: "s1", ID: int(i), Start: i * 10 * ms, End: i*10*ms + 5*ms})
	}
	x := func(t int64) float64 { return float64(t) / float64(50000*ms) * 1000 }
	bands := faultBands(nem, x, 0, nil)
	if len(bands) == 0 || len(bands) > 2*1000 {
		t.Fatalf("%d bands", len(bands))
	}
	if len(bands) != 2 { // every kill touches the next on this axis, as does every pause
		t.Errorf("%d bands, want one per kind", len(bands))
	}
	if !strings.Contains(bands[0].title, "2500 kill faults from 0.000s to 49.985s") {
		t.Errorf("merged band title %q", bands[0].title)
	}
	// Apart, they stay apart, each with its own tooltip.
	if b := faultBands(nem[:3], func(t int64) float64 { return float64(t) / 1e6 }, 0, nil); len(b) != 3 || !strings.HasPrefix(b[0].title, "kill s1: ") {
		t.Errorf("separate faults: %+v", b)
	}
	// Not applied faults are skipped where asked.
	nem[0].Error = "not applied: unsupported"
	if b := faultBands(nem[:1], x, 0, notApplied); len(b) != 0 {
		t.Errorf("a fault not applied is drawn: %+v", b)
	}
}

// TestTimelineMarksWindowed: the timeline marks the violations inside its
// window, one per instant, at most maxTimelineMarks, and counts the rest.
func TestTimelineMarksWindowed(t *testing.T) {
	var marks []tlMark
	for i := range int64(3000) {
		marks = append(marks, tlMark{T: i / 2, D: fmt.Sprintf("anomaly %d", i)})
	}
	kept, more := windowMarks(marks, 100, 1299)
	if len(kept) != maxTimelineMarks || more != 2*(1200-maxTimelineMarks) {
		t.Errorf("kept %d, more %d; want %d and %d", len(kept), more, maxTimelineMarks, 2*(1200-maxTimelineMarks))
	}
	if kept[0].T != 100 || kept[0].D != "anomaly 200\nanomaly 201" {
		t.Errorf("first mark %+v", kept[0])
	}
}

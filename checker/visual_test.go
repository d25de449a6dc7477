package checker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ares-torture/torture/history"
)

// staleHistory is a small invalid history on k0: p7 reads "a" after p40's
// write of "b" completed. Processes are neither compact nor in order of
// first appearance. The stale read carries a tag and configuration.
func staleHistory() []history.Op {
	const ms = 1_000_000
	ops := build([]top{
		w(12, "k0", "a", 1*ms, 2*ms),
		w(40, "k0", "b", 3*ms, 4*ms),
		r(7, "k0", "a", 5*ms, 6*ms),
	}, nem{fault: "partition", value: "[s1] [s2 s3]", id: 1, start: 2500000, stop: 5500000})
	cfg := uint64(3)
	for i := range ops {
		if ops[i].Type == history.Ok && ops[i].F == history.FRead {
			ops[i].Tag = &history.Tag{TS: 1, WID: "c12-ab"}
			ops[i].Config = &cfg
		}
	}
	return ops
}

// visualizeStale checks staleHistory and writes its key's page.
func visualizeStale(t *testing.T, dir string) string {
	t.Helper()
	res := check(t, staleHistory(), lenient)
	wantVerdict(t, res, Invalid)
	d := res.diags["k0"]
	if d == nil || d.info == nil {
		t.Fatalf("no verbose diagnosis: %+v", res.Anomalies)
	}
	path := filepath.Join(dir, "k0.html")
	meta := &Meta{Test: "unit <test>", RunDir: "/runs/r1"}
	if err := visualizeKey(d, meta, path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pageViewOf extracts the tortureView object of a page.
func pageViewOf(t *testing.T, page string) pageView {
	t.Helper()
	m := regexp.MustCompile(`const tortureView = (.*)\n`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("page has no tortureView")
	}
	var v pageView
	if err := json.Unmarshal([]byte(m[1]), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVisualizationPage(t *testing.T) {
	page := visualizeStale(t, t.TempDir())
	if !strings.Contains(page, "<title>unit &lt;test&gt; /runs/r1 — key k0</title>") {
		t.Errorf("title does not name the run and key:\n%.400s", page)
	}
	v := pageViewOf(t, page)
	if strings.Join(v.Lanes, ",") != "p7,p12,p40" {
		t.Errorf("lanes %v, want the processes in order", v.Lanes)
	}
	// The page labels Porcupine's rows with them, and selects the
	// failing read (window index 2: the third operation invoked).
	for _, s := range []string{visLaneWidth, visLaneText, visRenderHook, "tortureFocus(select)"} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if v.Failing != 2 {
		t.Errorf("failing index %d, want 2", v.Failing)
	}
	// Times in milliseconds; the tag and configuration in the tooltip.
	for _, s := range []string{`"OriginalStart":"5.000 ms"`, `"OriginalEnd":"6.000 ms"`, "tag ⟨1,c12-ab⟩; config 3", "p7 read, line"} {
		if !strings.Contains(page, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	if regexp.MustCompile(`"OriginalStart":"\d+"`).MatchString(page) {
		t.Errorf("raw nanoseconds left in the page")
	}
	if !strings.Contains(page, "stale read") || !strings.Contains(page, "show more") {
		t.Errorf("header lacks the explanation or the crop control")
	}
}

func TestVisualizationDataRows(t *testing.T) {
	// Porcupine's rows are the window's processes, compact and sorted.
	res := check(t, staleHistory(), lenient)
	d := res.diags["k0"]
	if d == nil || d.info == nil {
		t.Fatal("no verbose diagnosis")
	}
	win := d.laneWindow()
	want := map[int]int{7: 0, 12: 1, 40: 2}
	for _, op := range win {
		o := op.Metadata.(*clientOp)
		if op.ClientId != want[o.process] {
			t.Errorf("process %d on row %d, want %d", o.process, op.ClientId, want[o.process])
		}
	}
}

func TestCustomizeUnknownPage(t *testing.T) {
	if _, err := customizePage([]byte("<html>not porcupine</html>"), pageView{}); err == nil {
		t.Fatal("customized a page that is not Porcupine's")
	}
}

func TestVisualTitle(t *testing.T) {
	for _, c := range []struct {
		meta *Meta
		want string
	}{
		{nil, "key k"},
		{&Meta{RunDir: "runs/x"}, "runs/x — key k"},
		{&Meta{Test: "abd", RunDir: "runs/x"}, "abd runs/x — key k"},
	} {
		if got := visualTitle(c.meta, "k"); got != c.want {
			t.Errorf("title %q, want %q", got, c.want)
		}
	}
}

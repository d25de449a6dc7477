package checker

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ares-torture/torture/history"
)

// conflictOf checks ops and returns the conflict of key's anomaly.
func conflictOf(t *testing.T, ops []history.Op, key string) *Conflict {
	t.Helper()
	res := check(t, ops, lenient)
	wantVerdict(t, res, Invalid)
	for _, a := range res.Anomalies {
		if a.Checker == CheckLinearizability && a.Key == key {
			if a.Conflict == nil {
				t.Fatalf("anomaly of %q has no conflict: %+v", key, a)
			}
			return a.Conflict
		}
	}
	t.Fatalf("no linearizability anomaly for %q in %+v", key, res.Anomalies)
	return nil
}

// sig lists a conflict's operations as "p0 write a", "p1 read a".
func sig(c *Conflict) []string {
	var out []string
	for _, o := range c.Ops {
		out = append(out, fmt.Sprintf("p%d %s %s", o.Process, o.As, o.Value))
	}
	sort.Strings(out)
	return out
}

func wantConflict(t *testing.T, c *Conflict, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := sig(c); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("conflict %q, want %q (explanation %q, note %q)", got, want, c.Explanation, c.Note)
	}
	if !c.Minimal {
		t.Errorf("conflict not minimal: %s", c.Note)
	}
}

func wantWords(t *testing.T, s string, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(s, w) {
			t.Errorf("explanation %q does not say %q", s, w)
		}
	}
}

func TestConflictStaleRead(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(2, "x", "a", 12, 15),
		w(4, "x", "b", 20, 30),
		r(3, "x", "b", 32, 38),
		r(1, "x", "a", 40, 50), // b completed before this read began
		r(1, "x", "b", 60, 70),
	})
	c := conflictOf(t, ops, "x")
	wantConflict(t, c, "p0 write a", "p4 write b", "p1 read a")
	wantWords(t, c.Explanation, "p1's read returned a after p4's write of b had completed", "p0's write of a")
}

func TestConflictStaleReadOfInitialValue(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "", 20, 30),
	})
	c := conflictOf(t, ops, "x")
	wantConflict(t, c, "p0 write a", "p1 read ")
	wantWords(t, c.Explanation, "p1's read returned the initial value after p0's write of a had completed")
}

func TestConflictReadsDisagree(t *testing.T) {
	// b's write is slow; p2 sees it, then p3, after p2's read completed,
	// sees the older a again.
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, 100),
		r(2, "x", "b", 30, 40),
		r(3, "x", "a", 50, 60),
		r(4, "x", "b", 110, 120),
	})
	c := conflictOf(t, ops, "x")
	wantConflict(t, c, "p0 write a", "p1 write b", "p2 read b", "p3 read a")
	wantWords(t, c.Explanation, "p3's read returned a after p2's read", "returned b", "p0's write of a had completed before p1's write of b began")
}

func TestConflictReadBeforeWrite(t *testing.T) {
	ops := build([]top{
		r(1, "x", "a", 0, 10),
		w(0, "x", "a", 20, 30),
	})
	c := conflictOf(t, ops, "x")
	wantConflict(t, c, "p0 write a", "p1 read a")
	wantWords(t, c.Explanation, "p1's read returned a, but completed before p0's write of a began")
}

func TestConflictValueNeverWritten(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		r(1, "x", "a", 20, 30),
		r(1, "x", "zz", 40, 50),
		w(0, "x", "q", 60, 70).as(history.Fail),
		r(1, "x", "q", 80, 90),
	})
	c := conflictOf(t, ops, "x")
	wantConflict(t, c, "p1 read zz")
	wantWords(t, c.Explanation, "p1's read returned zz, which no operation wrote")
}

func TestConflictIndeterminateWrite(t *testing.T) {
	// The info write of b took effect (p2 saw it), so p3's later read of
	// a is stale; the info write has no completion in the conflict.
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(1, "x", "b", 20, 30).as(history.Info),
		r(2, "x", "b", 40, 50),
		r(3, "x", "a", 60, 70),
	})
	c := conflictOf(t, ops, "x")
	wantConflict(t, c, "p0 write a", "p1 write b", "p2 read b", "p3 read a")
	wantWords(t, c.Explanation, "p3's read returned a", "p2's read", "returned b")
}

// TestConflictBuried hides one stale read among 500 valid operations of
// one key (sequential, and from the concurrent synthetic generator).
func TestConflictBuried(t *testing.T) {
	ms := int64(time.Millisecond)
	var ops []top
	last := ""
	for i := 0; i < 500; i++ {
		t0 := int64(i) * 10 * ms
		p := i % 5
		if i%2 == 0 {
			last = fmt.Sprintf("v%d", i)
			ops = append(ops, w(p, "x", last, t0, t0+5*ms))
		} else {
			ops = append(ops, r(p, "x", last, t0, t0+5*ms))
		}
	}
	ops[251].v = "v240" // read at 2510 ms; v250 completed at 2505 ms
	c := conflictOf(t, build(ops), "x")
	wantConflict(t, c, "p0 write v240", "p0 write v250", "p1 read v240")
	wantWords(t, c.Explanation, "p1's read returned v240 after p0's write of v250 had completed")

	// Concurrent: five clients on one key, some info writes. Turn one
	// read into a stale one: it returns a value written by a write that
	// completed before another write, which completed before the read
	// began.
	for seed := int64(1); seed <= 5; seed++ {
		hist := synthetic(seed, 500, 1, 5)
		type iv struct {
			v         string
			call, ret int64
		}
		var writes []iv
		inv := map[int]int64{}
		for _, op := range hist {
			switch {
			case op.Type == history.Invoke:
				inv[op.Process] = op.Time
			case op.Type == history.Ok && op.F == history.FWrite:
				writes = append(writes, iv{op.Value, inv[op.Process], op.Time})
			}
		}
		rng := rand.New(rand.NewSource(seed))
		done := false
		for tries := 0; tries < 1000 && !done; tries++ {
			i := len(hist)/4 + rng.Intn(len(hist)/2)
			op := &hist[i]
			if op.Type != history.Ok || op.F != history.FRead || op.Final {
				continue
			}
			call := inv[op.Process] // the read's own invoke: its process runs one op at a time
			for j := 0; j < len(hist); j++ {
				if hist[j].Process == op.Process && hist[j].Type == history.Invoke && hist[j].Time <= op.Time {
					call = hist[j].Time
				}
			}
			for _, o := range writes {
				for _, n := range writes {
					if !done && o.ret < n.call && n.ret < call && o.v != op.Value && n.v != op.Value {
						op.Value = o.v
						done = true
					}
				}
			}
		}
		if !done {
			t.Fatalf("seed %d: no read to make stale", seed)
		}
		c := conflictOf(t, hist, "k0")
		if n := len(c.Ops); n < 2 || n > 4 || !c.Minimal {
			t.Errorf("seed %d: conflict of %d operations (minimal %v) from %d: %q; %s", seed, n, c.Minimal, c.From, sig(c), c.Explanation)
		}
		if c.Explanation == "" {
			t.Errorf("seed %d: no explanation", seed)
		}
	}
}

func TestConflictValidKeyHasNone(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(0, "x", "b", 20, 30),
		r(1, "x", "a", 40, 50),
		w(2, "y", "c", 0, 10),
		r(3, "y", "c", 20, 30),
	})
	res := check(t, ops, lenient)
	for _, a := range res.Anomalies {
		if a.Key != "x" {
			t.Errorf("anomaly on key %q: %+v", a.Key, a)
		}
	}
	res = check(t, synthetic(3, 300, 2, 4), lenient)
	wantVerdict(t, res, Valid)
	for _, a := range res.Anomalies {
		if a.Conflict != nil {
			t.Errorf("conflict on a valid run: %+v", a)
		}
	}
}

// TestConflictIsAProof checks each conflict the search returns on random
// invalid histories: self-contained, not linearizable on its own, and
// (when minimal) linearizable or not self-contained without any one of
// its operations.
func TestConflictIsAProof(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		hist := synthetic(seed, 200, 1, 4)
		rng := rand.New(rand.NewSource(seed))
		var reads []int
		var values []string
		for i, op := range hist {
			if op.Type == history.Ok && op.F == history.FRead && !op.Final {
				reads = append(reads, i)
			}
			if op.Type == history.Ok && op.F == history.FWrite {
				values = append(values, op.Value)
			}
		}
		for range 3 {
			hist[reads[rng.Intn(len(reads))]].Value = values[rng.Intn(len(values))]
		}
		res := check(t, hist, lenient)
		if res.Checkers[CheckLinearizability].Verdict != Invalid {
			continue
		}
		d := res.diags["k0"]
		a := findAnomaly(t, res, CheckLinearizability)
		c := a.Conflict
		if c == nil || len(c.Ops) == 0 {
			t.Fatalf("seed %d: no conflict: %+v", seed, c)
		}
		s := &conflictSearch{ctx: context.Background(), kh: d.kh, share: 1 << 30, ids: map[string]int{}, writers: map[string][]int{}, budget: 1 << 30}
		for i, v := range d.kh.values {
			s.ids[v] = i
		}
		lines := map[[2]int]bool{}
		for _, o := range c.Ops {
			lines[[2]int{o.Line, boolInt(o.Derived)}] = true
		}
		var set []int
		for i, o := range d.kh.src {
			if o.f == history.FWrite {
				s.writers[o.value] = append(s.writers[o.value], i)
			}
			if lines[[2]int{o.line, boolInt(o.derived)}] {
				set = append(set, i)
			}
		}
		if len(set) != len(c.Ops) || !s.test(set) {
			t.Fatalf("seed %d: conflict %q is not a failing self-contained set", seed, sig(c))
		}
		if !c.Minimal {
			continue
		}
		for j := range set {
			rest := append(append([]int(nil), set[:j]...), set[j+1:]...)
			if s.test(rest) {
				t.Errorf("seed %d: conflict %q still fails without operation %d", seed, sig(c), j)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestConflictBudget(t *testing.T) {
	ops := build([]top{
		w(0, "x", "a", 0, 10),
		w(0, "x", "b", 20, 30),
		r(1, "x", "a", 40, 50),
		r(1, "x", "b", 60, 70),
	})
	res := check(t, ops, lenient)
	c := minimalConflict(context.Background(), res.diags["x"], 1<<30, 1)
	if c.Minimal || c.Checks > 1 {
		t.Errorf("budget of one check: %+v", c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c := minimalConflict(ctx, res.diags["x"], 1<<30, 100); c.Minimal || len(c.Ops) != 0 || c.Note == "" {
		t.Errorf("cancelled search: %+v", c)
	}
}

func TestConflictInResultsAndReport(t *testing.T) {
	ms := int64(time.Millisecond)
	ops := build([]top{
		w(0, "k/1", "a", 0, 10*ms),
		w(4, "k/1", "b", 20*ms, 30*ms),
		r(1, "k/1", "a", 40*ms, 50*ms),
		r(1, "k/1", "b", 60*ms, 70*ms),
	})
	res := check(t, ops, lenient)
	dir := filepath.Join(t.TempDir(), "run")
	if err := res.Write(dir, Meta{Test: "t"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Anomalies []struct {
			Conflict *Conflict `json:"conflict"`
		} `json:"anomalies"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Anomalies) != 1 || raw.Anomalies[0].Conflict == nil || len(raw.Anomalies[0].Conflict.Ops) != 3 {
		t.Fatalf("results.json anomalies: %s", b)
	}
	rep, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	s := string(rep)
	for _, want := range []string{"Minimal conflict on key", "<svg", "P1&#39;s read returned a after p4&#39;s write of b had completed", "p4 write b", "ms from the run"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Index(s, "Minimal conflict") > strings.Index(s, "<h2>Checkers") {
		t.Errorf("the conflict is not at the top of the report")
	}
	// A result read back renders the same section.
	back, err := ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	if h := conflictHTML(back.Anomalies[0]); !strings.Contains(string(h), "<svg") {
		t.Errorf("conflict read back renders %q", h)
	}
}

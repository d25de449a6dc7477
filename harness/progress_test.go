package harness

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// progClock is a clock tests move by hand.
type progClock struct{ t time.Time }

func (c *progClock) now() time.Time      { return c.t }
func (c *progClock) set(d time.Duration) { c.t = time.Unix(1_000_000, 0).Add(d) }
func newProgClock() *progClock           { c := &progClock{}; c.set(0); return c }
func progWidth(cols int) func() int      { return func() int { return cols } }
func progTTY(w *bytes.Buffer, cols int) lineOut {
	return lineOut{w: w, tty: true, width: progWidth(cols)}
}

// progressRun is what progress looks at: counts, faults and stage, set by hand.
type progressRun struct {
	counts Counts
	faults []string
	stage  string
}

func (f *progressRun) newProgress(out lineOut, clock *progClock, total time.Duration) *progress {
	return newProgressWith(out, func() Counts { return f.counts }, total,
		func() []string { return f.faults }, func() string { return f.stage }, clock.now)
}

// progRedraws splits terminal output into the text of each redraw, checking
// that each is "\r" + text + "\x1b[K".
func progRedraws(t *testing.T, out string) []string {
	t.Helper()
	var texts []string
	for _, part := range strings.Split(out, "\r")[1:] {
		text, ok := strings.CutSuffix(part, "\x1b[K")
		if !ok {
			t.Fatalf("redraw %q does not end with ESC[K", part)
		}
		texts = append(texts, text)
	}
	return texts
}

func TestFitNeverSplitsRunes(t *testing.T) {
	s := "faults: partition: nœud-1 | 節点-2; kill: e\u0301tage-3 ✓ " + strings.Repeat("ü日", 30)
	for cols := 0; cols <= displayWidth(s)+2; cols++ {
		got := fit(s, cols)
		if !utf8.ValidString(got) {
			t.Fatalf("fit(%d) = %q: not valid UTF-8", cols, got)
		}
		if w := displayWidth(got); w > cols {
			t.Fatalf("fit(%d) = %q: %d columns", cols, got, w)
		}
		if body, cut := strings.CutSuffix(got, "..."); cut && !strings.HasPrefix(s, body) {
			t.Fatalf("fit(%d) = %q: not a prefix of the line", cols, got)
		}
	}
	if got := fit("a\nb\tc", 80); got != "a b c" {
		t.Errorf("control characters: fit = %q, want %q", got, "a b c")
	}
	// Two columns before the ellipsis: one wide character, not a half.
	if got := fit("日本語", 5); got != "日..." {
		t.Errorf("fit(日本語, 5) = %q, want %q", got, "日...")
	}
	if got := fit("日本語", 4); got != "..." {
		t.Errorf("fit(日本語, 4) = %q, want %q", got, "...")
	}
	if displayWidth("e\u0301") != 1 || displayWidth("日") != 2 || displayWidth("ü") != 1 {
		t.Errorf("display widths: é=%d 日=%d ü=%d", displayWidth("e\u0301"), displayWidth("日"), displayWidth("ü"))
	}
}

func TestProgressFitsTerminalWidth(t *testing.T) {
	head := regexp.MustCompile(`^\[[0-2]s/30s\] running `)
	for _, cols := range []int{80, 40} {
		var buf bytes.Buffer
		clock := newProgClock()
		run := &progressRun{stage: "running", counts: Counts{Invoked: 12400, OK: 12000, Fail: 12, Info: 333},
			faults: []string{"partition: n1 | n2 n3 — 節点", "kill: n4", "clock: nœud-5 +250ms"}}
		p := run.newProgress(progTTY(&buf, cols), clock, 30*time.Second)
		for i := 1; i <= 8; i++ {
			clock.set(time.Duration(i) * 250 * time.Millisecond)
			p.tick()
		}
		texts := progRedraws(t, buf.String())
		if len(texts) != 8 {
			t.Fatalf("%d columns: %d progRedraws, want 8: %q", cols, len(texts), buf.String())
		}
		for _, text := range texts {
			if !utf8.ValidString(text) {
				t.Errorf("%d columns: %q is not valid UTF-8", cols, text)
			}
			if w := displayWidth(text); w > cols-1 {
				t.Errorf("%d columns: %q takes %d columns", cols, text, w)
			}
			if !head.MatchString(text) {
				t.Errorf("%d columns: %q", cols, text)
			}
			// At 80 columns the narrower variant keeps the faults' kinds.
			if cols == 80 && !strings.Contains(text, "ok=12000 fail=12 info=333 faults: partition, kill") {
				t.Errorf("%d columns: %q", cols, text)
			}
		}
		p.mu.Lock()
		p.clearLocked()
		p.mu.Unlock()
		if !strings.HasSuffix(buf.String(), "\x1b[K\r\x1b[K") {
			t.Errorf("%d columns: the line is not cleared: %q", cols, buf.String())
		}
	}
}

func TestProgressElapsedStopsAtTotal(t *testing.T) {
	bracket := regexp.MustCompile(`^\[(\d+)s(?:/(\d+)s)?\] `)
	type step struct {
		at    time.Duration
		stage string
		want  string // the line's start
	}
	for name, steps := range map[string][]step{
		"full run": {
			{10 * time.Second, "running", "[10s/30s] running ops="},
			{30 * time.Second, "running", "[30s/30s] running ops="},
			{31500 * time.Millisecond, "running", "[30s] draining 1s ops="},
			{32 * time.Second, "healing", "[30s] healing 0s ops="},
			{33 * time.Second, "settling", "[30s] settling 0s ops="},
			{36 * time.Second, "settling", "[30s] settling 3s ops="},
			{37 * time.Second, "final reads", "[30s] final reads 0s ops="},
			{39 * time.Second, "final reads", "[30s] final reads 2s ops="},
		},
		"interrupted": {
			{5 * time.Second, "running", "[5s/30s] running ops="},
			{12 * time.Second, "healing", "[12s/30s] healing 0s ops="},
			{14 * time.Second, "healing", "[12s/30s] healing 2s ops="},
		},
	} {
		var buf bytes.Buffer
		clock := newProgClock()
		run := &progressRun{stage: "starting"}
		p := run.newProgress(progTTY(&buf, 200), clock, 30*time.Second)
		for _, s := range steps {
			clock.set(s.at)
			run.stage = s.stage
			buf.Reset()
			p.tick()
			texts := progRedraws(t, buf.String())
			if len(texts) != 1 || !strings.HasPrefix(texts[0], s.want) {
				t.Errorf("%s at %s: %q, want %q...", name, s.at, texts, s.want)
				continue
			}
			if m := bracket.FindStringSubmatch(texts[0]); m == nil {
				t.Errorf("%s: %q has no [elapsed] head", name, texts[0])
			} else if m[2] != "" && progAtoi(t, m[1]) > progAtoi(t, m[2]) {
				t.Errorf("%s: %q: elapsed beyond the total", name, texts[0])
			}
		}
	}
}

func progAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRateWindow(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	w := rateWindow{span: 5 * time.Second}
	w.add(at(0), 0)
	if _, ok := w.rate(); ok {
		t.Fatal("a rate from one sample")
	}
	w.add(at(0.5), 50)
	if r, ok := w.rate(); !ok || r != 100 {
		t.Fatalf("after 0.5s: rate %v %v, want 100", r, ok)
	}
	// 100 ops/s for 10s, then nothing.
	for s := 1; s <= 10; s++ {
		w.add(at(float64(s)), int64(100*s))
	}
	if r, _ := w.rate(); r != 100 {
		t.Errorf("at 10s: %v ops/s, want 100", r)
	}
	for s := 11; s <= 12; s++ {
		w.add(at(float64(s)), 1000)
	}
	// The window is 7s..12s: 300 ops in 5s. Since the start it would be 83/s.
	if r, _ := w.rate(); r != 60 {
		t.Errorf("at 12s: %v ops/s, want 60", r)
	}
	if n := len(w.samples); n != 6 {
		t.Errorf("%d samples kept, want 6 (7s..12s)", n)
	}
	for s := 13; s <= 15; s++ {
		w.add(at(float64(s)), 1000)
	}
	if r, _ := w.rate(); r != 0 {
		t.Errorf("at 15s: %v ops/s, want 0", r)
	}
	// Uneven samples: the one just before the window start is kept, so the
	// rate covers at least the span.
	w = rateWindow{span: 5 * time.Second}
	w.add(at(0), 0)
	w.add(at(4), 400)
	w.add(at(8), 800)
	w.add(at(9.5), 1100)
	if r, _ := w.rate(); r != 700.0/5.5 {
		t.Errorf("uneven samples: %v ops/s, want %v (from 4s)", r, 700.0/5.5)
	}
}

func TestProgressRateOnLine(t *testing.T) {
	var buf bytes.Buffer
	clock := newProgClock()
	run := &progressRun{stage: "running"}
	p := run.newProgress(progTTY(&buf, 200), clock, time.Minute)
	// 50 ops/s for 20s, then 10 ops/s: the line says 10/s 5s later, where a
	// rate since the start would still say 40/s.
	for ms := 250; ms <= 25_000; ms += 250 {
		clock.set(time.Duration(ms) * time.Millisecond)
		s := float64(ms) / 1000
		n := 50 * s
		if s > 20 {
			n = 1000 + 10*(s-20)
		}
		run.counts = Counts{Invoked: int64(n), OK: int64(n)}
		buf.Reset()
		p.tick()
	}
	if got := progRedraws(t, buf.String()); len(got) != 1 || !strings.Contains(got[0], "ops=1050 (10/s)") {
		t.Errorf("line %q, want ops=1050 (10/s)", got)
	}
}

func TestProgressPlainFaultsSinceLastLine(t *testing.T) {
	var buf bytes.Buffer
	clock := newProgClock()
	run := &progressRun{stage: "running"}
	p := run.newProgress(lineOut{w: &buf}, clock, 30*time.Second)
	faultsAt := func(s float64) []string {
		switch {
		case s < 1:
			return nil
		case s < 2:
			return []string{"kill: n1"}
		case s < 3:
			return []string{"kill: n1", "partition: n2 | n3"}
		case s < 4.5:
			return []string{"partition: n2 | n3"}
		case s < 6:
			return nil
		case s < 7:
			return []string{"clock: n4"}
		}
		return nil
	}
	for ms := 250; ms <= 15_000; ms += 250 {
		clock.set(time.Duration(ms) * time.Millisecond)
		run.faults = faultsAt(float64(ms) / 1000)
		p.tick()
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	want := []string{
		"[5s/30s] running ops=0 (0/s) ok=0 fail=0 info=0 faults: kill: n1 (ended); partition: n2 | n3 (ended)",
		"[10s/30s] running ops=0 (0/s) ok=0 fail=0 info=0 faults: clock: n4 (ended)",
		"[15s/30s] running ops=0 (0/s) ok=0 fail=0 info=0 faults: none",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// A fault still active at a line is listed again at the next one; a
	// post-run stage change prints a line at once.
	buf.Reset()
	run.faults = []string{"kill: n5"}
	clock.set(20 * time.Second)
	p.tick()
	run.faults = nil
	run.stage = "healing"
	clock.set(20250 * time.Millisecond)
	p.tick()
	clock.set(20500 * time.Millisecond)
	p.tick()
	got := buf.String()
	want2 := "[20s/30s] running ops=0 (0/s) ok=0 fail=0 info=0 faults: kill: n5\n" +
		"[20s/30s] healing 0s ops=0 (0/s) ok=0 fail=0 info=0 faults: kill: n5 (ended)\n"
	if got != want2 {
		t.Errorf("got:\n%swant:\n%s", got, want2)
	}
	if strings.Contains(got, "\x1b") || strings.Contains(got, "\r") {
		t.Errorf("terminal control in plain output: %q", got)
	}
}

func TestCheckProgress(t *testing.T) {
	var buf bytes.Buffer
	clock := newProgClock()
	cp := newCheckProgressWith(progTTY(&buf, 80), time.Minute, clock.now)
	clock.set(4 * time.Second)
	cp.tick()
	if got := progRedraws(t, buf.String()); len(got) != 1 || got[0] != "checking (4s / 1m0s)" {
		t.Errorf("line %q", got)
	}
	// The check's own lines clear the progress line first.
	buf.Reset()
	if _, err := cp.Write([]byte("report: runs/x/report.html\n")); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "\r\x1b[Kreport: runs/x/report.html\n" {
		t.Errorf("write: %q", got)
	}
	// The checker names what it is at.
	buf.Reset()
	cp.setStage(`key "k3" (2 of 16)`)
	clock.set(5 * time.Second)
	cp.tick()
	if got := progRedraws(t, buf.String()); len(got) != 1 || got[0] != `checking key "k3" (2 of 16) (5s / 1m0s)` {
		t.Errorf("line %q", got)
	}
	buf.Reset()
	cp.setStage(`key "k3": diagnosis`)
	clock.set(64 * time.Second)
	cp.tick()
	if got := progRedraws(t, buf.String()); len(got) != 1 || got[0] != `checking key "k3": diagnosis (1m4s, past the 1m0s timeout: diagnosing)` {
		t.Errorf("line %q", got)
	}

	// Off a terminal: a line every 5s, none for a quick check.
	buf.Reset()
	clock.set(0)
	cp = newCheckProgressWith(lineOut{w: &buf}, 0, clock.now)
	for ms := 250; ms <= 10_000; ms += 250 {
		clock.set(time.Duration(ms) * time.Millisecond)
		cp.tick()
	}
	def := seconds(DefaultOptions().CheckTimeout.D())
	if got, want := buf.String(), "checking (5s / "+def+")\nchecking (10s / "+def+")\n"; got != want {
		t.Errorf("plain lines %q, want %q", got, want)
	}
}

func TestCheckProgressPassesWritesThrough(t *testing.T) {
	var buf bytes.Buffer
	cp := startCheckProgress(&buf, time.Minute)
	if _, err := cp.Write([]byte("report: x\n")); err != nil {
		t.Fatal(err)
	}
	cp.finish()
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if !strings.Contains(buf.String(), "report: x\n") {
		t.Errorf("output %q", buf.String())
	}
}

package harness

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/sys/unix"
	"golang.org/x/text/width"
)

// IsTerminal reports whether w is a character device (a terminal), where
// progress is redrawn in place; elsewhere (CI logs, pipes) it is a plain
// line every few seconds. golang.org/x/term is not in the module graph,
// and a terminal check needs no more than this.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// TerminalWidth is the width of the terminal w writes to, in columns: the
// TIOCGWINSZ ioctl on w's file, else $COLUMNS, else 80.
func TerminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if rc, err := f.SyscallConn(); err == nil {
			cols := 0
			_ = rc.Control(func(fd uintptr) {
				if ws, err := unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ); err == nil {
					cols = int(ws.Col)
				}
			})
			if cols > 0 {
				return cols
			}
		}
	}
	if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv("COLUMNS"))); err == nil && n > 0 {
		return n
	}
	return 80
}

// runeWidth is the number of terminal columns r takes: 0 for combining
// marks and format characters, 2 for East Asian wide and fullwidth
// characters, 1 otherwise.
func runeWidth(r rune) int {
	if unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf) {
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// displayWidth is the number of terminal columns s takes.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// fit makes s one terminal line of at most cols columns: control
// characters (a newline in a fault's description would break the redraw)
// become spaces, and a longer line is cut between characters, never
// inside one, and ends with "...".
func fit(s string, cols int) string {
	clean := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if displayWidth(clean) <= cols {
		return clean
	}
	const ellipsis = "..."
	budget := cols - len(ellipsis)
	if budget < 0 {
		return ellipsis[:max(cols, 0)]
	}
	var b strings.Builder
	used := 0
	for _, r := range clean {
		w := runeWidth(r)
		if used+w > budget {
			break
		}
		used += w
		b.WriteRune(r) // a zero-width mark right at the end stays with its base
	}
	return b.String() + ellipsis
}

// liner shows one status line: redrawn in place on a terminal (cut to
// the terminal's width), printed as plain lines elsewhere.
type liner struct {
	lineOut
	mu    sync.Mutex
	drawn bool
}

// lineOut is where a liner writes.
type lineOut struct {
	w     io.Writer
	tty   bool
	width func() int // the terminal's columns, asked at every redraw
}

func outTo(w io.Writer) lineOut {
	return lineOut{w: w, tty: IsTerminal(w), width: func() int { return TerminalWidth(w) }}
}

// drawLocked redraws the line on a terminal (one column is left free so
// that no terminal wraps), or prints it as a line of its own elsewhere.
// On a terminal, shorter variants of the line may follow it, most
// detailed first: the first that fits is drawn, else the last, cut.
func (l *liner) drawLocked(line string, shorter ...string) {
	if !l.tty {
		fmt.Fprintln(l.w, line)
		return
	}
	cols := l.width() - 1
	for _, v := range append([]string{line}, shorter...) {
		line = v
		if displayWidth(v) <= cols {
			break
		}
	}
	fmt.Fprint(l.w, "\r"+fit(line, cols)+"\x1b[K")
	l.drawn = true
}

// clearLocked wipes a line drawn on a terminal.
func (l *liner) clearLocked() {
	if l.tty && l.drawn {
		fmt.Fprint(l.w, "\r\x1b[K")
		l.drawn = false
	}
}

// ticker calls tick every 250ms until stop is closed, then closes stopped.
func ticker(stop <-chan struct{}, stopped chan<- struct{}, tick func()) {
	defer close(stopped)
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			tick()
		}
	}
}

const (
	// tickEvery is how often progress looks at the run (and redraws on a
	// terminal).
	tickEvery = 250 * time.Millisecond
	// plainEvery is how often a plain line is printed off a terminal.
	plainEvery = 5 * time.Second
	// rateSpan is the window of the ops/s rate.
	rateSpan = 5 * time.Second
)

// rateWindow is the rate of a growing count over the last span of time.
type rateWindow struct {
	span    time.Duration
	samples []rateSample
}

type rateSample struct {
	t time.Time
	n int64
}

// add records the count n at time t (times do not go back). It keeps the
// samples of the last span and the one just before it, so that the rate
// covers the whole span once there is one.
func (w *rateWindow) add(t time.Time, n int64) {
	w.samples = append(w.samples, rateSample{t, n})
	from := t.Add(-w.span)
	i := 0
	for i+1 < len(w.samples) && !w.samples[i+1].t.After(from) {
		i++
	}
	w.samples = slices.Delete(w.samples, 0, i)
}

// rate is the count's growth per second over the window; ok is false
// until two samples apart in time were added.
func (w *rateWindow) rate() (perSec float64, ok bool) {
	if len(w.samples) < 2 {
		return 0, false
	}
	first, last := w.samples[0], w.samples[len(w.samples)-1]
	dt := last.t.Sub(first.t).Seconds()
	if dt <= 0 {
		return 0, false
	}
	return float64(last.n-first.n) / dt, true
}

// seconds formats a duration to the second ("4s", "1m5s").
func seconds(d time.Duration) string { return max(d, 0).Truncate(time.Second).String() }

// progress shows how a run is going: the run's time against its total
// (then the post-run stage and its own time), ops done and per second
// over the last few seconds, ok/fail/info, faults. On a terminal it is
// redrawn every 250ms and shows the faults active now; elsewhere it is a
// plain line every 5s (and at a stage change) listing every fault seen
// since the line before.
type progress struct {
	liner
	counts func() Counts
	total  time.Duration
	faults func() []string
	stage  func() string
	now    func() time.Time

	// Under liner.mu:
	start      time.Time
	runEnd     time.Time // when a post-run stage was first seen; zero before
	stageName  string    // the stage seen last
	stageStart time.Time // when it was first seen
	rate       rateWindow
	// Off a terminal: the faults seen since the last line, in the order
	// first seen; the faults active at the last look; when and at which
	// stage the last line was printed.
	seen      []string
	active    []string
	lastLine  time.Time
	lineStage string

	stop    chan struct{}
	stopped chan struct{}
}

func newProgress(w io.Writer, rec *Recorder, total time.Duration, faults func() []string, stage func() string) *progress {
	return newProgressWith(outTo(w), rec.Counts, total, faults, stage, time.Now)
}

func newProgressWith(out lineOut, counts func() Counts, total time.Duration, faults func() []string, stage func() string, now func() time.Time) *progress {
	p := &progress{liner: liner{lineOut: out}, counts: counts, total: total, faults: faults, stage: stage, now: now,
		rate: rateWindow{span: rateSpan}, stop: make(chan struct{}), stopped: make(chan struct{})}
	p.start = now()
	p.stageStart, p.lastLine = p.start, p.start
	p.rate.add(p.start, counts().Completed())
	return p
}

// run looks at the run every 250ms until finish.
func (p *progress) run() { ticker(p.stop, p.stopped, p.tick) }

// runStage reports whether stage is part of the run proper (before
// healing), when the run's time counts against its total.
func runStage(stage string) bool { return stage == "" || stage == "starting" || stage == "running" }

// tick takes a look at the run and redraws, or prints a plain line when
// one is due.
func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	c := p.counts()
	p.rate.add(now, c.Completed())
	if st := p.stage(); st != p.stageName {
		p.stageName, p.stageStart = st, now
		if !runStage(st) && p.runEnd.IsZero() {
			p.runEnd = now
		}
	}
	active := p.faults()
	if p.tty {
		head, rate := p.head(now), p.rateText()
		p.drawLocked(p.line(now, c, faultList(active)),
			// Narrower: the rate without the total (ok+fail+info), then
			// the faults' kinds without their targets.
			fmt.Sprintf("%s %s ops/s %s faults: %s", head, rate, outcomes(c), faultList(active)),
			fmt.Sprintf("%s %s ops/s %s faults: %s", head, rate, outcomes(c), faultKinds(active)))
		return
	}
	for _, f := range active {
		if !slices.Contains(p.seen, f) {
			p.seen = append(p.seen, f)
		}
	}
	p.active = active
	if now.Sub(p.lastLine) < plainEvery && (p.stageName == p.lineStage || runStage(p.stageName)) {
		return
	}
	var fs []string
	for _, f := range p.seen {
		if !slices.Contains(active, f) {
			f += " (ended)"
		}
		fs = append(fs, f)
	}
	p.drawLocked(p.line(now, c, faultList(fs)))
	p.seen = slices.Clone(active)
	p.lastLine, p.lineStage = now, p.stageName
}

func faultList(fs []string) string {
	if len(fs) == 0 {
		return "none"
	}
	return strings.Join(fs, "; ")
}

// faultKinds lists the faults' kinds ("kind: targets" without the
// targets), a kind active more than once with its count.
func faultKinds(fs []string) string {
	if len(fs) == 0 {
		return "none"
	}
	var kinds []string
	count := map[string]int{}
	for _, f := range fs {
		k, _, _ := strings.Cut(f, ":")
		if count[k] == 0 {
			kinds = append(kinds, k)
		}
		count[k]++
	}
	for i, k := range kinds {
		if count[k] > 1 {
			kinds[i] = fmt.Sprintf("%s x%d", k, count[k])
		}
	}
	return strings.Join(kinds, ", ")
}

// line is the progress line at now: the head (see head), ops completed
// and per second over the last 5s, ok/fail/info, faults.
func (p *progress) line(now time.Time, c Counts, faults string) string {
	return fmt.Sprintf("%s ops=%d (%s/s) %s faults: %s", p.head(now), c.Completed(), p.rateText(), outcomes(c), faults)
}

func outcomes(c Counts) string { return fmt.Sprintf("ok=%d fail=%d info=%d", c.OK, c.Fail, c.Info) }

// rateText is the ops/s rate over the last 5s, "-" before there is one.
func (p *progress) rateText() string {
	if r, ok := p.rate.rate(); ok {
		return fmt.Sprintf("%.0f", r)
	}
	return "-"
}

// head is "[12s/30s] running" during the run, "[30s] settling 3s" after
// it (the run's time stops at its total; the post-run stage's time is
// counted apart), "[12s/30s] healing 1s" after a run cut short.
func (p *progress) head(now time.Time) string {
	switch {
	case p.runEnd.IsZero() && now.Sub(p.start) <= p.total:
		return fmt.Sprintf("[%s/%s] %s", seconds(now.Sub(p.start)), seconds(p.total), p.stageName)
	case p.runEnd.IsZero():
		// The run's time is up; operations in flight are finishing
		// (draining).
		return fmt.Sprintf("[%s] draining %s", seconds(p.total), seconds(now.Sub(p.start.Add(p.total))))
	}
	ran := min(p.runEnd.Sub(p.start), p.total)
	head := "[" + seconds(ran) + "]"
	if seconds(ran) != seconds(p.total) {
		head = fmt.Sprintf("[%s/%s]", seconds(ran), seconds(p.total))
	}
	return fmt.Sprintf("%s %s %s", head, p.stageName, seconds(now.Sub(p.stageStart)))
}

// Println prints a line of its own, above the progress line on a terminal.
func (p *progress) Println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintln(p.w, s)
}

// finish stops redrawing and clears the line on a terminal.
func (p *progress) finish() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.stopped
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

// checkProgress shows that the checker is at work and what it is at:
// `checking key "k3" (2 of 16) (4s / 1m0s)` against the check timeout,
// redrawn on a terminal, a plain line every 5s elsewhere. It is also the
// writer the check's own lines go to, so that they are printed above the
// progress line, not across it.
type checkProgress struct {
	liner
	timeout time.Duration
	now     func() time.Time

	start    time.Time
	lastLine time.Time // off a terminal; under liner.mu
	stage    string    // what the checker said it is at (checker.Options.Progress); under liner.mu

	stop    chan struct{}
	stopped chan struct{}
}

// startCheckProgress shows the checking stage on w until finish; timeout
// is the check timeout (CheckInput.Timeout; the default if not positive).
func startCheckProgress(w io.Writer, timeout time.Duration) *checkProgress {
	cp := newCheckProgressWith(outTo(w), timeout, time.Now)
	go ticker(cp.stop, cp.stopped, cp.tick)
	return cp
}

func newCheckProgressWith(out lineOut, timeout time.Duration, now func() time.Time) *checkProgress {
	if timeout <= 0 {
		timeout = DefaultOptions().CheckTimeout.D()
	}
	cp := &checkProgress{liner: liner{lineOut: out}, timeout: timeout, now: now, stop: make(chan struct{}), stopped: make(chan struct{})}
	cp.start = now()
	cp.lastLine = cp.start
	return cp
}

// setStage records what the checker is at (checker.Options.Progress); the
// next redraw shows it.
func (cp *checkProgress) setStage(stage string) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.stage = stage
}

func (cp *checkProgress) line(now time.Time) string {
	d := now.Sub(cp.start)
	what := "checking"
	if cp.stage != "" {
		what += " " + cp.stage
	}
	if d <= cp.timeout {
		return fmt.Sprintf("%s (%s / %s)", what, seconds(d), seconds(cp.timeout))
	}
	// Past the timeout the undecided keys are unknown and the invalid
	// ones are being diagnosed.
	return fmt.Sprintf("%s (%s, past the %s timeout: diagnosing)", what, seconds(d), seconds(cp.timeout))
}

func (cp *checkProgress) tick() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	now := cp.now()
	if !cp.tty {
		if now.Sub(cp.lastLine) < plainEvery {
			return
		}
		cp.lastLine = now
	}
	cp.drawLocked(cp.line(now))
}

// Write writes the check's own output, above the progress line.
func (cp *checkProgress) Write(b []byte) (int, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.clearLocked()
	return cp.w.Write(b)
}

// finish stops the checking line and clears it on a terminal.
func (cp *checkProgress) finish() {
	select {
	case <-cp.stop:
	default:
		close(cp.stop)
	}
	<-cp.stopped
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.clearLocked()
}

package harness

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
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

// progress shows how a run is going: elapsed, ops done and per second,
// ok/fail/info, active faults.
type progress struct {
	w      io.Writer
	tty    bool
	rec    *Recorder
	total  time.Duration
	faults func() []string
	stage  func() string

	mu      sync.Mutex
	drawn   bool
	lastN   int64
	lastT   time.Time
	stop    chan struct{}
	stopped chan struct{}
}

func newProgress(w io.Writer, rec *Recorder, total time.Duration, faults func() []string, stage func() string) *progress {
	return &progress{w: w, tty: IsTerminal(w), rec: rec, total: total, faults: faults, stage: stage,
		stop: make(chan struct{}), stopped: make(chan struct{})}
}

// run redraws every 250ms on a terminal, prints a line every 5s elsewhere.
func (p *progress) run() {
	defer close(p.stopped)
	every := 5 * time.Second
	if p.tty {
		every = 250 * time.Millisecond
	}
	p.lastT = time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *progress) line() string {
	c := p.rec.Counts()
	now := time.Now()
	n := c.Completed()
	rate := 0.0
	if dt := now.Sub(p.lastT).Seconds(); dt > 0 && !p.tty {
		rate = float64(n-p.lastN) / dt
	}
	elapsed := time.Duration(p.rec.Now())
	if p.tty && elapsed > 0 {
		rate = float64(n) / elapsed.Seconds()
	}
	p.lastN, p.lastT = n, now
	faults := "none"
	if fs := p.faults(); len(fs) > 0 {
		faults = strings.Join(fs, "; ")
	}
	return fmt.Sprintf("[%s/%s %s] ops=%d (%.0f/s) ok=%d fail=%d info=%d faults: %s",
		elapsed.Truncate(time.Second), p.total, p.stage(), n, rate, c.OK, c.Fail, c.Info, faults)
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.line()
	if p.tty {
		// Redraw in place; keep within one terminal line so \r works.
		if len(l) > 160 {
			l = l[:157] + "..."
		}
		fmt.Fprintf(p.w, "\r\033[K%s", l)
		p.drawn = true
		return
	}
	fmt.Fprintln(p.w, l)
}

// Println prints a line of its own, above the progress line on a terminal.
func (p *progress) Println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
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
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

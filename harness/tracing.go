package harness

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ares-torture/torture/tracing"
)

// TracesDir holds a run's spans: one OTLP JSON file per process
// (controller.json for the clients that run in the controller), and
// summary.txt, where the time goes.
const TracesDir = "traces"

// runTracing is a run's tracer provider; nil when the run does not trace.
type runTracing struct {
	p     *tracing.Provider
	dir   string
	files bool // spans go to files in dir
}

// startTracing starts the controller's tracing when opts ask for it.
// Under a deterministic backend spans are written as they end, with no
// goroutine of the SDK's own (sync).
func startTracing(ctx context.Context, opts Options, runDir string, sync bool) (*runTracing, error) {
	if !opts.Trace && opts.OTLPEndpoint == "" {
		return nil, nil
	}
	dir := filepath.Join(runDir, TracesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	o := tracing.Options{Endpoint: opts.OTLPEndpoint, Service: "torture", Sync: sync}
	if opts.Trace {
		o.File = filepath.Join(dir, "controller.json")
	}
	p, err := tracing.New(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return &runTracing{p: p, dir: dir, files: opts.Trace}, nil
}

// tracer is nil for a run without tracing.
func (t *runTracing) tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.p.Tracer()
}

// fileDir is where other processes of the run write their spans ("" when
// spans go to no file).
func (t *runTracing) fileDir() string {
	if t == nil || !t.files {
		return ""
	}
	return t.dir
}

// finish flushes the spans and writes where the time goes into
// traces/summary.txt, with one line per operation kind on out.
func (t *runTracing) finish(ctx context.Context, out io.Writer, log *slog.Logger) {
	if t == nil {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := t.p.Shutdown(sctx); err != nil {
		log.Warn("tracing: flush", "err", err)
	}
	files, _ := filepath.Glob(filepath.Join(t.dir, "*.json"))
	if len(files) == 0 {
		return
	}
	spans, err := tracing.ReadFiles(files...)
	if err != nil {
		log.Warn("tracing: read spans back", "err", err)
		return
	}
	if len(spans) == 0 {
		return // nothing traced (a run too short for any span)
	}
	sum := tracing.Summarize(spans)
	var b strings.Builder
	fmt.Fprintf(&b, "Where the time goes (%d spans of %d files)\n\n", len(spans), len(files))
	for _, o := range sum {
		fmt.Fprintf(&b, "%s: %d operations, median %v, p99 %v\n", o.Op, o.Count, us(o.Median), us(o.P99))
		for _, ph := range o.Phases {
			fmt.Fprintf(&b, "  %-14s %6d ops  median %-10v p99 %v\n", ph.Phase, ph.Ops, us(ph.Median), us(ph.P99))
		}
		fmt.Fprintf(&b, "\nslowest %s:\n%s\n", o.Op, o.Slowest)
		line := fmt.Sprintf("time: %s median %v p99 %v", o.Op, us(o.Median), us(o.P99))
		for i, ph := range o.Phases {
			if i == 3 {
				break
			}
			line += fmt.Sprintf("; %s %v", ph.Phase, us(ph.Median))
		}
		fmt.Fprintln(out, line)
	}
	if err := os.WriteFile(filepath.Join(t.dir, "summary.txt"), []byte(b.String()), 0o644); err != nil {
		log.Warn("tracing: summary", "err", err)
	}
}

func us(d time.Duration) time.Duration { return d.Round(time.Microsecond) }

package docker

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/harness"
	"github.com/ares-torture/torture/tracing"
)

// TestClusterTraces: with a trace directory the servers and agents write
// their spans, a server stopped or killed and restarted appends to its
// file, and Stop copies every file out, linked up (handler spans are the
// children of the agents' calls).
func TestClusterTraces(t *testing.T) {
	requireDocker(t)
	server, agentBin := testBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	traceDir := t.TempDir()
	run := "test-traces-" + fmt.Sprint(time.Now().UnixNano()%1e6)
	c, err := New(Options{RunID: run, Servers: 3, ServerBin: server, AgentBin: agentBin,
		Logger: testLogger(t), TraceDir: traceDir})
	if err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	stopped := false
	defer func() {
		if !stopped {
			_ = c.Stop(context.Background(), logDir)
		}
	}()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	a, err := c.NewClient(ctx, "c0", harness.ClientSpec{Initial: &ares.Config{Servers: c.Pool(), DAP: ares.ABD}})
	if err != nil {
		t.Fatal(err)
	}
	ops := func(v string) {
		t.Helper()
		for i := 0; i < 5; i++ {
			octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := a.Write(octx, "k", []byte(v))
			if err == nil {
				_, _, err = a.Read(octx, "k")
			}
			ocancel()
			if err != nil {
				t.Fatalf("operation: %v", err)
			}
		}
	}
	ops("first")
	// A clean stop flushes s1's spans; the restarted s1 appends to them.
	s1, err := c.server("s1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cli.ContainerStop(ctx, s1.container, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	firstLife := time.Now()
	if err := c.Restart(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	ops("second")
	// A SIGKILL loses what s1 had not written yet, but what it wrote
	// before stays readable, and so does what it writes after.
	if err := c.Kill(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	lastLife := time.Now()
	ops("third")

	stopped = true
	t0 := time.Now()
	if err := c.Stop(ctx, logDir); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped in %v", time.Since(t0).Round(time.Millisecond))
	assertNoLeftovers(t, run)

	var all []*tracing.Span
	files := map[string][]*tracing.Span{}
	for _, n := range []string{"s1", "s2", "s3", "c0"} {
		spans, err := tracing.ReadFiles(filepath.Join(traceDir, n+".json"))
		if err != nil {
			t.Fatalf("spans of %s: %v", n, err)
		}
		if len(spans) == 0 {
			t.Errorf("no spans in %s.json", n)
		}
		files[n] = spans
		all = append(all, spans...)
	}
	var before, after int
	for _, s := range files["s1"] {
		switch {
		case s.Start.Before(firstLife):
			before++
		case s.Start.After(lastLife):
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("s1.json: %d spans of its first life, %d of its last (want both)", before, after)
	}
	calls := map[string]bool{}
	for _, s := range files["c0"] {
		if s.Name == "call" {
			calls[s.ID] = true
		}
	}
	linked := 0
	for _, s := range files["s2"] {
		if calls[s.Parent] {
			linked++
		}
	}
	if linked == 0 {
		t.Error("no handler span of s2 is the child of a call of c0")
	}
	got := map[string]int{}
	for _, o := range tracing.Summarize(all) {
		got[o.Op] = o.Count
	}
	if got["read"] == 0 || got["write"] == 0 || len(got) != 2 {
		t.Errorf("operations summarized: %v, want reads and writes only", got)
	}
}

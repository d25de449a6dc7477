package tracing

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ares-torture/torture/ares"
)

type direct map[string]*ares.Server

func (d direct) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	return d[to.ID].Handle(ctx, req)
}

// TestFileRoundTrip: an ARES client's and its servers' spans go to an OTLP
// JSON file and come back as where the time goes per operation and phase,
// with the slowest operation's span tree.
func TestFileRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "controller.json")
	p, err := New(ctx, Options{File: path, Service: "test"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ares.Config{DAP: ares.ABD}
	servers := direct{}
	for i := range 3 {
		id := fmt.Sprintf("s%d", i)
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: id, Tracer: p.Tracer()})
		if err != nil {
			t.Fatal(err)
		}
		servers[id] = s
		cfg.Servers = append(cfg.Servers, ares.Node{ID: id, Addr: id})
	}
	c, err := ares.NewClient(ares.ClientOptions{ID: "c0", Initial: cfg, Transport: servers, Tracer: p.Tracer()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := c.Write(ctx, "k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans, err := ReadFiles(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(spans)
	ops := map[string]OpTimes{}
	for _, o := range sum {
		ops[o.Op] = o
	}
	// A read writes back (put-data) only when its quorum disagreed, which
	// here depends on which two servers answered first; ares TestSpans
	// makes one that does.
	for op, phases := range map[string][]string{"write": {"get-tag", "put-data", "read-config"}, "read": {"get-data", "read-config"}} {
		o, ok := ops[op]
		if !ok || o.Count != 10 {
			t.Fatalf("%s: %d operations summarized, want 10 (%v)", op, o.Count, sum)
		}
		var names []string
		for _, ph := range o.Phases {
			names = append(names, ph.Phase)
			if ph.Median <= 0 || ph.P99 < ph.Median {
				t.Errorf("%s %s: median %v p99 %v", op, ph.Phase, ph.Median, ph.P99)
			}
		}
		for _, want := range phases {
			if !strings.Contains(strings.Join(names, " "), want) {
				t.Errorf("%s: phases %v lack %s", op, names, want)
			}
		}
		if !strings.HasPrefix(o.Slowest, op+" +0s") || !strings.Contains(o.Slowest, "\n      handle ") || !strings.Contains(o.Slowest, "key=k") {
			t.Errorf("%s: slowest operation's tree:\n%s", op, o.Slowest)
		}
	}
}

// TestReadFilesSkipsTornLastLine: a process killed while exporting leaves
// a last line without its newline; the spans before it are read, and a bad
// line in the middle is still an error.
func TestReadFilesSkipsTornLastLine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s1.json")
	p, err := New(ctx, Options{File: path, Service: "test"})
	if err != nil {
		t.Fatal(err)
	}
	_, sp := p.Tracer().Start(ctx, "write")
	sp.End()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	torn := append(append([]byte{}, whole...), whole[:len(whole)/2]...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	spans, err := ReadFiles(path)
	if err != nil || len(spans) != 1 {
		t.Fatalf("torn last line: %d spans, err %v; want 1 span", len(spans), err)
	}
	bad := append(append(append([]byte{}, whole[:len(whole)/2]...), '\n'), whole...)
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFiles(path); err == nil || !strings.Contains(err.Error(), "s1.json:1") {
		t.Fatalf("a bad complete line: err %v", err)
	}
}

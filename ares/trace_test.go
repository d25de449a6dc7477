package ares_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ares-torture/torture/ares"
)

// direct calls servers in process, handing them the caller's context, as
// a transport that carries the span context does.
type direct map[string]*ares.Server

func (d direct) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	return d[to.ID].Handle(ctx, req)
}

// partial is direct with some servers down (their calls fail at once).
type partial struct {
	direct
	mu   sync.Mutex
	down map[string]bool
}

func (p *partial) set(down ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.down)
	for _, id := range down {
		p.down[id] = true
	}
}

func (p *partial) Call(ctx context.Context, to ares.Node, req *ares.Request) (*ares.Response, error) {
	p.mu.Lock()
	down := p.down[to.ID]
	p.mu.Unlock()
	if down {
		return nil, errors.New("down")
	}
	return p.direct.Call(ctx, to, req)
}

// TestSpans: an operation's span has its phases under it, each phase its
// calls to servers, and each call the server's handling.
func TestSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tracer := tp.Tracer("test")
	cfg := &ares.Config{DAP: ares.ABD}
	servers := direct{}
	for i := range 3 {
		id := fmt.Sprintf("s%d", i)
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: id, Tracer: tracer})
		if err != nil {
			t.Fatal(err)
		}
		servers[id] = s
		cfg.Servers = append(cfg.Servers, ares.Node{ID: id, Addr: id})
	}
	net := &partial{direct: servers, down: map[string]bool{}}
	c, err := ares.NewClient(ares.ClientOptions{ID: "c0", Initial: cfg, Transport: net, Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Write(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	// A second write that misses s2, then a read that cannot reach s1:
	// its quorum (s0, s2) disagrees, so it writes back (a read whose
	// quorum agrees has nothing to write back).
	net.set("s2")
	if err := c.Write(ctx, "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	net.set("s1")
	if _, err := c.Read(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID().String()] = s
	}
	parent := func(s sdktrace.ReadOnlySpan) string {
		if p, ok := byID[s.Parent().SpanID().String()]; ok {
			return p.Name()
		}
		return ""
	}
	// What each kind of span hangs under.
	under := map[string][]string{}
	for _, s := range spans {
		p := parent(s)
		if !slices.Contains(under[s.Name()], p) {
			under[s.Name()] = append(under[s.Name()], p)
		}
	}
	want := map[string][]string{
		"write":           {""},
		"read":            {""},
		"get-tag":         {"write"},
		"get-data":        {"read"},
		"put-data":        {"write", "read"},
		"call":            {"get-tag", "get-data", "put-data", "read-config"},
		"handle put-data": {"call"},
		"handle get-tag":  {"call"},
	}
	for name, parents := range want {
		for _, p := range parents {
			if !slices.Contains(under[name], p) {
				t.Errorf("no %q span under %q; %q spans hang under %v", name, p, name, under[name])
			}
		}
	}
	for _, s := range spans {
		if s.Name() == "write" || s.Name() == "read" {
			if len(s.Attributes()) < 2 {
				t.Errorf("%s span without its key and tag: %v", s.Name(), s.Attributes())
			}
		}
	}
}

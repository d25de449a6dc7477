package aresrpc

import (
	"context"
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ares-torture/torture/ares"
)

// TestSpanCrossesGRPC: a server's span for a request is a child of the
// client's call span, in the same trace, across a real gRPC connection.
func TestSpanCrossesGRPC(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")
	cfg := &ares.Config{DAP: ares.ABD}
	for i := range 3 {
		id := fmt.Sprintf("s%d", i)
		s, err := ares.NewServer(ares.NewMemStorage(), ares.ServerOptions{ID: id, Tracer: tracer})
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := serve(t, "127.0.0.1:0", s)
		cfg.Servers = append(cfg.Servers, ares.Node{ID: id, Addr: addr})
	}
	c, err := ares.NewClient(ares.ClientOptions{ID: "c0", Initial: cfg, Transport: newTransport(t), Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	calls := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.Name() == "call" {
			calls[s.SpanContext().SpanID().String()] = s
		}
	}
	handled := 0
	for _, s := range rec.Ended() {
		if s.Name() != "handle put-data" {
			continue
		}
		handled++
		call, ok := calls[s.Parent().SpanID().String()]
		if !ok || call.SpanContext().TraceID() != s.SpanContext().TraceID() {
			t.Errorf("server span %s is not under a client call (parent %s)", s.Name(), s.Parent().SpanID())
		}
	}
	if handled == 0 {
		t.Fatal("no server span for put-data")
	}
}

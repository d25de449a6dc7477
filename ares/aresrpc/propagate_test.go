package aresrpc

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ares-torture/torture/ares"
)

// TestSpanCrossesGRPC: a server's span for a request is a child of the
// client's call span, in the same trace, across a real gRPC connection,
// whether the request goes through Call or (a large value) Stream.
func TestSpanCrossesGRPC(t *testing.T) {
	for _, size := range []int{1, StreamMin} {
		t.Run(fmt.Sprintf("%dB", size), func(t *testing.T) { spanCrossesGRPC(t, size) })
	}
}

func spanCrossesGRPC(t *testing.T, size int) {
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
	if err := c.Write(context.Background(), "k", make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	// Write returns at a quorum: the straggler's call span may end after
	// its server's handler span, so wait until every handler's parent has
	// ended (or a generous deadline) before judging.
	var orphans []string
	handled := 0
	for deadline := time.Now().Add(10 * time.Second); ; {
		orphans, handled = orphanHandlers(rec.Ended())
		if len(orphans) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, o := range orphans {
		t.Error(o)
	}
	if handled == 0 {
		t.Fatal("no server span for put-data")
	}
}

// orphanHandlers lists the put-data handler spans that are not children of
// an ended client call span in the same trace, and counts the handlers.
func orphanHandlers(ended []sdktrace.ReadOnlySpan) (orphans []string, handled int) {
	calls := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range ended {
		if s.Name() == "call" {
			calls[s.SpanContext().SpanID().String()] = s
		}
	}
	for _, s := range ended {
		if s.Name() != "handle put-data" {
			continue
		}
		handled++
		call, ok := calls[s.Parent().SpanID().String()]
		if !ok || call.SpanContext().TraceID() != s.SpanContext().TraceID() {
			orphans = append(orphans, fmt.Sprintf("server span %s is not under a client call (parent %s)", s.Name(), s.Parent().SpanID()))
		}
	}
	return orphans, handled
}

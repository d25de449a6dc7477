package aresrpc

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// The span context of a call travels in W3C traceparent metadata, so a
// server's spans hang under the client's call (ares/trace.go). Only the
// propagation: which spans exist is the tracer's business on each side.

var traceContext = propagation.TraceContext{}

// mdCarrier adapts gRPC metadata to a propagation.TextMapCarrier.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c mdCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// withSpan returns ctx with its span context in the outgoing metadata.
func withSpan(ctx context.Context) context.Context {
	md, ok := metadata.FromOutgoingContext(ctx)
	if ok {
		md = md.Copy()
	} else {
		md = metadata.MD{}
	}
	traceContext.Inject(ctx, mdCarrier(md))
	if len(md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	return ctx
}

// injectSpan puts ctx's span context into the outgoing metadata.
func injectSpan(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(withSpan(ctx), method, req, reply, cc, opts...)
}

// injectSpanStream is injectSpan for streams.
func injectSpanStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(withSpan(ctx), desc, cc, method, opts...)
}

// spanOf returns ctx under the caller's span context.
func spanOf(ctx context.Context) context.Context {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ctx = traceContext.Extract(ctx, mdCarrier(md))
	}
	return ctx
}

// extractSpan makes the caller's span context the parent of the handler's.
func extractSpan(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return handler(spanOf(ctx), req)
}

// extractSpanStream is extractSpan for streams.
func extractSpanStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	return handler(srv, spanStream{ss, spanOf(ss.Context())})
}

// spanStream is a server stream whose context has the caller's span.
type spanStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s spanStream) Context() context.Context { return s.ctx }

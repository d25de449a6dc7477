package ares

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Tracing. ARES II's slides found where time goes by tracing every phase
// with OpenTelemetry; so does this package, through the trace API only: a
// Tracer in ClientOptions or ServerOptions (nil: no spans) decides where
// spans go, so the protocol does no I/O of its own. Spans:
//   - client: one per operation ("read", "write", "reconfig"), one per
//     phase under it (the phase's name: "read-config", "get-tag",
//     "get-data", "put-data", "write-config", "prepare", "accept",
//     "gc-config"; "consensus", "update-config", "finalize" group a
//     reconfiguration's), and one per request to a server ("call");
//   - server: one per request handled ("handle <op>"), a child of the
//     client's call wherever the transport carries the span context.

// Span attribute keys.
const (
	AttrKey     = attribute.Key("ares.key")
	AttrConfig  = attribute.Key("ares.config")
	AttrServer  = attribute.Key("ares.server")
	AttrAttempt = attribute.Key("ares.attempt")
	AttrNeed    = attribute.Key("ares.quorum.need")
	AttrGot     = attribute.Key("ares.quorum.got")
	AttrTag     = attribute.Key("ares.tag")
	AttrConfigs = attribute.Key("ares.configs")
	// AttrBase and AttrCovered are a coverable write's base version and
	// whether it was covered.
	AttrBase    = attribute.Key("ares.base")
	AttrCovered = attribute.Key("ares.covered")
	// AttrAbandoned marks a call still open when its phase ended.
	AttrAbandoned = attribute.Key("ares.abandoned")
)

func tracerOr(t trace.Tracer) trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer("ares")
	}
	return t
}

// phaseName is the name of a phase's span: the spec's names.
func phaseName(op Op) string {
	switch op {
	case OpQueryTag:
		return "get-tag"
	case OpQueryData:
		return "get-data"
	}
	return op.String()
}

// endSpan ends span with err's status.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// opSpan starts an operation's span.
func (c *Client) opSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

// endOp ends an operation's span with what the operation learned.
func endOp(span trace.Span, info OpInfo, err error) {
	if err == nil && info.Configs > 0 {
		span.SetAttributes(AttrTag.String(info.Tag.String()), AttrConfig.Int64(int64(info.Config)), AttrConfigs.Int(info.Configs))
	}
	endSpan(span, err)
}

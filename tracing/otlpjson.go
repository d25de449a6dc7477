package tracing

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// FileExporter writes spans as OTLP JSON: one ExportTraceServiceRequest a
// line, the format of the OpenTelemetry Collector's file exporter, so a
// collector (or any OTLP tool) can read the files back.
type FileExporter struct {
	mu sync.Mutex
	f  *os.File
	w  *bufio.Writer
}

// NewFileExporter appends to path, created if missing (its directory must
// exist): a restarted process adds to its earlier spans.
func NewFileExporter(path string) (*FileExporter, error) {
	// A process SIGKILLed while exporting (a server killed by a fault) may
	// have left half a line; this process's spans go after the earlier
	// ones' complete lines.
	if err := PrepareFile(path); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return &FileExporter{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *FileExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	b, err := protojson.Marshal(Request(spans))
	if err != nil {
		return fmt.Errorf("encode spans: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil
	}
	e.w.Write(b)
	return e.w.WriteByte('\n')
}

// Shutdown implements sdktrace.SpanExporter: flush and close.
func (e *FileExporter) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil
	}
	err := e.w.Flush()
	if cerr := e.f.Close(); err == nil {
		err = cerr
	}
	e.f = nil
	return err
}

// Request is spans as one OTLP export request, grouped by resource and
// instrumentation scope.
func Request(spans []sdktrace.ReadOnlySpan) *collpb.ExportTraceServiceRequest {
	type scopeKey struct{ res, scope string }
	var order []scopeKey
	groups := map[scopeKey][]*tracepb.Span{}
	heads := map[scopeKey]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		k := scopeKey{s.Resource().Encoded(attribute.DefaultEncoder()), s.InstrumentationScope().Name}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
			heads[k] = s
		}
		groups[k] = append(groups[k], span(s))
	}
	req := &collpb.ExportTraceServiceRequest{}
	for _, k := range order {
		h := heads[k]
		req.ResourceSpans = append(req.ResourceSpans, &tracepb.ResourceSpans{
			Resource: &resourcepb.Resource{Attributes: keyValues(h.Resource().Attributes())},
			ScopeSpans: []*tracepb.ScopeSpans{{
				Scope: &commonpb.InstrumentationScope{Name: h.InstrumentationScope().Name, Version: h.InstrumentationScope().Version},
				Spans: groups[k],
			}},
		})
	}
	return req
}

func span(s sdktrace.ReadOnlySpan) *tracepb.Span {
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	out := &tracepb.Span{
		TraceId:           tid[:],
		SpanId:            sid[:],
		Name:              s.Name(),
		Kind:              kind(s.SpanKind()),
		StartTimeUnixNano: uint64(s.StartTime().UnixNano()),
		EndTimeUnixNano:   uint64(s.EndTime().UnixNano()),
		Attributes:        keyValues(s.Attributes()),
		Status:            &tracepb.Status{Code: statusCode(s.Status().Code), Message: s.Status().Description},
	}
	if parent.IsValid() {
		pid := parent.SpanID()
		out.ParentSpanId = pid[:]
	}
	for _, ev := range s.Events() {
		out.Events = append(out.Events, &tracepb.Span_Event{Name: ev.Name, TimeUnixNano: uint64(ev.Time.UnixNano()),
			Attributes: keyValues(ev.Attributes)})
	}
	return out
}

func kind(k trace.SpanKind) tracepb.Span_SpanKind {
	switch k {
	case trace.SpanKindInternal:
		return tracepb.Span_SPAN_KIND_INTERNAL
	case trace.SpanKindServer:
		return tracepb.Span_SPAN_KIND_SERVER
	case trace.SpanKindClient:
		return tracepb.Span_SPAN_KIND_CLIENT
	case trace.SpanKindProducer:
		return tracepb.Span_SPAN_KIND_PRODUCER
	case trace.SpanKindConsumer:
		return tracepb.Span_SPAN_KIND_CONSUMER
	}
	return tracepb.Span_SPAN_KIND_UNSPECIFIED
}

func statusCode(c codes.Code) tracepb.Status_StatusCode {
	switch c {
	case codes.Ok:
		return tracepb.Status_STATUS_CODE_OK
	case codes.Error:
		return tracepb.Status_STATUS_CODE_ERROR
	}
	return tracepb.Status_STATUS_CODE_UNSET
}

func keyValues(attrs []attribute.KeyValue) []*commonpb.KeyValue {
	out := make([]*commonpb.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, &commonpb.KeyValue{Key: string(a.Key), Value: anyValue(a.Value)})
	}
	return out
}

func anyValue(v attribute.Value) *commonpb.AnyValue {
	switch v.Type() {
	case attribute.BOOL:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}}
	case attribute.INT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}}
	case attribute.FLOAT64:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}}
	case attribute.STRING:
		return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v.AsString()}}
	}
	// Slices and anything newer: their string form.
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v.String()}}
}

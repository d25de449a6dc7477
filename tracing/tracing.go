// Package tracing sets up OpenTelemetry tracing for a torture process:
// spans go to an OTLP JSON file (the run directory's traces/) and, when
// asked, to an OTLP/HTTP collector; Summarize reads such files back into
// "where the time goes" per operation and phase.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Options say where a process's spans go.
type Options struct {
	// File is an OTLP JSON file to write ("" none).
	File string
	// Endpoint is an OTLP/HTTP collector, host:port or http(s) URL ("" none).
	Endpoint string
	// Service is the service.name of the process's spans.
	Service string
	// Sync exports each span as it ends, from the goroutine that ends it,
	// with no goroutine or timer of the SDK's own: what a synctest bubble
	// needs. Otherwise spans are batched.
	Sync bool
}

// Provider is a process's tracer provider.
type Provider struct {
	tp *sdktrace.TracerProvider
}

// New starts tracing as opts say.
func New(ctx context.Context, opts Options) (*Provider, error) {
	var exps []sdktrace.SpanExporter
	if opts.File != "" {
		e, err := NewFileExporter(opts.File)
		if err != nil {
			return nil, fmt.Errorf("trace file: %w", err)
		}
		exps = append(exps, e)
	}
	if opts.Endpoint != "" {
		var o []otlptracehttp.Option
		if strings.Contains(opts.Endpoint, "://") {
			o = append(o, otlptracehttp.WithEndpointURL(opts.Endpoint))
		} else {
			o = append(o, otlptracehttp.WithEndpoint(opts.Endpoint), otlptracehttp.WithInsecure())
		}
		e, err := otlptracehttp.New(ctx, o...)
		if err != nil {
			return nil, fmt.Errorf("otlp endpoint %s: %w", opts.Endpoint, err)
		}
		exps = append(exps, e)
	}
	res := resource.NewSchemaless(attribute.String("service.name", opts.Service))
	po := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.AlwaysSample())}
	for _, e := range exps {
		if opts.Sync {
			po = append(po, sdktrace.WithSyncer(e))
		} else {
			po = append(po, sdktrace.WithBatcher(e))
		}
	}
	return &Provider{tp: sdktrace.NewTracerProvider(po...)}, nil
}

// Tracer returns the provider's tracer for the ARES code.
func (p *Provider) Tracer() trace.Tracer { return p.tp.Tracer("github.com/ares-torture/torture/ares") }

// Shutdown flushes every span and closes the exporters.
func (p *Provider) Shutdown(ctx context.Context) error {
	err := p.tp.ForceFlush(ctx)
	return errors.Join(err, p.tp.Shutdown(ctx))
}

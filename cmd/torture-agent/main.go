// Command torture-agent is the client agent of the docker backend. It runs
// in its own container FROM scratch, holds ARES clients that reach the
// servers over the ARES network through gRPC, and executes the controller's
// Read, Write and Reconfig requests, which arrive as JSON over HTTP on the
// control network (see package harness/docker/agent).
//
// With --tls-cert, --tls-key and --tls-ca (package pki) the control
// listener serves mutual TLS and the ARES clients dial the servers with it;
// --listen-subnet binds the control network only.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/harness/docker/agent"
	"github.com/ares-torture/torture/pki"
	"github.com/ares-torture/torture/tracing"
	"go.opentelemetry.io/otel/trace"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "torture-agent:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2) // as flag's own errors
		}
		os.Exit(1)
	}
}

// usageError is a bad command line (exit 2).
type usageError struct{ error }

func run() error {
	listen := flag.String("listen", ":"+agent.DefaultPort, "address for the controller's requests (only :PORT with --listen-subnet)")
	subnet := flag.String("listen-subnet", "", "listen only on this agent's own address inside this CIDR (the control network), at --listen's port")
	var files pki.Files
	files.AddFlags(flag.CommandLine)
	name := flag.String("name", "", "the client's name, for the log")
	debug := flag.Bool("debug", false, "log every failed operation")
	traceFile := flag.String("trace-file", "", "append OpenTelemetry spans of the clients' operations to this OTLP JSON file")
	otlpEndpoint := flag.String("otlp-endpoint", "", "send the spans to this OTLP/HTTP collector (host:port or URL)")
	flag.Parse()
	if flag.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", flag.Arg(0))}
	}
	if err := files.Validate(); err != nil {
		return usageError{err}
	}
	addr, err := agent.ListenAddr(*listen, *subnet)
	if err != nil {
		return usageError{err}
	}
	// Both configurations before anything starts: a missing or bad file
	// fails here, not at the first request.
	var serverTLS *tls.Config
	var ropts []aresrpc.Option
	if files.Enabled() {
		if serverTLS, err = pki.ServerConfig(files); err != nil {
			return fmt.Errorf("control listener: %w", err)
		}
		clientTLS, err := pki.ClientConfig(files, "")
		if err != nil {
			return fmt.Errorf("ARES clients: %w", err)
		}
		ropts = append(ropts, aresrpc.WithTLS(clientTLS))
	}

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("agent", *name)

	var tracer trace.Tracer
	if *traceFile != "" || *otlpEndpoint != "" {
		tp, err := tracing.New(context.Background(), tracing.Options{File: *traceFile, Endpoint: *otlpEndpoint, Service: "torture-agent " + *name})
		if err != nil {
			return err
		}
		// Deferred first, so it runs last: after the HTTP server has
		// shut down, no operation is left to end a span.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				log.Error("flush spans", "err", err)
			}
		}()
		tracer = tp.Tracer()
	}

	tr := aresrpc.NewTransport(append(ropts, aresrpc.WithLogger(log))...)
	defer tr.Close()
	h, err := agent.NewServer(agent.Options{Transport: tr, Logger: log, Tracer: tracer})
	if err != nil {
		return err
	}
	lis, err := agent.Listen(addr, serverTLS)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}

	// As PID 1 of its container the agent gets no default signal
	// handling: SIGTERM must be caught explicitly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	log.Info("agent listening", "addr", lis.Addr().String(), "tls", serverTLS != nil)
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

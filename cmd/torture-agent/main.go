// Command torture-agent is the client agent of the docker backend. It runs
// in its own container FROM scratch, holds ARES clients that reach the
// servers over the ARES network through gRPC, and executes the controller's
// Read, Write and Reconfig requests, which arrive as JSON over HTTP on the
// control network (see package harness/docker/agent).
package main

import (
	"context"
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
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "torture-agent:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", ":8080", "address for the controller's requests")
	name := flag.String("name", "", "the client's name, for the log")
	debug := flag.Bool("debug", false, "log every failed operation")
	flag.Parse()

	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("agent", *name)

	tr := aresrpc.NewTransport(aresrpc.WithLogger(log))
	defer tr.Close()
	h, err := agent.NewServer(agent.Options{Transport: tr, Logger: log})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: h, ReadHeaderTimeout: 10 * time.Second}

	// As PID 1 of its container the agent gets no default signal
	// handling: SIGTERM must be caught explicitly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("agent listening", "addr", *listen)
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

// Command ares-server is one ARES II storage server: it keeps its state in a
// bbolt file under --data, acknowledges only what is on disk, and serves
// the ares.v1 gRPC service and the standard gRPC health service.
//
//	ares-server --id s1 --listen 127.0.0.1:7001 --data DIR [--delta 5] [--max-reply-bytes N] [--bug NAME]
//	            [--tls-cert F --tls-key F --tls-ca F]
//
// With --tls-cert, --tls-key and --tls-ca (package pki) it serves mutual
// TLS only: a client without a certificate signed by --tls-ca is refused at
// the handshake.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
	"github.com/ares-torture/torture/ares/store"
	"github.com/ares-torture/torture/pki"
	"github.com/ares-torture/torture/tracing"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// stopGrace bounds how long in-flight requests may run after SIGTERM.
const stopGrace = 5 * time.Second

// lockTimeout bounds the wait for the data directory's file lock. A server
// killed by a fault releases it as it dies, so a longer wait only delays
// the error of a second server started on a directory in use.
const lockTimeout = time.Second

type config struct {
	id, listen, data string
	// listenUnix is a second address, a Unix socket (@NAME: Linux's
	// abstract namespace); "": none.
	listenUnix   string
	delta        int
	maxReply     int64
	bug          ares.Bug
	logLevel     slog.Level
	traceFile    string
	otlpEndpoint string
	// initial is configuration 0 as --servers, --dap and --ec-k give it;
	// nil without --servers.
	initial *ares.Config
	// tls names the mutual-TLS files; zero: plaintext.
	tls pki.Files
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// maxUnixAddr is the longest Unix socket path Linux takes (sun_path less
// its terminating zero); an abstract name (@NAME) may take one byte more.
const maxUnixAddr = 107

// errUsage marks errors in the command line (exit 2).
var errUsage = errors.New("usage")

func parseFlags(args []string, stdout io.Writer) (*config, bool, error) {
	fs := flag.NewFlagSet("ares-server", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	var c config
	var bug, level string
	var showVersion bool
	fs.StringVar(&c.id, "id", "", "server id, as in the clients' configurations (required)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:7001", "address to serve gRPC on, HOST:PORT with PORT 0 to 65535 (0: any free port)")
	fs.StringVar(&c.listenUnix, "listen-unix", "", "also serve on this Unix socket: a path, or @NAME in Linux's abstract namespace (the local backend's clients connect there: cheaper than TCP on loopback)")
	fs.StringVar(&c.data, "data", "", "data directory, created if missing (required); one server per directory: a second fails after 1s")
	fs.IntVar(&c.delta, "delta", 5, "EC: bound on writes concurrent with a read (δ); δ+1 elements are kept per object")
	fs.Int64Var(&c.maxReply, "max-reply-bytes", ares.DefaultMaxReplyBytes,
		"values one reply carries at most (the newest value of an object always goes); a state transfer pages at it. Must be below the 256 MiB gRPC message limit")
	fs.StringVar(&bug, "bug", "", "switch on a named protocol bug (for checker demos): "+bugNames())
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.traceFile, "trace-file", "", "append OpenTelemetry spans of every request handled to this OTLP JSON file")
	fs.StringVar(&c.otlpEndpoint, "otlp-endpoint", "", "send the spans to this OTLP/HTTP collector (host:port or URL)")
	var servers, dap string
	var k int
	fs.StringVar(&servers, "servers", "", "configuration 0, ID=HOST:PORT,... (with --dap, --ec-k): the server records it at start and refuses requests that describe another configuration 0 (default: the first request that names configuration 0 fixes it)")
	fs.StringVar(&dap, "dap", "abd", "DAP of configuration 0 (with --servers): abd or ec")
	fs.IntVar(&k, "ec-k", 3, "EC data shards k of configuration 0 (with --servers and --dap ec)")
	c.tls.AddFlags(fs)
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	// flag would print the whole usage on every error; errors get one
	// line instead, and the usage only on --help.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "usage: ares-server --id ID --data DIR [--listen HOST:PORT] [--delta N] [--max-reply-bytes N] [--bug NAME] [--tls-cert F --tls-key F --tls-ca F]")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("%w: %v", errUsage, err)
	}
	if showVersion {
		fmt.Fprintln(stdout, "ares-server", version)
		return nil, true, nil
	}
	if fs.NArg() > 0 {
		return nil, false, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if c.id == "" {
		return nil, false, fmt.Errorf("%w: --id is required", errUsage)
	}
	if c.data == "" {
		return nil, false, fmt.Errorf("%w: --data is required", errUsage)
	}
	if c.delta < 1 {
		return nil, false, fmt.Errorf("%w: --delta must be >= 1, got %d", errUsage, c.delta)
	}
	if c.maxReply < 1 {
		return nil, false, fmt.Errorf("%w: --max-reply-bytes must be >= 1, got %d", errUsage, c.maxReply)
	}
	if c.maxReply >= aresrpc.MaxMsgSize {
		return nil, false, fmt.Errorf("%w: --max-reply-bytes %d is not below the gRPC message limit of %d bytes (256 MiB): such a reply could not be sent",
			errUsage, c.maxReply, aresrpc.MaxMsgSize)
	}
	_, port, err := net.SplitHostPort(c.listen)
	if err != nil {
		return nil, false, fmt.Errorf("%w: --listen %q: want HOST:PORT", errUsage, c.listen)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return nil, false, fmt.Errorf("%w: --listen %q: port %q: want 0 to 65535 (0: any free port)", errUsage, c.listen, port)
	}
	if n := len(c.listenUnix); n > maxUnixAddr+1 || n == maxUnixAddr+1 && !strings.HasPrefix(c.listenUnix, "@") {
		return nil, false, fmt.Errorf("%w: --listen-unix %q: %d bytes, over the %d a Unix socket address holds", errUsage, c.listenUnix, len(c.listenUnix), maxUnixAddr)
	}
	b, err := ares.ParseBug(bug)
	if err != nil {
		return nil, false, fmt.Errorf("%w: --bug: %v", errUsage, err)
	}
	if b != "" && !isServerBug(b) {
		return nil, false, fmt.Errorf("%w: --bug %s is a client bug; servers take: %s", errUsage, b, bugNames())
	}
	c.bug = b
	if servers != "" {
		nodes, err := ares.ParseServers(servers)
		if err != nil {
			return nil, false, fmt.Errorf("%w: --servers: %v", errUsage, err)
		}
		cfg := &ares.Config{ID: 0, Servers: nodes, DAP: ares.DAP(dap)}
		if cfg.DAP == ares.EC {
			cfg.K = k // 0 for ABD, as clients build it, so the digests agree
		}
		if err := cfg.Validate(); err != nil {
			return nil, false, fmt.Errorf("%w: configuration 0: %v", errUsage, err)
		}
		if cfg.Index(c.id) < 0 {
			return nil, false, fmt.Errorf("%w: --servers does not list this server (--id %s)", errUsage, c.id)
		}
		c.initial = cfg
	}
	if err := c.tls.Validate(); err != nil {
		return nil, false, fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := c.logLevel.UnmarshalText([]byte(level)); err != nil {
		return nil, false, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	return &c, false, nil
}

func isServerBug(b ares.Bug) bool {
	for _, k := range ares.Bugs {
		if k.Name == b {
			return k.Server
		}
	}
	return false
}

func bugNames() string {
	var names []string
	for _, b := range ares.Bugs {
		if b.Server {
			names = append(names, string(b.Name))
		}
	}
	return strings.Join(names, ", ")
}

// run is main without os.Exit, so that deferred cleanups run.
func run(args []string, stdout, stderr io.Writer) int {
	c, done, err := parseFlags(args, stdout)
	if done {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ares-server: %s (see --help)\n", strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel})).With("server", c.id)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, c, log, stdout); err != nil {
		log.Error("exiting", "err", err)
		fmt.Fprintf(stderr, "ares-server: %v\n", err)
		return 1
	}
	return 0
}

// openStore opens the store in c.data, failing after lockTimeout when
// another process holds its lock, and returning at once when ctx ends
// (SIGTERM) while it waits.
func openStore(ctx context.Context, c *config, log *slog.Logger) (*store.Store, error) {
	type opened struct {
		st  *store.Store
		err error
	}
	done := make(chan opened, 1)
	go func() {
		st, err := store.OpenOptions(c.data, store.Options{LockTimeout: lockTimeout})
		done <- opened{st, err}
	}()
	select {
	case o := <-done:
		if isLockTimeout(o.err) {
			return nil, fmt.Errorf("data directory %s is in use: another process (a second ares-server?) holds the lock on %s (waited %v): %w",
				c.data, filepath.Join(c.data, store.FileName), lockTimeout, o.err)
		}
		return o.st, o.err
	case <-ctx.Done():
		go func() {
			if o := <-done; o.err == nil {
				if err := o.st.Close(); err != nil {
					log.Error("close store", "err", err)
				}
			}
		}()
		return nil, errStopped
	}
}

// isLockTimeout tells bbolt's lock timeout (errors.ErrTimeout of
// go.etcd.io/bbolt/errors, "timeout", wrapped by store) from other open
// errors without importing bbolt here.
func isLockTimeout(err error) bool {
	if err == nil {
		return false
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error() == "timeout"
		}
		err = next
	}
}

// errStopped: SIGTERM came while the store was opening.
var errStopped = errors.New("stopped while opening the store")

func serve(ctx context.Context, c *config, log *slog.Logger, stdout io.Writer) error {
	// TLS files first: a bad one fails before the store is touched.
	opts := aresrpc.ServerOptions()
	if c.tls.Enabled() {
		cfg, err := pki.ServerConfig(c.tls)
		if err != nil {
			return err
		}
		opts = append(opts, aresrpc.ServerTLS(cfg))
	}
	st, err := openStore(ctx, c, log)
	if errors.Is(err, errStopped) {
		log.Info("stopped before serving: the signal came while the store was opening", "data", c.data)
		return nil
	}
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()
	var tracer trace.Tracer
	if c.traceFile != "" || c.otlpEndpoint != "" {
		tp, err := tracing.New(ctx, tracing.Options{File: c.traceFile, Endpoint: c.otlpEndpoint, Service: "ares-server " + c.id})
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				log.Error("flush spans", "err", err)
			}
		}()
		tracer = tp.Tracer()
	}
	srv, err := ares.NewServer(st, ares.ServerOptions{ID: c.id, Initial: c.initial, Delta: c.delta, MaxReplyBytes: c.maxReply, Bug: c.bug, Logger: log, Tracer: tracer})
	if err != nil {
		return fmt.Errorf("load state from %s: %w", c.data, err)
	}
	lis, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var ulis net.Listener
	if c.listenUnix != "" {
		if !strings.HasPrefix(c.listenUnix, "@") {
			_ = os.Remove(c.listenUnix) // a socket file left by a killed predecessor
		}
		if ulis, err = net.Listen("unix", c.listenUnix); err != nil {
			lis.Close()
			return fmt.Errorf("listen: %w", err)
		}
	}
	gs := grpc.NewServer(opts...)
	health := aresrpc.Register(gs, srv)

	errc := make(chan error, 2)
	go func() { errc <- gs.Serve(lis) }()
	if ulis != nil {
		go func() { errc <- gs.Serve(ulis) }()
	}
	log.Info("serving", "addr", lis.Addr().String(), "unix", c.listenUnix, "data", c.data, "delta", c.delta, "bug", string(c.bug), "tls", c.tls.Enabled(), "version", version)
	// The harness waits for this line (it carries the real port when
	// --listen asked for port 0).
	fmt.Fprintf(stdout, "listening on %s\n", lis.Addr())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(stopGrace):
		log.Warn("requests still running after the grace period; closing them", "grace", stopGrace)
		gs.Stop()
		<-stopped
	}
	log.Info("stopped")
	return nil
}

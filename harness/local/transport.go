package local

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
)

// grpcTransport returns the default transport: gRPC, connecting to each
// server with dial (through the client's link) when it is set, over mutual
// TLS when cfg is set.
func grpcTransport(cfg *tls.Config) func(dial func(context.Context, string) (net.Conn, error)) (ares.Transport, io.Closer, error) {
	return func(dial func(context.Context, string) (net.Conn, error)) (ares.Transport, io.Closer, error) {
		var opts []aresrpc.Option
		if dial != nil {
			opts = append(opts, aresrpc.WithDialer(dial))
		}
		if cfg != nil {
			opts = append(opts, aresrpc.WithTLS(cfg))
		}
		t := aresrpc.NewTransport(opts...)
		return t, t, nil
	}
}

// serverArgs is the command line of one ares-server.
func serverArgs(s *server) []string {
	args := []string{"--id", s.id, "--listen", s.addr, "--data", s.dataDir()}
	if s.unix != "" {
		args = append(args, "--listen-unix", s.unix)
	}
	if s.bug != "" {
		args = append(args, "--bug", s.bug)
	}
	if s.trace != "" {
		args = append(args, "--trace-file", s.trace)
	}
	args = append(args, s.tls.Args()...)
	return append(args, s.config0...)
}

// traceFile is server id's span file in dir ("" when dir is).
func traceFile(dir, id string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, id+".json")
}

// unixName is the abstract Unix socket of server id in the run at runDir:
// the same across the server's restarts, another in every run. The
// cluster's clients connect there rather than to the server's TCP port:
// a message over loopback TCP cost both processes the TCP stack and the
// host's netfilter rules, about a third more CPU per request
// (BenchmarkSession against a Unix socket). The TCP port stays, the
// address of configurations and of the ares CLI.
func unixName(runDir, id string) string {
	abs, err := filepath.Abs(runDir)
	if err != nil {
		abs = runDir
	}
	h := sha256.Sum256([]byte(abs))
	return fmt.Sprintf("@ares-torture/%x/%s", h[:8], id)
}

// dialServer connects to a server of the cluster: its Unix socket when
// it has one, else its TCP address.
func dialServer(ctx context.Context, s *server) (net.Conn, error) {
	var d net.Dialer
	if s.unix != "" {
		return d.DialContext(ctx, "unix", s.unix)
	}
	return d.DialContext(ctx, "tcp", s.addr)
}

package local

import (
	"context"
	"crypto/tls"
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

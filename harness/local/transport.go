package local

import (
	"crypto/tls"
	"io"
	"path/filepath"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
)

// grpcTransport returns the default transport: gRPC, with each server's
// address routed (through the client's link proxy, or as it is), over
// mutual TLS when cfg is set. A link proxy listens on 127.0.0.1 too, so the
// server's certificate for 127.0.0.1 matches the address dialed.
func grpcTransport(cfg *tls.Config) func(route func(addr string) string) (ares.Transport, io.Closer, error) {
	return func(route func(addr string) string) (ares.Transport, io.Closer, error) {
		opts := []aresrpc.Option{aresrpc.WithAddrMap(func(n ares.Node) string { return route(n.Addr) })}
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

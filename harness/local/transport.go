package local

import (
	"io"
	"path/filepath"

	"github.com/ares-torture/torture/ares"
	"github.com/ares-torture/torture/ares/aresrpc"
)

// grpcTransport is the default transport: gRPC, with each server's address
// routed (through the client's link proxy, or as it is).
func grpcTransport(route func(addr string) string) (ares.Transport, io.Closer, error) {
	t := aresrpc.NewTransport(aresrpc.WithAddrMap(func(n ares.Node) string { return route(n.Addr) }))
	return t, t, nil
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
	return args
}

// traceFile is server id's span file in dir ("" when dir is).
func traceFile(dir, id string) string {
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, id+".json")
}

package harness

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/ares-torture/torture/ares"
)

// ClusterConfig is what a backend needs to build a cluster for a run.
type ClusterConfig struct {
	// RunDir is the run directory; server data and logs go under
	// RunDir/nodes/<id>/.
	RunDir string
	// Pool is how many servers to run.
	Pool int
	// ServerBin is the ares-server binary (local: run; docker: put into
	// the image).
	ServerBin string
	// Config0 is how configuration 0 is formed from the pool; backends
	// tell its servers at start (see Config0.ServerArgs).
	Config0 Config0
	// ServerBug is given to every server (a server bug, or "").
	ServerBug ares.Bug
	Seed      int64
	Logger    *slog.Logger
	// Tracer receives the spans of the clients (and servers) that run in
	// this process; nil: none.
	Tracer trace.Tracer
	// TraceDir, when set, is where processes of the backend's own (the
	// servers) write their spans, one OTLP JSON file each.
	TraceDir string
	// TLS, when set (--tls on), is the run's certificate authority: the
	// backend issues each server and agent a certificate from it, starts
	// them with --tls-cert, --tls-key and --tls-ca, and dials them with
	// the controller's certificate. Nil: plaintext.
	TLS *RunTLS
}

// Backend builds clusters of one kind and cleans up after earlier runs.
type Backend struct {
	// New builds a cluster; it starts nothing until Cluster.Start.
	New func(ctx context.Context, cfg ClusterConfig) (Cluster, error)
	// Clean removes what earlier runs of this backend left behind (may be
	// nil). It must not touch the resources of a run still going on.
	Clean func(ctx context.Context, log *slog.Logger) error
	// Bubble, when set, runs the part of a run that drives the cluster
	// (New to Stop, the history's lines with their times) inside what the
	// backend needs: the sim backend's synctest bubble with its simulated
	// clock. Such a backend is deterministic: the recorder writes lines of
	// one instant in a canonical order.
	Bubble func(f func())
}

var backends = struct {
	sync.Mutex
	m map[string]Backend
}{m: map[string]Backend{}}

// RegisterBackend makes a backend available to --backend name. Backend
// packages call it from init, so a command picks the backends it links.
func RegisterBackend(name string, b Backend) {
	backends.Lock()
	defer backends.Unlock()
	backends.m[name] = b
}

// LookupBackend returns the backend registered under name.
func LookupBackend(name string) (Backend, error) {
	backends.Lock()
	defer backends.Unlock()
	b, ok := backends.m[name]
	if !ok {
		var names []string
		for n := range backends.m {
			names = append(names, n)
		}
		sort.Strings(names)
		return Backend{}, fmt.Errorf("backend %q is not available in this build (available: %s)", name, strings.Join(names, ", "))
	}
	return b, nil
}

// Backends lists the registered backends by name.
func Backends() map[string]Backend {
	backends.Lock()
	defer backends.Unlock()
	out := make(map[string]Backend, len(backends.m))
	for k, v := range backends.m {
		out[k] = v
	}
	return out
}
